"""The booking-traffic simulator: contract conformance, world invariants, labels, determinism, and
every behaviour of the threat catalogue, each checked on the events of a small world where it occurs.

Worlds whose behaviour depends on per-operation draws are picked by looking at the drawn structure
*before* running them (building a world is cheap; running it is what costs), so the tests do not
hard-code seeds that happen to work.
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import msgspec
import pytest

from ingest.contract import decode, encode
from simulator import (
    LEGIT_ROLES,
    MECHANISMS,
    PRESETS,
    ROLES,
    SCALPER_ROLES,
    MixError,
    WorldParams,
    generate,
    parse_mix,
    simulate,
)
from simulator.operations import Operation
from simulator.run import WorldRun
from slotguard.commands import simulate as command
from slotguard.config import Settings

PARIS = ZoneInfo("Europe/Paris")


class World:
    """A generated world, decoded once for the assertions below."""

    def __init__(self, run: WorldRun) -> None:
        self.run = run
        self.lines = list(run.events)
        self.labels = run.labels()
        self.summary = run.summary()
        self.accounts = run.world.accounts
        self.operations = run.population.operations
        self.events = [decode(line) for line in self.lines]
        self.raw = [msgspec.json.decode(line) for line in self.lines]
        self.label = {label["account_id"]: label for label in self.labels}
        self.role = {label["account_id"]: label["role"] for label in self.labels}
        #: raw events with their instants as epoch ms (``at``, ``start_at``) for the world checks
        self.items: list[dict[str, Any]] = []
        for raw, event in zip(self.raw, self.events, strict=True):
            item = dict(raw, at=_ms(event.ts))
            start = getattr(event, "slot_start", None)
            if start is not None:
                item["start_at"] = _ms(start)
            self.items.append(item)

    def of(self, account: str, etype: str | None = None) -> list[dict[str, Any]]:
        """The events of one account (of one type), in order."""
        return [e for e in self.items if e.get("account_id") == account and (etype is None or e["type"] == etype)]


def _build(params: WorldParams) -> World:
    return World(generate(params))


def _world_where(
    mix: str, accounts: int, days: int, wanted: Callable[[WorldRun], bool], seeds: Iterable[int] = range(1, 80)
) -> World:
    """The first world (by seed) whose draws satisfy ``wanted`` (checked before running), run and decoded."""
    for seed in seeds:
        run = generate(WorldParams(seed=seed, accounts=accounts, days=days, mix=mix))
        if wanted(run):
            return World(run)
    raise AssertionError(f"no seed gives the wanted structure for mix {mix!r}")


def _ms(value: datetime) -> int:
    return round(value.timestamp() * 1000)


def _paris_hour(ms: int) -> float:
    moment = datetime.fromtimestamp(ms / 1000, PARIS)
    return moment.hour + moment.minute / 60


# ----------------------------------------------------------------------------- worlds
@pytest.fixture(scope="module")
def world() -> World:
    """A modest default-mix world, long enough for appointments inside the period."""
    return _build(WorldParams(seed=11, accounts=700, days=12))


@pytest.fixture(scope="module")
def split_world() -> World:
    """Bot operations: one splits watchers from bookers, one cancels almost all its unsold holds."""

    def wanted(run: WorldRun) -> bool:
        ops = run.population.operations
        return (
            run.world.draws.lead_days[1] <= 14  # appointments close enough for holds to come due
            and any(op.structure["search_roles"] == "split" and op.structure["bookers"] >= 3 for op in ops)
            and any(op.structure["hold_release"]["mode"] == "cancel" for op in ops)
        )

    return _world_where("ordinary=70,anxious_manual=5,bot_datacenter=10,bot_residential=10,buyer=5", 350, 8, wanted)


@pytest.fixture(scope="module")
def resale_world() -> World:
    """Human-paced operations selling to many buyers: every delivery mechanism and both scams."""

    def count(ops: list[Operation], section: str, key: str, least: float) -> int:
        return sum(1 for op in ops if op.size >= 8 and op.structure[section][key] >= least)

    def varied(run: WorldRun) -> bool:
        ops = run.population.operations
        return (
            count(ops, "handoff_mix", "handoff_seller_operated", 0.4) >= 2
            and count(ops, "handoff_mix", "handoff_buyer_device", 0.4) >= 2
            and count(ops, "handoff_mix", "applicant_change", 0.3) >= 2
            and count(ops, "scams", "double_sell_share", 0.2) >= 2
            and count(ops, "scams", "fake_sale_share", 0.15) >= 2
        )

    return _world_where("ordinary=60,anxious_manual=5,buyer=20,scalper_human=15", 1200, 6, varied)


@pytest.fixture(scope="module")
def order_world() -> World:
    """Book-to-order sellers over ten days, so that their customers' appointments come round."""
    return _build(WorldParams(seed=1, accounts=300, days=9, mix="ordinary=60,buyer=20,book_to_order=20"))


