"""The embedded runner: ordering, lateness, duplicates, batching and eviction (incl. property tests)."""

from __future__ import annotations

import json
import math
import random

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from features.config import EngineConfig
from features.core import FeatureCore
from features.engine import EmbeddedEngine, FeatureBatch
from features.registry import vector
from features.state import Stores
from ingest.contract import AnyEvent, decode
from ingest.pseudonym import Pseudonymizer
from tests.factories import iso

ACCOUNTS = ["a1", "a2", "a3", "a4"]
SLOTS = ["s1", "s2", "s3"]


def _line(i: int, kind: str, at: float, account: str, slot: str, other: str) -> str:
    doc: dict[str, object] = {"event_id": f"ev{i:05d}", "type": kind, "ts": iso(at), "site": "93-bobigny"}
    if kind == "slot_released":
        doc |= {"slot_id": slot, "service": "s", "slot_start": iso(30 * 86400), "reason": "cancellation"}
    else:
        doc["account_id"] = account
        doc["ip"] = f"10.0.0.{ACCOUNTS.index(account) + 1}"
        doc["device_id"] = "shared" if account in ("a1", "a2") else account
    if kind == "slot_search":
        doc |= {"service": "s", "results": 1}
    elif kind == "booking_created":
        doc |= {
            "booking_id": f"b-{account}-{slot}",
            "slot_id": slot,
            "service": "s",
            "slot_start": iso(30 * 86400),
            "applicant_id": other,
        }
    elif kind == "booking_cancelled":
        doc |= {"booking_id": f"b-{account}-{slot}", "slot_id": slot}
    elif kind == "booking_no_show":
        doc |= {"booking_id": f"b-{account}-{slot}"}
    elif kind == "account_created":
        doc |= {"email_hash": account}
    return json.dumps(doc)


KINDS = ["slot_search", "slot_released", "booking_created", "booking_cancelled", "booking_no_show", "account_created"]


@st.composite
def streams(draw: st.DrawFn) -> list[AnyEvent]:
    """Event streams over a few accounts and slots, with many timestamp ties (whole seconds)."""
    n = draw(st.integers(min_value=1, max_value=60))
    lines = []
    for i in range(n):
        lines.append(
            _line(
                i,
                draw(st.sampled_from(KINDS)),
                float(draw(st.integers(min_value=0, max_value=40))),
                draw(st.sampled_from(ACCOUNTS)),
                draw(st.sampled_from(SLOTS)),
                draw(st.sampled_from(["p1", "p2"])),
            )
        )
    return [decode(line) for line in lines]


class Recorder:
    """Collects every batch the engine hands over."""

    def __init__(self) -> None:
        self.batches: list[FeatureBatch] = []

    def __call__(self, batch: FeatureBatch) -> None:
        self.batches.append(batch)

    def last_vectors(self) -> dict[str, tuple[float, ...]]:
        out: dict[str, tuple[float, ...]] = {}
        for batch in self.batches:
            for account, row in zip(batch.account_ids, batch.matrix.tolist(), strict=True):
                out[account] = tuple(row)
        return out


def run(events: list[AnyEvent], config: EngineConfig | None = None) -> tuple[EmbeddedEngine, Recorder]:
    recorder = Recorder()
    engine = EmbeddedEngine.on_dicts(recorder, config or EngineConfig(score_interval_s=10.0), "k")
    engine.run(events)
    return engine, recorder


def final_vectors(engine: EmbeddedEngine) -> dict[str, tuple[float, ...]]:
    """Vectors with NaN ("does not apply") replaced by a marker, so equal vectors compare equal."""
    return {a: tuple(-999.0 if math.isnan(v) else v for v in vector(s)) for a, s in engine.stores.accounts.items()}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events=streams(), data=st.data())
def test_duplicates_are_never_double_counted(events: list[AnyEvent], data: st.DataObject) -> None:
    extra = data.draw(st.lists(st.sampled_from(events), max_size=len(events)))
    with_dups = list(events)
    for dup in extra:
        with_dups.insert(data.draw(st.integers(0, len(with_dups))), dup)
    clean, _ = run(events)
    dirty, _ = run(with_dups)
    assert dirty.stats.duplicates == len(extra)
    assert dirty.stats.applied == clean.stats.applied == len(events)
    assert final_vectors(dirty) == final_vectors(clean)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events=streams(), seed=st.integers(0, 10_000))
def test_arrival_order_within_lateness_does_not_change_anything(events: list[AnyEvent], seed: int) -> None:
    """Ties in ts are broken by event_id, so any arrival order inside the lateness gives one result."""
    shuffled = list(events)
    random.Random(seed).shuffle(shuffled)
    config = EngineConfig(lateness_s=60.0, score_interval_s=10.0)
    a, rec_a = run(events, config)
    b, rec_b = run(shuffled, config)
    assert a.stats.late == b.stats.late == 0
    assert final_vectors(a) == final_vectors(b)
    assert [x.account_ids for x in rec_a.batches] == [x.account_ids for x in rec_b.batches]
    assert all(
        np.array_equal(x.matrix, y.matrix, equal_nan=True) for x, y in zip(rec_a.batches, rec_b.batches, strict=True)
    )


