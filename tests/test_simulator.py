"""The booking-traffic simulator: contract conformance, world invariants, labels, determinism."""

from __future__ import annotations

import argparse
import json
import statistics
from collections import Counter, defaultdict
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from ingest.contract import decode
from simulator import (
    LEGIT_ROLES,
    MIXES,
    ROLES,
    SCALPER_ROLES,
    MixError,
    WorldParams,
    generate,
    parse_mix,
    simulate,
)
from slotguard.commands import simulate as command
from slotguard.config import Settings

PARIS = ZoneInfo("Europe/Paris")


class World:
    """A generated world, decoded once for the assertions below."""

    def __init__(self, params: WorldParams) -> None:
        run = generate(params)
        self.lines = list(run.events)
        self.labels = run.labels()
        self.summary = run.summary()
        self.accounts = run.world.accounts
        self.events = [decode(line) for line in self.lines]
        self.raw = [json.loads(line) for line in self.lines]
        self.role = {label["account_id"]: label["role"] for label in self.labels}
        #: raw events with their instants as epoch ms (``at``, ``start_at``) for the world checks
        self.items: list[dict[str, Any]] = []
        for raw, event in zip(self.raw, self.events, strict=True):
            item = dict(raw, at=_ms(event.ts))
            start = getattr(event, "slot_start", None)
            if start is not None:
                item["start_at"] = _ms(start)
            self.items.append(item)


@pytest.fixture(scope="module")
def world() -> World:
    """A modest default-mix world, long enough for appointments inside the period."""
    return World(WorldParams(seed=11, accounts=700, days=12))


def _ms(value: datetime) -> int:
    return round(value.timestamp() * 1000)


def test_every_line_passes_the_contract_and_ids_are_unique(world: World) -> None:
    assert len(world.events) > 10_000
    ids = [e.event_id for e in world.events]
    assert len(set(ids)) == len(ids)
    for raw in world.raw:
        if raw["type"] == "slot_released":
            assert "account_id" not in raw
            assert raw["reason"] in ("opening", "cancellation")
        else:
            assert raw["account_id"].startswith("acc-") and len(raw["account_id"]) == 20


def test_sorted_by_ts_then_event_id(world: World) -> None:
    keys = [(_ms(e.ts), e.event_id) for e in world.events]
    assert keys == sorted(keys)


def test_timestamps_are_paris_time_with_milliseconds(world: World) -> None:
    for raw, event in zip(world.raw[:5000], world.events[:5000], strict=True):
        assert len(raw["ts"]) == len("2026-03-02T09:00:01.250+01:00")
        assert event.ts.utcoffset() == event.ts.astimezone(PARIS).utcoffset()


def test_dst_offset_changes_on_2026_03_29() -> None:
    dst = World(WorldParams(seed=3, accounts=150, days=4, start=date(2026, 3, 27)))
    offsets = Counter()
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


def test_labels_cover_exactly_the_accounts_in_events(world: World) -> None:
    seen = {e.account_id for e in world.events if e.account_id}
    labelled = [label["account_id"] for label in world.labels]
    assert len(labelled) == len(set(labelled))
    assert set(labelled) == seen
    for label in world.labels:
        assert label["scalper"] == (label["role"] in SCALPER_ROLES)
        assert (label["operation"] is not None) == label["scalper"]
        if label["operation"] is not None:
            assert label["operation"].startswith("op-")
        assert ("bought_from" in label) == (label["role"] == "buyer")


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
    assert set(counts) == set(ROLES)
    assert counts["ordinary"] > counts["farm"] > counts["bot_datacenter"] > 0
    operations = Counter(label["operation"] for label in world.labels if label["operation"])
    assert all(size >= 2 for size in operations.values())


def test_booking_rules_hold_slot_by_slot(world: World) -> None:
    """Released before booked, booked only when free and after a search that showed it, never twice."""
    free_since: dict[str, int] = {}
    holder: dict[str, str] = {}
    booking_slot: dict[str, str] = {}
    awaiting_release: dict[str, int] = {}
    last_hit: dict[tuple[str, str, str], int] = {}
    for e in world.items:
        now = e["at"]
        if e["type"] == "slot_search" and e["results"] > 0:
            last_hit[(e["account_id"], e["site"], e["service"])] = now
        elif e["type"] == "slot_released":
            assert e["slot_id"] not in holder, "released while booked"
            if e["slot_id"] in awaiting_release:
                assert e["reason"] == "cancellation"
                assert 0 < now - awaiting_release.pop(e["slot_id"]) < 1000
            free_since[e["slot_id"]] = now
        elif e["type"] == "booking_created":
            slot = e["slot_id"]
            assert slot in free_since, "booked a slot that is not free"
            assert slot not in holder, "double booking"
            seen = last_hit.get((e["account_id"], e["site"], e["service"]))
            assert seen is not None and free_since[slot] <= seen <= now, "booked without seeing it"
            del free_since[slot]
            holder[slot] = e["booking_id"]
            booking_slot[e["booking_id"]] = slot
        elif e["type"] == "booking_cancelled":
            slot = e["slot_id"]
            assert holder.pop(slot) == e["booking_id"]
            awaiting_release[slot] = now
    assert not awaiting_release, "a cancellation was never followed by a release"


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
    assert outcomes > 10