@pytest.fixture(scope="module")
def mobile_world() -> World:
    """The ``mobile`` preset: bots on phones behind CGNAT among innocent mobile users."""
    return _world_where("mobile", 400, 2, lambda run: any(op.style == "bot_mobile" for op in run.population.operations))


@pytest.fixture(scope="module")
def hard_world() -> World:
    """The ``hard`` preset with paid clickers and a distributed farm."""

    def hard(run: WorldRun) -> bool:
        ops = run.population.operations
        return any(op.structure["watch"] == "clickers" for op in ops) and any(
            op.structure.get("layout") == "distributed" for op in ops
        )

    return _world_where("hard", 500, 3, hard)


@pytest.fixture(scope="module")
def quiet_world() -> World:
    """The ``quiet`` preset: only legitimate look-alikes."""
    return _build(WorldParams(seed=3, accounts=600, days=4, mix="quiet"))


@pytest.fixture(scope="module")
def office_world() -> World:
    """Legal intermediaries and public PCs among ordinary applicants (no anxious competition for slots)."""
    return _build(WorldParams(seed=1, accounts=500, days=5, mix="ordinary=45,intermediary_customer=30,public_pc=25"))


ALL_WORLDS = (
    "world",
    "split_world",
    "resale_world",
    "order_world",
    "mobile_world",
    "hard_world",
    "quiet_world",
    "office_world",
)


# ----------------------------------------------------------------------------- contract and format
@pytest.mark.parametrize("name", ALL_WORLDS)
def test_every_line_is_a_contract_struct_from_the_contract_encoder(name: str, request: pytest.FixtureRequest) -> None:
    w: World = request.getfixturevalue(name)
    assert w.events
    for line, event in zip(w.lines, w.events, strict=True):
        assert encode(event) == line  # decoded and re-encoded by ingest.contract: byte for byte
    ids = [e.event_id for e in w.events]
    assert len(set(ids)) == len(ids)
    for raw in w.raw:
        if raw["type"] == "slot_released":
            assert "account_id" not in raw
            assert raw["reason"] in ("opening", "cancellation")
        else:
            assert raw["account_id"].startswith("acc-") and len(raw["account_id"]) == 20


def test_sorted_by_ts_then_event_id(world: World) -> None:
    keys = [(_ms(e.ts), e.event_id) for e in world.events]
    assert keys == sorted(keys)


def test_timestamps_are_paris_time_to_the_millisecond(world: World) -> None:
    for raw, event in zip(world.raw[:20000], world.events[:20000], strict=True):
        assert event.ts.microsecond % 1000 == 0
        assert event.ts.utcoffset() == event.ts.astimezone(PARIS).utcoffset()
        assert datetime.fromisoformat(raw["ts"]) == event.ts
        start = getattr(event, "slot_start", None)
        if start is not None:
            assert start.utcoffset() == start.astimezone(PARIS).utcoffset()


def test_dst_offset_changes_on_2026_03_29() -> None:
    dst = _build(WorldParams(seed=3, accounts=150, days=4, start=date(2026, 3, 27)))
    offsets: Counter[str] = Counter()
    for raw, event in zip(dst.raw, dst.events, strict=True):
        for field, value in (("ts", event.ts), ("slot_start", getattr(event, "slot_start", None))):
            if value is None:
                continue
            expected = value.astimezone(PARIS).strftime("%z")
            text = raw[field]
            assert text.endswith(expected[:3] + ":" + expected[3:]), (field, text)
            offsets[text[-6:]] += 1
    assert offsets["+01:00"] > 0 and offsets["+02:00"] > 0
    switch = datetime(2026, 3, 29, 1, 0, tzinfo=ZoneInfo("UTC"))
    for raw, event in zip(dst.raw, dst.events, strict=True):
        assert raw["ts"].endswith("+01:00" if event.ts < switch else "+02:00")


