"""Conformance and determinism of the blind world generator (tests/worlds/blind).

The worlds are small so the whole file runs in seconds; the checks are about the contract and the
market's consistency, not about any detector.
"""

from __future__ import annotations

import datetime as dt
import json
import pathlib
import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

import pytest

from ingest.contract import decode
from models.labels import read_labels
from tests.worlds.blind import SCENARIOS, generate
from tests.worlds.blind.scenarios import ScenarioError

LEGIT = {
    "ordinary",
    "anxious",
    "family",
    "association",
    "lawyer",
    "cybercafe_user",
    "mobile_user",
    "intermediary_customer",
    "buyer",
}
STYLES = {
    "datacenter_bot",
    "residential_proxy_bot",
    "mobile_phones",
    "slow_human",
    "distributed_farm",
    "book_to_order",
    "cybercafe_reseller",
}
TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0[12]:00$")

WORLDS: dict[str, tuple[int, str, int, int]] = {
    "mixed": (11, "mixed", 220, 2),
    "mobile": (12, "mobile", 220, 2),
    "farms": (13, "farms", 220, 2),
    "quiet": (14, "quiet", 200, 2),
    "random": (15, "random", 200, 2),
    "custom": (16, "custom:ops=datacenter_bot+book_to_order;legit=cybercafe_user+association+buyer", 150, 2),
}


@dataclass
class Generated:
    """One generated world, read back once."""

    path: pathlib.Path
    summary: dict[str, Any]
    lines: list[str]
    events: list[dict[str, Any]]


@pytest.fixture(scope="module")
def worlds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Generated]:
    """Each small world generated once for the module."""
    out = {}
    for key, (seed, scenario, accounts, days) in WORLDS.items():
        d = tmp_path_factory.mktemp(key)
        summary = generate(seed, scenario, d, accounts=accounts, days=days)
        lines = (d / "events.jsonl").read_text(encoding="utf-8").splitlines()
        out[key] = Generated(d, summary, lines, [json.loads(line) for line in lines])
    return out


def _labels(d: pathlib.Path) -> dict[str, dict[str, Any]]:
    rows = [json.loads(line) for line in (d / "labels.jsonl").read_text(encoding="utf-8").splitlines()]
    return {r["account_id"]: r for r in rows}


