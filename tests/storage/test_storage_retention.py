"""Retention drops whole old months, and only those; the dry run changes nothing (chDB and server)."""

from __future__ import annotations

from datetime import UTC, date, datetime

from storage import Store
from tests.storage.builders import T0, events, line
from tests.storage.test_storage_queries import _booking


def _seconds_since_t0(year: int, month: int) -> float:
    return (datetime(year, month, 10, 12, 0, tzinfo=UTC) - T0).total_seconds()


def test_retention_dry_run_lists_and_apply_drops_only_old_months(store: Store) -> None:
    months = [(2025, 1), (2025, 6), (2025, 9), (2026, 2)]
    lines = []
    for i, (y, m) in enumerate(months):
        t = _seconds_since_t0(y, m)
        lines.append(line("login", t, account_id=f"A{i}", success=True, device_id=f"d{i}"))
        lines.append(_booking(f"A{i}", t + 1, f"slot{i}", f"b{i}"))
    writer = store.writer()
    writer.add_events(*events(lines))
    assert writer.close().ok
    before = store.counts()
    as_of = date(2026, 3, 15)  # keep 6 months: 2025-09 onwards

    planned = store.retention(6, as_of=as_of, dry_run=True)
    assert {(p.table, p.month) for p in planned} == {
        (table, month) for table in ("events", "entity_links", "slot_events") for month in (202501, 202506)
    }
    assert sum(p.rows for p in planned if p.table == "events") == 4
    assert store.counts() == before  # nothing dropped by the dry run

    dropped = store.retention(6, as_of=as_of, dry_run=False)
    assert dropped == planned
    after = store.counts()
    assert after["events"] == 4 and after["slot_events"] == 2
    remaining = {r[0] for r in store.backend.query(f"SELECT DISTINCT account_id FROM {store.database}.events")}
    assert remaining == {"A2", "A3"}
    assert store.retention(6, as_of=as_of, dry_run=True) == []  # nothing left to drop
    store.account("A2")  # recent history still answers


def test_retention_reaches_decisions_and_keeps_models(store: Store) -> None:
    writer = store.writer()
    writer.add_events(*events([line("login", 0, account_id="A", success=True)]))
    writer.close()
    store.decide("A", "confirm", note="old", by="x", at=datetime(2024, 1, 5, tzinfo=UTC))
    store.decide("A", "dismiss", note="new", by="x", at=datetime(2026, 3, 1, tzinfo=UTC))
    store.register_model({"version": "m0", "created_at": "2023-01-01T00:00:00+00:00", "threshold": 0.5})
    doomed = store.retention(12, as_of=date(2026, 3, 15), dry_run=False)
    assert ("decisions", 202401) in {(p.table, p.month) for p in doomed}
    assert [d["note"] for d in store.account("A")["decisions"]] == ["new"]
    assert [m["version"] for m in store.models()] == ["m0"]