# ----------------------------------------------------------------------------- labels
@pytest.mark.parametrize("name", ALL_WORLDS)
def test_labels_cover_exactly_the_accounts_in_events(name: str, request: pytest.FixtureRequest) -> None:
    w: World = request.getfixturevalue(name)
    seen = {e.account_id for e in w.events if e.account_id}
    labelled = [label["account_id"] for label in w.labels]
    assert len(labelled) == len(set(labelled))
    assert set(labelled) == seen
    operations = {op["op_id"]: op for op in w.summary["operations"]}
    for label in w.labels:
        assert label["scalper"] == (label["role"] in SCALPER_ROLES)
        assert (label["operation"] is not None) == label["scalper"]
        if label["scalper"]:
            assert label["style"] == label["role"] == operations[label["operation"]]["style"]
        else:
            assert label["style"] is None
        assert ("bought_from" in label) == (label["role"] == "buyer")
        if label["role"] == "buyer":
            delivered = label["bought_from"] is not None
            assert label["delivered_by"] in (*MECHANISMS, "none")
            assert (label["delivered_by"] != "none") == delivered == bool(label["sellers"])
            assert all(w.label[s]["operation"] == label["bought_from"] for s in label["sellers"])
            assert label["scam"] in (None, "double_sold", "nonexistent_slot")
            if label["scam"] is not None:
                assert not delivered and label["paid_to"] is not None


def test_accounts_created_in_the_period_act_only_after_creation(world: World) -> None:
    first_type: dict[str, str] = {}
    created = 0
    for e in world.items:
        account = e.get("account_id")
        if account is None:
            continue
        if e["type"] == "account_created":
            created += 1
            assert account not in first_type, "acted before its account existed"
        first_type.setdefault(account, e["type"])
    assert created > 20


def test_every_role_of_the_default_mix_appears(world: World) -> None:
    counts = Counter(label["role"] for label in world.labels)
    assert set(counts) == set(parse_mix("default"))
    assert {"public_pc", "lawyer", "intermediary_customer"} <= set(counts)
    assert counts["ordinary"] > counts["farm"] > counts["bot_datacenter"] > 0
    seen = Counter(label["operation"] for label in world.labels if label["operation"])
    sizes = {op["op_id"]: op["accounts"] for op in world.summary["operations"]}
    assert all(size >= 2 for size in sizes.values())
    assert all(seen[op] <= sizes[op] for op in seen)
    assert sum(seen.values()) >= 0.5 * sum(sizes.values())


def test_ids_do_not_reveal_roles(world: World) -> None:
    by_role: dict[str, list[str]] = defaultdict(list)
    for label in world.labels:
        by_role[label["role"]].append(label["account_id"])
    ordered = sorted(label["account_id"] for label in world.labels)
    positions = {account: index / len(ordered) for index, account in enumerate(ordered)}
    for role in ("ordinary", "farm"):
        mean_position = statistics.mean(positions[a] for a in by_role[role])
        assert 0.3 < mean_position < 0.7


# ----------------------------------------------------------------------------- the world's rules
@pytest.mark.parametrize("name", ("world", "split_world", "resale_world", "order_world", "hard_world"))
def test_booking_rules_hold_slot_by_slot(name: str, request: pytest.FixtureRequest) -> None:
    """Released before booked, free when booked, never twice, seen before booked: by the account
    itself, by its operation (a watcher's tip), or, for a buyer's account operated by the seller,
    a slot the seller held and just cancelled."""
    w: World = request.getfixturevalue(name)
    free_since: dict[str, int] = {}
    holder: dict[str, str] = {}
    awaiting_release: dict[str, int] = {}
    last_hit: dict[tuple[str, str, str], int] = {}
    cancelled_by: dict[str, tuple[str, int]] = {}
    how: Counter[str] = Counter()
    for e in w.items:
        now = e["at"]
        if e["type"] == "slot_search" and e["results"] > 0:
            last_hit[(e["account_id"], e["site"], e["service"])] = now
            operation = w.label[e["account_id"]]["operation"]
            if operation:
                last_hit[(operation, e["site"], e["service"])] = now
        elif e["type"] == "slot_released":
            assert e["slot_id"] not in holder, "released while booked"
            if e["slot_id"] in awaiting_release:
                assert e["reason"] == "cancellation"
                assert 0 < now - awaiting_release.pop(e["slot_id"]) < 1000
            free_since[e["slot_id"]] = now
        elif e["type"] == "booking_created":
            slot, label = e["slot_id"], w.label[e["account_id"]]
            assert slot in free_since, "booked a slot that is not free"
            assert slot not in holder, "double booking"
            seen = last_hit.get((e["account_id"], e["site"], e["service"]))
            if seen is not None and free_since[slot] <= seen <= now:
                how["own search"] += 1
            elif free_since[slot] <= last_hit.get((label["operation"] or "-", e["site"], e["service"]), -1):
                how["operation's watcher"] += 1
            else:
                seller, when = cancelled_by.get(slot, ("", 0))
                assert label["role"] == "buyer" and seller in label["sellers"] and now - when < 120_000, (
                    "booked without anyone seeing it"
                )
                how["seller's own hold"] += 1
            del free_since[slot]
            holder[slot] = e["booking_id"]
        elif e["type"] == "booking_cancelled":
            slot = e["slot_id"]
            assert holder.pop(slot) == e["booking_id"]
            awaiting_release[slot] = now
            cancelled_by[slot] = (e["account_id"], now)
    assert not awaiting_release, "a cancellation was never followed by a release"
    assert how["own search"] > 0