def _t(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


def test_scenarios_are_described() -> None:
    """Every advertised scenario has a one-line description."""
    assert {"mixed", "farms", "mobile", "quiet", "random", "custom"} <= set(SCENARIOS)
    assert all(isinstance(v, str) and v and "\n" not in v for v in SCENARIOS.values())


@pytest.mark.parametrize("key", list(WORLDS))
def test_every_line_is_a_valid_contract_event(worlds: dict[str, Generated], key: str) -> None:
    """The project's own validator accepts every raw line; fields and formats are as the contract says."""
    w = worlds[key]
    assert w.lines
    for line in w.lines:
        decode(line)
    for ev in w.events:
        assert TS.match(ev["ts"]), ev["ts"]
        assert 1 <= len(ev["event_id"]) <= 64
        if ev["type"] == "slot_released":
            assert "account_id" not in ev
        else:
            assert isinstance(ev["account_id"], str) and ev["account_id"]
        if "asn" in ev:
            assert isinstance(ev["asn"], int) and not isinstance(ev["asn"], bool)


@pytest.mark.parametrize("key", list(WORLDS))
def test_labels_cover_accounts_and_are_consistent(worlds: dict[str, Generated], key: str) -> None:
    """Each account in the events has exactly one label; roles, styles and operations agree."""
    w = worlds[key]
    label_set = read_labels(w.path / "labels.jsonl")
    labels = _labels(w.path)
    in_events = {e["account_id"] for e in w.events if "account_id" in e}
    assert in_events == set(labels) == set(label_set.by_account)
    ops_of: dict[str, set[str]] = {}
    for acct, lab in labels.items():
        assert set(lab) == {"account_id", "role", "scalper", "operation", "site", "style", "bought_from"}
        if lab["scalper"]:
            assert lab["role"] == "scalper" and lab["style"] in STYLES and lab["operation"]
            ops_of.setdefault(lab["operation"], set()).add(acct)
        else:
            assert lab["role"] in LEGIT and lab["style"] is None
            assert bool(lab["bought_from"]) == (lab["role"] == "buyer")
    for lab in labels.values():
        if lab["role"] == "buyer":
            assert set(lab["bought_from"]) <= ops_of[lab["operation"]]
    assert sum(w.summary["accounts_by_role"].values()) == len(labels)


@pytest.mark.parametrize("key", list(WORLDS))
def test_ids_unique_and_opaque(worlds: dict[str, Generated], key: str) -> None:
    """Event ids are unique; account ids have one shape whatever the role."""
    w = worlds[key]
    ids = Counter(e["event_id"] for e in w.events)
    assert max(ids.values()) == 1
    shapes = {(len(a), a.isalnum()) for a in _labels(w.path)}
    assert len(shapes) == 1


@pytest.mark.parametrize("key", list(WORLDS))
def test_time_order_and_rare_late_arrivals(worlds: dict[str, Generated], key: str) -> None:
    """Events are in time order except a few late arrivals of at most 60 s."""
    events = worlds[key].events
    high = _t(events[0]["ts"])
    late = 0
    for ev in events:
        t = _t(ev["ts"])
        if t < high:
            late += 1
            assert (high - t).total_seconds() <= 60
        high = max(high, t)
    assert late <= max(3, len(events) // 200)


def _replay(events: list[dict[str, Any]]) -> dict[str, int]:
    """Replay the market in event-time order and fail on any inconsistency."""
    order = sorted(range(len(events)), key=lambda i: (_t(events[i]["ts"]), i))
    free: set[str] = set()
    released_once: set[str] = set()
    holder: dict[str, str] = {}
    booking_slot: dict[str, str] = {}
    slot_start: dict[str, dt.datetime] = {}
    active: set[str] = set()
    awaiting: dict[str, dt.datetime] = {}
    outcome: set[str] = set()
    stats: Counter[str] = Counter()
    for i in order:
        ev = events[i]
        kind, t = ev["type"], _t(ev["ts"])
        if kind == "slot_released":
            sid = ev["slot_id"]
            assert sid not in free and sid not in holder, "released while free or held"
            if ev["reason"] == "opening":
                assert sid not in released_once, "opened twice"
            else:
                assert sid in awaiting, "cancellation release without a cancellation"
                assert awaiting.pop(sid) <= t
            released_once.add(sid)
            free.add(sid)
            slot_start[sid] = _t(ev["slot_start"])
        elif kind == "booking_created":
            sid = ev["slot_id"]
            assert sid in free, "booked a slot that is not free"
            assert sid not in awaiting
            assert slot_start[sid] == _t(ev["slot_start"]) and t < slot_start[sid]
            free.discard(sid)
            holder[sid] = ev["booking_id"]
            booking_slot[ev["booking_id"]] = sid
            active.add(ev["booking_id"])
            stats["booked"] += 1
        elif kind == "booking_cancelled":
            bid = ev["booking_id"]
            assert bid in active and booking_slot[bid] == ev["slot_id"]
            active.discard(bid)
            del holder[ev["slot_id"]]
            awaiting[ev["slot_id"]] = t
            stats["cancelled"] += 1
        elif kind == "booking_modified":
            assert ev["booking_id"] in active
            stats["modified"] += 1
        elif kind in ("booking_attended", "booking_no_show"):
            bid = ev["booking_id"]
            assert bid in active and bid not in outcome
            outcome.add(bid)
            start = slot_start[booking_slot[bid]]
            assert t.date() == start.date(), "attendance not on the appointment day"
            stats[kind] += 1
    assert not awaiting, "a cancellation was never followed by its release"
    return dict(stats)


@pytest.mark.parametrize("key", list(WORLDS))
def test_market_is_consistent(worlds: dict[str, Generated], key: str) -> None:
    """Bookings take released, free slots; one holder at a time; cancellations release the slot."""
    stats = _replay(worlds[key].events)
    assert stats.get("booked", 0) > 0


@pytest.mark.parametrize("key", list(WORLDS))
def test_optional_fields_present_but_not_always(worlds: dict[str, Generated], key: str) -> None:
    """Optional fields appear with realistic, not total, frequency."""
    acted = [e for e in worlds[key].events if e["type"] in ("slot_search", "login")]
    for name in ("ip", "user_agent", "device_id", "session_id", "asn"):
        share = sum(name in e for e in acted) / len(acted)
        assert 0.2 < share < 1.0, (name, share)


def test_same_seed_same_bytes(tmp_path: pathlib.Path) -> None:
    """Same seed and arguments give byte-identical files; another seed gives another world."""
    spec = "custom:ops=residential_proxy_bot+slow_human;legit=anxious+family+buyer"
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    generate(5, spec, a, accounts=120, days=2)
    generate(5, spec, b, accounts=120, days=2)
    generate(6, spec, c, accounts=120, days=2)
    for name in ("events.jsonl", "labels.jsonl", "world.json"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    assert (a / "events.jsonl").read_bytes() != (c / "events.jsonl").read_bytes()


def test_quiet_has_no_scalping(worlds: dict[str, Generated]) -> None:
    """The quiet scenario has neither scalpers nor buyers, but has the look-alike populations."""
    w = worlds["quiet"]
    labels = _labels(w.path).values()
    roles = Counter(lab["role"] for lab in labels)
    assert not any(lab["scalper"] for lab in labels)
    assert roles["buyer"] == 0 and roles["scalper"] == 0
    assert {"cybercafe_user", "association", "anxious"} <= set(roles)
    assert w.summary["operations"] == []


def test_custom_contains_only_what_was_asked(worlds: dict[str, Generated]) -> None:
    """A custom world holds the named styles and roles, plus a few ordinary accounts, nothing else."""
    w = worlds["custom"]
    labels = _labels(w.path).values()
    styles = {lab["style"] for lab in labels if lab["scalper"]}
    roles = {lab["role"] for lab in labels if not lab["scalper"]}
    assert styles == {"datacenter_bot", "book_to_order"}
    assert roles <= {"cybercafe_user", "association", "buyer", "ordinary"}
    assert {"cybercafe_user", "association"} <= roles
    ordinary = sum(1 for lab in labels if lab["role"] == "ordinary")
    assert ordinary <= 0.35 * len(labels)
    assert set(w.summary["styles"]) == {"datacenter_bot", "book_to_order"}


def test_custom_without_operations_or_buyers(tmp_path: pathlib.Path) -> None:
    """``custom:legit=...`` alone gives a world without scalpers; roles stay within the request."""
    generate(3, "custom:legit=mobile_user+lawyer;release=fixed_daily", tmp_path, accounts=80, days=2)
    labels = _labels(tmp_path).values()
    assert not any(lab["scalper"] for lab in labels)
    assert {lab["role"] for lab in labels} <= {"mobile_user", "lawyer", "ordinary"}
    world = json.loads((tmp_path / "world.json").read_text())
    assert {s["release_schedule"] for s in world["sites"]} == {"fixed_daily"}


def test_world_json_describes_the_structure(worlds: dict[str, Generated]) -> None:
    """world.json names sites, schedules, operations with style and mechanisms, and the drawn parameters."""
    w = worlds["mixed"]
    world = json.loads((w.path / "world.json").read_text())
    assert world["sites"] and all(s["release_schedule"] for s in world["sites"])
    assert {o["id"] for o in world["operations"]} == {o["id"] for o in w.summary["operations"]}
    for op in world["operations"]:
        assert op["style"] in STYLES and "handoff_mechanisms" in op and "hold_release" in op
    assert "parameters" in world and "legitimate_groups" in world


def test_bad_scenarios_are_refused(tmp_path: pathlib.Path) -> None:
    """Unknown scenario names and custom keys fail with a clear error."""
    for bad in ("nope", "custom:ops=teleport", "custom:legit=alien", "custom:colour=red"):
        with pytest.raises(ScenarioError):
            generate(1, bad, tmp_path)


def test_paris_offsets_follow_summer_time() -> None:
    """Local time and offset around both 2026 changes of the clocks."""
    from tests.worlds.blind.clock import local_to_utc, rfc3339

    assert rfc3339(local_to_utc(dt.date(2026, 3, 29), 60)) == "2026-03-29T01:00:00.000+01:00"
    assert rfc3339(local_to_utc(dt.date(2026, 3, 29), 150)) == "2026-03-29T03:30:00.000+02:00"
    assert rfc3339(local_to_utc(dt.date(2026, 3, 29), 600)) == "2026-03-29T10:00:00.000+02:00"
    assert rfc3339(local_to_utc(dt.date(2026, 10, 25), 60)) == "2026-10-25T01:00:00.000+02:00"
    assert rfc3339(local_to_utc(dt.date(2026, 10, 25), 600)) == "2026-10-25T10:00:00.000+01:00"
    assert rfc3339(1_767_225_600_123) == "2026-01-01T01:00:00.123+01:00"