def test_handoffs_and_modifications_reach_buyers(world: World) -> None:
    buyer_applicants = {app for a in world.accounts if a.role == "buyer" for app in a.applicants}
    cancelled_by_scalper: dict[str, int] = {}
    handoffs = 0
    for e in world.items:
        if e["type"] == "booking_cancelled" and world.role[e["account_id"]] in SCALPER_ROLES:
            cancelled_by_scalper[e["slot_id"]] = e["at"]
        elif e["type"] == "booking_created" and world.role[e["account_id"]] == "buyer":
            when = cancelled_by_scalper.get(e["slot_id"])
            if when is not None and e["at"] - when < 90_000:
                handoffs += 1
    modified = [
        e for e in world.items if e["type"] == "booking_modified" and world.role[e["account_id"]] in SCALPER_ROLES
    ]
    assert handoffs >= 3
    assert len(modified) >= 3
    assert all(e["applicant_id"] in buyer_applicants for e in modified)
    served = [label for label in world.labels if label["role"] == "buyer" and label["bought_from"]]
    assert len(served) >= 5
    operations = {label["operation"] for label in world.labels if label["operation"]}
    assert {label["bought_from"] for label in served} <= operations


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


def test_associations_attend_and_placeholders_do_not(world: World) -> None:
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
    association = outcome["association"]
    assert association["attended"] >= 0.8 * (association["attended"] + association["no_show"]) > 0
    placeholders = [outcome[role] for role in SCALPER_ROLES]
    assert sum(o["no_show"] for o in placeholders) > 0
    assert sum(o["attended"] for o in placeholders) == 0


def test_world_json_records_draws_and_figures(world: World) -> None:
    summary = world.summary
    assert summary["params"]["seed"] == 11
    assert summary["events"]["total"] == len(world.lines)
    assert sum(summary["events"]["by_type"].values()) == len(world.lines)
    assert summary["draws"]["slots_per_account_day"] > 0
    assert summary["operations"] and all(op["op_id"].startswith("op-") for op in summary["operations"])
    supply = summary["supply"]
    assert (
        supply["opening_slots_taken_by_scalpers"] + supply["opening_slots_taken_by_legit"]
        <= (supply["slots_released_opening"])
    )
    assert 0.3 < supply["share_of_opening_slots_taken_by_scalpers"] <= 1.0
    json.dumps(summary)


def test_same_seed_same_bytes_and_different_seed_differs(tmp_path: Path) -> None:
    params = WorldParams(seed=5, accounts=250, days=3)
    simulate(params, tmp_path / "a")
    simulate(params, tmp_path / "b")
    simulate(WorldParams(seed=6, accounts=250, days=3), tmp_path / "c")
    for name in ("events.jsonl", "labels.jsonl", "world.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert (tmp_path / "a" / "events.jsonl").read_bytes() != (tmp_path / "c" / "events.jsonl").read_bytes()
    first_a = (tmp_path / "a" / "labels.jsonl").read_text().splitlines()[0]
    assert first_a not in (tmp_path / "c" / "labels.jsonl").read_text()


def test_no_scalpers_mix_has_no_scalpers_or_buyers() -> None:
    run = generate(WorldParams(seed=4, accounts=300, days=2, mix="no-scalpers"))
    events = list(run.events)
    roles = Counter(label["role"] for label in run.labels())
    assert events and roles
    assert not set(roles) & (set(SCALPER_ROLES) | {"buyer"})
    assert run.summary()["operations"] == []


def test_mixes_parse_and_reject_nonsense() -> None:
    for name in MIXES:
        shares = parse_mix(name)
        assert abs(sum(shares.values()) - 1) < 1e-9
    assert parse_mix("ordinary=3,farm=1") == {"ordinary": 0.75, "farm": 0.25}
    with pytest.raises(MixError):
        parse_mix("ordinary=1,wizard=2")
    with pytest.raises(MixError):
        parse_mix("ordinary=1,buyer=1")
    with pytest.raises(MixError):
        parse_mix("nonsense")


def test_cli_writes_the_three_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser()
    command.add_arguments(parser)
    args = parser.parse_args(["--seed", "2", "--accounts", "120", "--days", "1", "--out", str(tmp_path)])
    assert command.run(args, Settings()) == 0
    assert "events" in capsys.readouterr().out
    assert {p.name for p in tmp_path.iterdir()} == {"events.jsonl", "labels.jsonl", "world.json"}
    bad = parser.parse_args(["--mix", "wizard=1", "--out", str(tmp_path)])
    assert command.run(bad, Settings()) == 2


def test_ids_do_not_reveal_roles(world: World) -> None:
    by_role: dict[str, list[str]] = defaultdict(list)
    for label in world.labels:
        by_role[label["role"]].append(label["account_id"])
    ordered = sorted(label["account_id"] for label in world.labels)
    positions = {account: index / len(ordered) for index, account in enumerate(ordered)}
    for role in ("ordinary", "farm"):
        mean_position = statistics.mean(positions[a] for a in by_role[role])
        assert 0.3 < mean_position < 0.7