def test_outcomes_on_or_after_the_appointment_by_the_holder(world: World) -> None:
    start: dict[str, int] = {}
    owner: dict[str, str] = {}
    outcomes = 0
    for e in world.items:
        if e["type"] == "booking_created":
            start[e["booking_id"]] = e["start_at"]
            owner[e["booking_id"]] = e["account_id"]
        elif e["type"] in ("booking_attended", "booking_no_show"):
            outcomes += 1
            assert e["at"] >= start[e["booking_id"]]
            assert e["account_id"] == owner[e["booking_id"]]
            assert "session_id" not in e and "ip" not in e
    assert outcomes > 10


def test_most_searches_show_nothing(world: World) -> None:
    results = [e["results"] for e in world.items if e["type"] == "slot_search"]
    assert sum(1 for r in results if r == 0) / len(results) > 0.8
    assert any(r > 0 for r in results)


def test_bots_book_faster_after_release_than_humans(world: World) -> None:
    released: dict[str, int] = {}
    delays: dict[str, list[int]] = defaultdict(list)
    for e in world.items:
        if e["type"] == "slot_released":
            released[e["slot_id"]] = e["at"]
        elif e["type"] == "booking_created":
            role = world.role[e["account_id"]]
            group = "bot" if role.startswith("bot_") else "human" if role in LEGIT_ROLES else "other"
            delays[group].append(e["at"] - released[e["slot_id"]])
    assert len(delays["bot"]) >= 10 and len(delays["human"]) >= 10
    assert statistics.median(delays["bot"]) < 15_000
    assert statistics.median(delays["bot"]) * 5 < statistics.median(delays["human"])


def test_offices_attend_and_placeholders_do_not(world: World) -> None:
    booked_by: dict[str, str] = {}
    modified: set[str] = set()
    outcome: dict[str, dict[str, int]] = defaultdict(lambda: {"attended": 0, "no_show": 0})
    for e in world.items:
        if e["type"] == "booking_created":
            booked_by[e["booking_id"]] = world.role[e["account_id"]]
        elif e["type"] == "booking_modified":
            modified.add(e["booking_id"])
        elif e["type"] in ("booking_attended", "booking_no_show"):
            role = booked_by[e["booking_id"]]
            kind = "sold" if e["booking_id"] in modified and role in SCALPER_ROLES else role
            outcome[kind]["attended" if e["type"] == "booking_attended" else "no_show"] += 1
    offices = [outcome["association"], outcome["lawyer"]]
    attended = sum(o["attended"] for o in offices)
    assert attended >= 0.8 * (attended + sum(o["no_show"] for o in offices)) > 0
    placeholders = [outcome[role] for role in SCALPER_ROLES]
    assert sum(o["no_show"] for o in placeholders) > 0
    assert sum(o["attended"] for o in placeholders) == 0


def test_unsold_holds_are_mostly_cancelled_a_day_or_two_before(split_world: World) -> None:
    """Hold releases: scalper cancellations that no buyer rebooks; many fall 1-2 days before the slot."""
    world = split_world
    start: dict[str, int] = {}
    rebooked_by_buyer: set[str] = set()
    cancels: list[tuple[str, str, int]] = []
    for e in world.items:
        if e["type"] == "booking_created":
            start[e["booking_id"]] = e["start_at"]
            if world.role[e["account_id"]] == "buyer":
                rebooked_by_buyer.add(e["slot_id"])
        elif e["type"] == "booking_cancelled" and world.label[e["account_id"]]["scalper"]:
            cancels.append((e["booking_id"], e["slot_id"], e["at"]))
    leads = [(start[b] - at) / 3_600_000 for b, slot, at in cancels if slot not in rebooked_by_buyer]
    assert len(leads) >= 10
    assert sum(1 for h in leads if 20 <= h <= 52) / len(leads) >= 0.5
    modes = {op["structure"]["hold_release"]["mode"] for op in world.summary["operations"]}
    assert modes <= {"cancel", "no_show", "mixed"}


