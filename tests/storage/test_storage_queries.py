"""Investigator queries on a small hand-built history (chDB and server).

The world: scalper S cancels slot X and buyer B books it 4 s later (a handoff); late L books
another slot S cancelled, but 10 minutes later (not a handoff); S took slot Y 3 s after G
cancelled it; S shares a device with F (a farm sibling) and an address with M; S and B both book
for applicant P. Verdicts over two sites, one account re-scored as not flagged, one account
known only from its flag.
"""

from __future__ import annotations

from datetime import datetime

import pytest

from storage import Store, UnknownAccount
from tests.storage.builders import T0, at, events, flag, line, searches, verdict

IP = "192.0.2.44"


def _booking(account: str, t: float, slot: str, booking: str, applicant: str = "", **kw: object) -> str:
    return line(
        "booking_created",
        t,
        account_id=account,
        booking_id=booking,
        slot_id=slot,
        service="titre-sejour",
        slot_start=t + 86_400,
        applicant_id=applicant or f"P-{booking}",
        **kw,
    )


def _cancel(account: str, t: float, slot: str, booking: str) -> str:
    return line("booking_cancelled", t, account_id=account, booking_id=booking, slot_id=slot)


@pytest.fixture
def world(store: Store) -> Store:
    lines = [
        line("account_created", 0, account_id="S", email_hash="h-s", device_id="dev-1", ip=IP),
        *searches("S", 5, start=10, device_id="dev-1", ip=IP),
        _booking("S", 100, "X", "bk-s1", applicant="P", device_id="dev-1", ip=IP),
        _cancel("S", 200, "X", "bk-s1"),
        line(
            "slot_released",
            200.5,
            slot_id="X",
            service="titre-sejour",
            slot_start=86_500,
            reason="cancellation",
        ),
        _booking("B", 204, "X", "bk-b1", applicant="P", device_id="dev-b"),
        _booking("S", 300, "Z", "bk-s2"),
        _cancel("S", 400, "Z", "bk-s2"),
        _booking("L", 1000, "Z", "bk-l1"),
        _booking("G", 500, "Y", "bk-g1"),
        _cancel("G", 600, "Y", "bk-g1"),
        _booking("S", 603, "Y", "bk-s3", device_id="dev-1"),
        *searches("F", 3, start=50, device_id="dev-1"),
        *searches("M", 2, start=60, ip=IP),
        *searches("Q", 2, start=70, site="75-paris"),
    ]
    writer = store.writer()
    writer.add_events(*events(lines))
    writer.add_verdicts(
        [
            verdict("S", 0.95, when=603, reasons=["hands slots over to other accounts", "books within seconds"]),
            verdict("F", 0.60, when=80),
            verdict("M", 0.70, when=20),
            verdict("M", 0.30, flagged=False, when=900, model="m2"),  # re-scored later: no longer flagged
            verdict("Q", 0.80, when=75, site="75-paris"),
            verdict("B", 0.10, flagged=False, when=204),
        ]
    )
    writer.add_flags([flag("S", 0.9, when=603), flag("W", 0.85, when=700)])  # W: flag only, no verdict
    assert writer.close().ok
    return store


def test_flagged_highest_score_first_with_reasons(world: Store) -> None:
    rows = world.flagged()
    assert [r["account_id"] for r in rows] == ["S", "W", "Q", "F"]
    top = rows[0]
    assert top["score"] == pytest.approx(0.95) and top["site"] == "93-bobigny"
    assert top["reasons"] == ["hands slots over to other accounts", "books within seconds"]
    assert top["flagged_at"] == at(603).isoformat(timespec="milliseconds")
    assert top["model_version"] == "m1" and top["decision"] is None


def test_flagged_filters_and_limit(world: Store) -> None:
    assert [r["account_id"] for r in world.flagged(site="75-paris")] == ["Q"]
    assert [r["account_id"] for r in world.flagged(limit=2)] == ["S", "W"]
    since = at(600)
    assert [r["account_id"] for r in world.flagged(since=since)] == ["S", "W"]
    assert world.flagged(site="nowhere") == []


def test_flagged_shows_the_latest_decision(world: Store) -> None:
    world.decide("S", "escalate", note="check handoffs", by="alice", at=datetime(2026, 3, 3, tzinfo=T0.tzinfo))
    world.decide("S", "confirm", note="12 handoffs", by="bob", at=datetime(2026, 3, 4, tzinfo=T0.tzinfo))
    top = world.flagged()[0]
    assert (top["account_id"], top["decision"], top["decided_by"]) == ("S", "confirm", "bob")


def test_account_timeline_verdict_and_decisions(world: Store) -> None:
    world.decide("S", "confirm", note="handoffs to B", by="alice")
    view = world.account("S")
    assert view["account_id"] == "S" and view["sites"] == ["93-bobigny"]
    types = [e["type"] for e in view["events"]]
    assert types[0] == "account_created" and types.count("slot_search") == 5 and len(types) == 11
    times = [e["ts"] for e in view["events"]]
    assert times == sorted(times)
    assert all("ip" not in e or e["ip"].startswith("ip:") for e in view["events"])
    verdict = view["verdict"]
    assert verdict["flagged"] and verdict["score"] == pytest.approx(0.95) and verdict["model_version"] == "m1"
    assert verdict["reasons"][0] == "hands slots over to other accounts"
    assert [d["decision"] for d in view["decisions"]] == ["confirm"] and view["label"] == 1
    assert view["flags"][0]["threshold"] == 0.5