def test_events_later_than_the_lateness_are_applied_and_counted() -> None:
    early = decode(_line(1, "slot_search", 0.0, "a1", "s1", "p1"))
    now = decode(_line(2, "slot_search", 1000.0, "a1", "s1", "p1"))
    later = decode(_line(3, "slot_search", 1100.0, "a1", "s1", "p1"))
    late = decode(_line(4, "slot_search", 10.0, "a2", "s1", "p1"))
    within = decode(_line(5, "slot_search", 1050.0, "a3", "s1", "p1"))
    engine, _ = run([early, now, later, late, within], EngineConfig(lateness_s=60.0, reorder_block=1))
    assert engine.stats.late == 1 and engine.stats.applied == 5
    assert "a2" in engine.stores.accounts
    assert "a2" in engine.stores.accounts


def test_searches_alone_do_not_rescore_an_account() -> None:
    events = [decode(_line(i, "slot_search", i * 30.0, ACCOUNTS[i % 4], "s1", "p1")) for i in range(40)]
    engine, recorder = run(events, EngineConfig(lateness_s=0.0, score_interval_s=300.0))
    # each account is scored when first seen; its searches change no feature until an hour closes
    assert sorted(a for batch in recorder.batches for a in batch.account_ids) == ACCOUNTS
    assert engine.stats.batches == 1


def test_accounts_whose_features_change_are_scored_every_interval() -> None:
    events = [decode(_line(i, "booking_no_show", i * 30.0, ACCOUNTS[i % 4], "s1", "p1")) for i in range(40)]
    engine, recorder = run(events, EngineConfig(lateness_s=0.0, score_interval_s=300.0))
    scored = {a for batch in recorder.batches for a in batch.account_ids}
    assert scored == set(ACCOUNTS)
    # 40 events 30 s apart = 1170 s of event time, scored every 300 s: 3 full intervals plus the rest
    assert engine.stats.batches == 4
    assert engine.stats.scored_rows == 16
    for batch in recorder.batches:
        assert len(set(batch.account_ids)) == len(batch)
        assert batch.matrix.shape == (len(batch), len(vector(engine.stores.accounts["a1"])))


def test_idle_state_is_evicted_by_event_time() -> None:
    day = 86400.0
    events = [decode(_line(i, "booking_created", float(i), ACCOUNTS[i], SLOTS[i % 3], "p1")) for i in range(3)]
    events.append(decode(_line(10, "slot_search", 50 * day, "a4", "s1", "p1")))
    events.append(decode(_line(11, "slot_search", 51 * day, "a4", "s1", "p1")))
    config = EngineConfig(lateness_s=0.0, account_ttl_s=10 * day, entity_ttl_s=5 * day, sweep_interval_s=day)
    engine, _ = run(events, config)
    assert set(engine.stores.accounts) == {"a4"}
    assert set(engine.stores.slots) == set()
    assert set(engine.stores.applicants) == set()
    assert engine.stats.evicted["accounts"] == 3


def run_sharded(events: list[AnyEvent], partitions: int, config: EngineConfig) -> tuple[EmbeddedEngine, Recorder]:
    recorder = Recorder()
    parts = [(FeatureCore(Stores(), Pseudonymizer("k")), recorder) for _ in range(partitions)]
    engine = EmbeddedEngine.sharded(parts, config)
    engine.run(events)
    return engine, recorder


def merged_vectors(engine: EmbeddedEngine) -> dict[str, tuple[float, ...]]:
    out: dict[str, tuple[float, ...]] = {}
    for partition in engine.partitions:
        for account, state in partition.core.stores.accounts.items():
            out[account] = tuple(-999.0 if math.isnan(v) else v for v in vector(state))
    return out


def snapshots(recorder: Recorder) -> dict[tuple[str, float], tuple[float, ...]]:
    """Every scored snapshot by (account, tick): what a scorer saw, whatever partition scored it."""
    out: dict[tuple[str, float], tuple[float, ...]] = {}
    for batch in recorder.batches:
        for account, row in zip(batch.account_ids, batch.matrix.tolist(), strict=True):
            out[(account, batch.at)] = tuple(-999.0 if math.isnan(v) else v for v in row)
    return out


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events=streams(), partitions=st.integers(2, 5))
def test_spreading_the_state_over_partitions_changes_nothing(events: list[AnyEvent], partitions: int) -> None:
    """The stream's layout in process: accounts, slots, devices and applicants on different partitions,
    every message between them through rounds, give the very snapshots one partition gives."""
    config = EngineConfig(lateness_s=60.0, score_interval_s=10.0)
    one, rec_one = run(events, config)
    many, rec_many = run_sharded(events, partitions, config)
    assert merged_vectors(many) == final_vectors(one)
    assert snapshots(rec_many) == snapshots(rec_one)
    assert many.stats.applied == one.stats.applied


def test_a_booking_cancelled_before_its_slot_fact_arrives_is_still_settled() -> None:
    """Facts are folded in after the tick's events: a pick must not be lost with the open booking."""
    lines = [
        _line(1, "slot_released", 0.0, "a1", "s1", "p1"),
        _line(2, "slot_search", 0.2, "a3", "s1", "p1"),
        _line(3, "booking_created", 0.5, "a3", "s1", "p1"),
        _line(4, "booking_cancelled", 3.0, "a3", "s1", "p1"),
    ]
    engine, _ = run([decode(line) for line in lines], EngineConfig(lateness_s=0.0, score_interval_s=300.0))
    st_a3 = engine.stores.accounts["a3"]
    assert st_a3.fast_bookings == 1 and st_a3.instant_picks == 1 and not st_a3.unsettled