# ----------------------------------------------------------------------------- operations' structure
def test_split_operations_book_without_ever_searching(split_world: World) -> None:
    w = split_world
    searches = Counter(e["account_id"] for e in w.items if e["type"] == "slot_search")
    bookings = Counter(e["account_id"] for e in w.items if e["type"] == "booking_created")
    split = [op for op in w.summary["operations"] if op["structure"]["search_roles"] == "split"]
    assert split
    silent_bookers = 0
    for op in split:
        members = [a for a, label in w.label.items() if label["operation"] == op["op_id"]]
        searching = [a for a in members if searches[a]]
        assert len(searching) <= op["structure"]["watchers"]
        silent_bookers += sum(1 for a in members if bookings[a] and not searches[a])
    assert silent_bookers >= 3


def test_world_json_records_every_operations_structure(world: World, split_world: World) -> None:
    keys = {
        "watch",
        "search_roles",
        "watchers",
        "bookers",
        "idle_accounts",
        "units",
        "infrastructure",
        "rotation",
        "creation",
        "email",
        "phones",
        "handoff_mix",
        "hold_release",
        "scams",
        "seller_device",
        "placeholders",
    }
    for w in (world, split_world):
        summary = w.summary
        assert summary["params"]["seed"] > 0
        assert summary["events"]["total"] == len(w.lines) == sum(summary["events"]["by_type"].values())
        assert summary["draws"]["structure_weights"] and summary["draws"]["handoff_prior"]
        assert set(summary["structure"]) >= {"styles", "shared_devices", "variants", "operation_structures"}
        for op in summary["operations"]:
            assert op["op_id"].startswith("op-")
            assert keys <= set(op["structure"])
            assert abs(sum(op["structure"]["handoff_mix"].values()) - 1) < 0.01
            assert (
                op["structure"]["watchers"] + op["structure"]["bookers"] + op["structure"]["idle_accounts"]
                == (op["accounts"])
            )
        json.dumps(summary)
    supply = world.summary["supply"]
    assert 0.3 < supply["share_of_opening_slots_taken_by_scalpers"] <= 1.0


def test_bot_mobile_phones_share_cgnat_addresses_with_innocent_mobile_users(mobile_world: World) -> None:
    w = mobile_world
    ips: dict[str, set[str]] = defaultdict(set)
    phone_accounts: dict[str, set[str]] = defaultdict(set)
    for e in w.items:
        account = e.get("account_id")
        if account is None or "ip" not in e:
            continue
        ips[w.role[account]].add(e["ip"])
        if w.role[account] == "bot_mobile" and "device_id" in e:
            phone_accounts[e["device_id"]].add(account)
    assert ips["bot_mobile"] & ips["mobile"], "no carrier-grade NAT address shared with mobile users"
    assert any(len(accounts) >= 2 for accounts in phone_accounts.values()), "each phone drives several accounts"
    bot_mobile_asns = {e["asn"] for e in w.items if e.get("account_id") and w.role[e["account_id"]] == "bot_mobile"}
    assert bot_mobile_asns <= {3215, 15557, 5410, 51207}  # the mobile carriers


def test_hard_mix_has_slow_paid_clickers_and_distributed_farms(hard_world: World) -> None:
    w = hard_world
    clickers = {op["op_id"] for op in w.summary["operations"] if op["structure"]["watch"] == "clickers"}
    members = {a for a, label in w.label.items() if label["operation"] in clickers}
    searches = [e for e in w.items if e["type"] == "slot_search" and e["account_id"] in members]
    assert searches
    assert all(8.9 <= _paris_hour(e["at"]) < 20.5 for e in searches), "paid clickers work by day"
    by_session: dict[str, list[int]] = defaultdict(list)
    for e in searches:
        by_session[e["session_id"]].append(e["at"])
    gaps = [b - a for times in by_session.values() for a, b in itertools.pairwise(times)]
    assert gaps and statistics.median(gaps) >= 20_000, "human speed"
    booked = [e["account_id"] for e in w.items if e["type"] == "booking_created" and e["account_id"] in members]
    bookings = Counter(booked)
    assert all(count <= 3 for count in bookings.values()), "each account does little"
    distributed = {op["op_id"] for op in w.summary["operations"] if op["structure"].get("layout") == "distributed"}
    device_accounts: dict[str, set[str]] = defaultdict(set)
    for e in w.items:
        account = e.get("account_id")
        if account and "device_id" in e and w.label[account]["operation"] in distributed:
            device_accounts[e["device_id"]].add(account)
    assert device_accounts and max(len(s) for s in device_accounts.values()) <= 3