def test_account_linked_accounts(world: Store) -> None:
    linked = world.account("S")["linked"]
    devices = {r["account_id"]: r for r in linked["shared_devices"]}
    assert set(devices) == {"F"} and devices["F"]["shared"] == 1 and devices["F"]["events"] == 3
    assert [r["account_id"] for r in linked["shared_addresses"]] == ["M"]
    assert linked["shared_addresses"][0]["events"] == 2
    assert [r["account_id"] for r in linked["shared_applicants"]] == ["B"]
    out = linked["handoffs_out"]
    assert [(r["account_id"], r["count"], r["slots"]) for r in out] == [("B", 1, ["X"])]
    assert out[0]["min_gap_s"] == pytest.approx(4.0)
    assert [(r["account_id"], r["slots"]) for r in linked["handoffs_in"]] == [("G", ["Y"])]
    assert linked["counts"] == {
        "shared_devices": 1,
        "shared_addresses": 1,
        "shared_applicants": 1,
        "handoffs_out": 1,
        "handoffs_in": 1,
    }
    # the buyer's side of the same handoff
    assert [r["account_id"] for r in world.account("B")["linked"]["handoffs_in"]] == ["S"]
    # a wider window makes the 10-minute rebooking a handoff too
    wide = world.account("S", handoff_window_s=900)["linked"]["handoffs_out"]
    assert {r["account_id"] for r in wide} == {"B", "L"}


def test_account_event_limit_keeps_the_latest(world: Store) -> None:
    view = world.account("S", max_events=3)
    assert view["events_total"] == 11 and view["events_shown"] == 3
    assert [e["type"] for e in view["events"]] == ["booking_created", "booking_cancelled", "booking_created"]
    assert view["events"][-1]["ts"] == at(603).isoformat(timespec="milliseconds")
    assert view["events"] == world.account("S", max_events=None)["events"][-3:]


def test_account_events_with_only_some_fields(world: Store) -> None:
    everything = world.account("S")["events"]
    narrow = world.account("S", max_events=4, event_fields=("type", "device_id"))["events"]
    assert narrow == [
        {k: v for k, v in e.items() if k in ("event_id", "ts", "type", "device_id")} for e in everything[-4:]
    ]
    ids = [e["event_id"] for e in everything[2:5]]
    assert world.events_by_id("S", ids, fields=("slot_id",)) == [
        {k: v for k, v in e.items() if k in ("event_id", "ts", "slot_id")} for e in everything[2:5]
    ]
    assert world.events_by_id("S", ids) == everything[2:5]
    with pytest.raises(ValueError, match="unknown event fields"):
        world.account("S", event_fields=("raw",))


def test_account_known_only_by_its_flag(world: Store) -> None:
    view = world.account("W")
    assert view["events_total"] == 0 and view["verdict"] is None and len(view["flags"]) == 1


def test_unknown_account(world: Store) -> None:
    with pytest.raises(UnknownAccount, match="unknown account 'nobody'"):
        world.account("nobody")
    with pytest.raises(UnknownAccount):
        world.decide("nobody", "confirm", note="", by="alice")


def test_decisions_and_labels(world: Store) -> None:
    world.decide("S", "escalate", note="first look", by="alice", at=datetime(2026, 3, 3, tzinfo=T0.tzinfo))
    world.decide("S", "confirm", note="second look", by="bob", at=datetime(2026, 3, 5, tzinfo=T0.tzinfo))
    world.decide("M", "dismiss", note="mobile network", by="bob")
    world.decide("F", "escalate", note="?", by="carol")
    labels = {r["account_id"]: r for r in world.labels()}
    assert {k: (v["decision"], v["label"]) for k, v in labels.items()} == {
        "S": ("confirm", 1),
        "M": ("dismiss", 0),
        "F": ("escalate", None),
    }
    assert [d["decision"] for d in world.account("S")["decisions"]] == ["escalate", "confirm"]
    with pytest.raises(ValueError, match="decision must be one of"):
        world.decide("S", "ban", note="", by="x")


def test_model_registry(world: Store) -> None:
    meta = {
        "version": "m1",
        "created_at": "2026-03-01T00:00:00+00:00",
        "feature_names": ["a", "b"],
        "feature_hash": "abc",
        "sklearn_version": "1.5.2",
        "threshold": 0.42,
        "training": {"accounts": 4000},
        "metrics": {"precision": 0.9},
    }
    world.register_model(meta)
    world.register_model({**meta, "threshold": 0.43})  # re-registration: latest wins, one row
    world.register_model({**meta, "version": "m2", "created_at": "2026-03-05T00:00:00+00:00"})
    models = world.models()
    assert [m["version"] for m in models] == ["m2", "m1"]
    assert models[1]["threshold"] == pytest.approx(0.43)
    assert models[1]["metadata"]["metrics"] == {"precision": 0.9} and models[1]["feature_hash"] == "abc"