# ----------------------------------------------------------------------------- resale
def test_default_world_resells_by_several_mechanisms(world: World) -> None:
    served = [label for label in world.labels if label["role"] == "buyer" and label["bought_from"]]
    assert len(served) >= 5
    assert len({label["delivered_by"] for label in served}) >= 2
    operations = {label["operation"] for label in world.labels if label["operation"]}
    assert {label["bought_from"] for label in served} <= operations


def _delivered(w: World, mechanism: str) -> list[dict[str, Any]]:
    return [label for label in w.labels if label["role"] == "buyer" and label["delivered_by"] == mechanism]


def _handoff_rebook(w: World, buyer: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The buyer's booking of a slot a seller cancelled just before, and that cancellation."""
    cancels = {
        e["slot_id"]: e for e in w.items if e["type"] == "booking_cancelled" and e["account_id"] in buyer["sellers"]
    }
    for booking in w.of(buyer["account_id"], "booking_created"):
        cancel = cancels.get(booking["slot_id"])
        if cancel is not None and 0 < booking["at"] - cancel["at"] < 120_000:
            return booking, cancel
    raise AssertionError(f"no handoff rebook for {buyer['account_id']}")


def test_seller_operated_handoff_logs_into_the_buyers_account_from_the_sellers_device(resale_world: World) -> None:
    w = resale_world
    buyers = _delivered(w, "handoff_seller_operated")
    assert len(buyers) >= 3
    for buyer in buyers:
        booking, cancel = _handoff_rebook(w, buyer)
        logins = [e for e in w.of(buyer["account_id"], "login") if e["at"] <= booking["at"] and e["success"]]
        login = logins[-1]
        assert booking["at"] - login["at"] < 5 * 60_000, "logged in right before rebooking"
        assert login["session_id"] == booking["session_id"]
        for field in ("ip", "user_agent", "device_id"):
            assert login.get(field) == cancel.get(field) == booking.get(field), field
        assert booking["at"] - cancel["at"] < 60_000, "rebooked seconds after the cancellation"
        own = next(e for e in w.of(buyer["account_id"]) if "device_id" in e)  # the buyer's first session
        assert booking.get("device_id") != own["device_id"], "the seller's device, not the buyer's"


def test_buyer_device_handoff_rebooks_from_the_buyers_own_device(resale_world: World) -> None:
    w = resale_world
    own_devices = {a.account_id: {d.device_id for d in a.devices} for a in w.accounts if a.role == "buyer"}
    buyers = _delivered(w, "handoff_buyer_device")
    assert len(buyers) >= 3
    for buyer in buyers:
        booking, cancel = _handoff_rebook(w, buyer)
        assert booking.get("device_id") != cancel.get("device_id")
        sessions = {e["session_id"]: e for e in w.of(buyer["account_id"], "login") if e["success"]}
        login = sessions[booking["session_id"]]
        assert login.get("device_id") in own_devices[buyer["account_id"]], "one of the buyer's own devices"
        assert booking["at"] - cancel["at"] < 90_000, "rebooked seconds after the cancellation"


def test_applicant_change_hands_the_booking_to_the_buyers_identity(resale_world: World) -> None:
    w = resale_world
    applicants = {a.account_id: set(a.applicants) for a in w.accounts if a.role == "buyer"}
    buyers = _delivered(w, "applicant_change")
    assert len(buyers) >= 3
    modified = [e for e in w.items if e["type"] == "booking_modified"]
    for buyer in buyers:
        changes = [e for e in modified if e["account_id"] in buyer["sellers"]]
        assert any(e["applicant_id"] in applicants[buyer["account_id"]] for e in changes)


def test_book_to_order_books_in_the_buyers_name_and_the_applicants_attend(order_world: World) -> None:
    w = order_world
    applicant_of = {app: a.account_id for a in w.accounts if a.role == "buyer" for app in a.applicants}
    buyers = _delivered(w, "book_to_order")
    assert len(buyers) >= 5
    ordered: dict[str, str] = {}
    for e in w.items:
        if e["type"] == "booking_created" and w.label[e["account_id"]]["scalper"] and e["applicant_id"] in applicant_of:
            buyer = w.label[applicant_of[e["applicant_id"]]]
            assert buyer["delivered_by"] == "book_to_order"
            assert e["account_id"] in buyer["sellers"]
            ordered[e["booking_id"]] = e["account_id"]
    assert len(ordered) >= len(buyers)
    assert not any(e["type"] == "booking_modified" and e["booking_id"] in ordered for e in w.items)
    outcomes = Counter(e["type"] for e in w.items if e.get("booking_id") in ordered)
    attended, no_show = outcomes["booking_attended"], outcomes["booking_no_show"]
    assert attended >= 3 and attended >= 0.75 * (attended + no_show)


def test_scams_double_sales_and_slots_that_do_not_exist(resale_world: World) -> None:
    w = resale_world
    scams = Counter(label["scam"] for label in w.labels if label["role"] == "buyer")
    assert scams["double_sold"] >= 1 and scams["nonexistent_slot"] >= 1
    for label in w.labels:
        if label["role"] == "buyer" and label["scam"]:
            assert label["bought_from"] is None and label["sellers"] == [] and label["delivered_by"] == "none"
            assert w.label[label["account_id"]]["paid_to"] in {op["op_id"] for op in w.summary["operations"]}
    resale = w.summary["resale"]
    assert sum(resale["buyers_scammed"].values()) == scams["double_sold"] + scams["nonexistent_slot"]


def test_every_operation_account_is_a_scalper_including_idle_ones(world: World, split_world: World) -> None:
    for w in (world, split_world):
        for account in w.accounts:
            if account.op is not None and account.role != "buyer" and account.seen:
                assert w.label[account.account_id]["scalper"]
    idle = [a for w in (world, split_world) for a in w.accounts if a.traits.get("idle") and a.seen]
    assert all(a.role in SCALPER_ROLES for a in idle)


# ----------------------------------------------------------------------------- legitimate look-alikes
def _device_groups(w: World, role: str) -> dict[str, set[str]]:
    groups: dict[str, set[str]] = defaultdict(set)
    for e in w.items:
        account = e.get("account_id")
        if account and "device_id" in e and w.role[account] == role:
            groups[e["device_id"]].add(account)
    return groups


def test_quiet_mix_has_look_alikes_but_no_scalpers_or_buyers(quiet_world: World) -> None:
    w = quiet_world
    roles = Counter(w.role.values())
    assert not set(roles) & (set(SCALPER_ROLES) | {"buyer"})
    assert {"public_pc", "association", "lawyer", "family", "anxious_manual", "anxious_autorefresh", "mobile"} <= set(
        roles
    )
    assert w.summary["operations"] == []


def test_public_pc_strangers_share_one_device_and_address(quiet_world: World, office_world: World) -> None:
    assert any(len(users) >= 5 for users in _device_groups(quiet_world, "public_pc").values())
    w = office_world
    groups = _device_groups(w, "public_pc")
    pc, users = max(groups.items(), key=lambda item: len(item[1]))
    assert 5 <= len(users) <= 60
    addresses = {e["ip"] for e in w.items if e.get("device_id") == pc}
    assert len(addresses) == 1
    booked = [e for e in w.items if e["type"] == "booking_created" and w.role[e["account_id"]] == "public_pc"]
    assert booked and any(e.get("device_id") in groups for e in booked)
    applicants = [e["applicant_id"] for e in booked]
    assert len(applicants) == len(set(applicants)), "each books their own appointment"
    created_at_pc = [e for e in w.items if e["type"] == "account_created" and e.get("device_id") == pc]
    assert created_at_pc


def test_lawyers_book_for_distinct_clients_from_a_shared_office(quiet_world: World) -> None:
    w = quiet_world
    bookings = [e for e in w.items if e["type"] == "booking_created" and w.role[e["account_id"]] == "lawyer"]
    assert bookings
    clients = [e["applicant_id"] for e in bookings]
    assert len(set(clients)) == len(clients)
    offices = w.summary["offices"]
    assert any(o["kind"] == "lawyer" for o in offices) and any(o["kind"] == "association" for o in offices)


def test_intermediary_books_with_each_customers_own_account_from_its_office(office_world: World) -> None:
    w = office_world
    groups = _device_groups(w, "intermediary_customer")
    office_pc, customers = max(groups.items(), key=lambda item: len(item[1]))
    assert len(customers) >= 3
    booked = [
        e for e in w.items if e["type"] == "booking_created" and w.role[e["account_id"]] == "intermediary_customer"
    ]
    assert booked and any(e.get("device_id") in groups and len(groups[e["device_id"]]) >= 3 for e in booked)
    owner: dict[str, str] = {}
    for e in booked:
        assert owner.setdefault(e["applicant_id"], e["account_id"]) == e["account_id"], "the customer's own applicant"
    cancelled = {e["slot_id"] for e in w.items if e["type"] == "booking_cancelled" and e["account_id"] in customers}
    rebooked = [e for e in booked if e["slot_id"] in cancelled]
    assert not rebooked, "no cancel-and-rebook handoffs"
    logins = [e for e in w.items if e["type"] == "login" and e.get("device_id") == office_pc]
    assert len({e["account_id"] for e in logins}) == len(customers) >= 3
    assert len({e["ip"] for e in logins}) == 1, "the office's address"


def test_families_share_a_pc_and_anxious_tabs_refresh_in_parallel(quiet_world: World) -> None:
    w = quiet_world
    assert any(len(accounts) >= 2 for accounts in _device_groups(w, "family").values())
    tabbed = {a.account_id: a for a in w.accounts if a.traits.get("tabs") and a.seen}
    assert tabbed
    faster = 0
    for account_id, account in tabbed.items():
        times: dict[str, list[int]] = defaultdict(list)
        for e in w.of(account_id, "slot_search"):
            times[e["session_id"]].append(e["at"])
        period = account.traits["period_s"] * 1000
        for session in times.values():
            gaps = [b - a for a, b in itertools.pairwise(session)]
            if len(gaps) >= 5 and statistics.median(gaps) < 0.8 * period:
                faster += 1
    assert faster >= 1, "several tabs reload faster than one tab's period"


# ----------------------------------------------------------------------------- mixes, determinism, CLI
def test_same_seed_same_bytes_and_different_seed_differs(tmp_path: Path) -> None:
    for mix in ("default", "random"):
        simulate(WorldParams(seed=5, accounts=250, days=3, mix=mix), tmp_path / mix / "a")
        simulate(WorldParams(seed=5, accounts=250, days=3, mix=mix), tmp_path / mix / "b")
        simulate(WorldParams(seed=6, accounts=250, days=3, mix=mix), tmp_path / mix / "c")
        root = tmp_path / mix
        for name in ("events.jsonl", "labels.jsonl", "world.json"):
            assert (root / "a" / name).read_bytes() == (root / "b" / name).read_bytes()
        assert (root / "a" / "events.jsonl").read_bytes() != (root / "c" / "events.jsonl").read_bytes()
        first_a = (root / "a" / "labels.jsonl").read_text().splitlines()[0]
        assert first_a not in (root / "c" / "labels.jsonl").read_text()


def test_no_scalpers_mix_has_no_scalpers_or_buyers() -> None:
    run = generate(WorldParams(seed=4, accounts=300, days=2, mix="no-scalpers"))
    events = list(run.events)
    roles = Counter(label["role"] for label in run.labels())
    assert events and roles
    assert not set(roles) & (set(SCALPER_ROLES) | {"buyer"})
    assert run.summary()["operations"] == []


def test_random_mix_is_drawn_from_the_seed_and_recorded() -> None:
    mixes = [parse_mix("random", seed) for seed in range(1, 9)]
    assert parse_mix("random", 1) == mixes[0]
    assert len({tuple(sorted(m)) for m in mixes}) > 1, "which roles appear varies"
    assert all(abs(sum(m.values()) - 1) < 1e-9 and "ordinary" in m for m in mixes)
    for mix in mixes:
        assert "buyer" not in mix or set(mix) & set(SCALPER_ROLES)
    params = WorldParams(seed=4, accounts=200, days=1, mix="random")
    run = generate(params)
    list(run.events)
    assert run.summary()["params"]["mix_shares"] == {r: round(s, 5) for r, s in parse_mix("random", 4).items()}


def test_mixes_parse_and_reject_nonsense() -> None:
    for name in PRESETS:
        shares = parse_mix(name, seed=3)
        assert abs(sum(shares.values()) - 1) < 1e-9
        assert set(shares) <= set(ROLES)
    assert not set(parse_mix("quiet")) & (set(SCALPER_ROLES) | {"buyer"})
    assert {"bot_mobile", "book_to_order", "public_pc"} <= set(parse_mix("mobile"))
    assert parse_mix("ordinary=3,farm=1") == {"ordinary": 0.75, "farm": 0.25}
    with pytest.raises(MixError):
        parse_mix("ordinary=1,wizard=2")
    with pytest.raises(MixError):
        parse_mix("ordinary=1,buyer=1")
    with pytest.raises(MixError):
        parse_mix("nonsense")


def test_cli_writes_the_three_files_and_documents_the_presets(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    parser = argparse.ArgumentParser()
    command.add_arguments(parser)
    args = parser.parse_args(["--seed", "2", "--accounts", "120", "--days", "1", "--out", str(tmp_path)])
    assert command.run(args, Settings()) == 0
    assert "events" in capsys.readouterr().out
    assert {p.name for p in tmp_path.iterdir()} == {"events.jsonl", "labels.jsonl", "world.json"}
    bad = parser.parse_args(["--mix", "wizard=1", "--out", str(tmp_path)])
    assert command.run(bad, Settings()) == 2
    for name in PRESETS:
        assert f"  {name} " in command.DESCRIPTION
    for role in ROLES:
        assert f"  {role} " in command.DESCRIPTION
