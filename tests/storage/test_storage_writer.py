"""The history writer against real ClickHouse (chDB and server): batching, idempotency, redaction."""

from __future__ import annotations

from ingest.deadletter import DeadLetter
from ingest.pseudonym import Pseudonymizer
from storage import Store
from storage.writer import HistoryWriter
from tests.storage.builders import events, flag, line, searches, snapshot, verdict
from tests.storage.conftest import KEY


def test_events_and_verdicts_written_twice_are_stored_once(store: Store) -> None:
    evs, raws = events(searches("A", 30) + searches("B", 20, start=1000))
    verdicts = [verdict("A", 0.9, when=10), verdict("B", 0.2, flagged=False, when=10)]
    for _ in range(2):  # a re-run, or a batch retried after a lost acknowledgement
        writer = store.writer(batch_rows=7)
        writer.add_events(evs, raws)
        writer.add_events(evs[:5], raws[:5])  # and duplicates inside one run
        writer.add_verdicts(verdicts)
        writer.add_flags([flag("A", 0.9, when=10)])
        writer.add_snapshots([snapshot("A", 10)], [0.9], "m1", ["f1", "f2", "f3"])
        report = writer.close()
        assert report.ok and report.tables["events"].written == 55
    counts = store.counts()
    assert counts["events"] == 50
    assert counts["verdicts"] == 2 and counts["flags"] == 1 and counts["snapshots"] == 1
    assert counts["feature_sets"] == 1
    assert store.counts(logical=False)["events"] >= 50
    view = store.account("A")
    assert view["events_total"] == 30 and len(view["events"]) == 30
    assert [e["event_id"] for e in view["events"]] == [e.event_id for e in evs[:30]]
    assert [r["account_id"] for r in store.flagged()] == ["A"]


def test_flush_by_size(store: Store) -> None:
    writer = store.writer(batch_rows=10, flush_interval_s=3600)
    writer.add_events(*events(searches("A", 6)))
    assert store.counts()["events"] == 0
    writer.add_events(*events(searches("A", 4, start=10)))
    assert store.counts()["events"] == 10  # the buffer reached batch_rows: written without flush()
    writer.add_events(*events(searches("A", 3, start=20)))
    assert store.counts()["events"] == 10
    assert writer.close().tables["events"].written == 13
    assert store.counts()["events"] == 13


def test_flush_by_time(store: Store) -> None:
    now = [0.0]
    writer = HistoryWriter(
        store.backend,
        store.database,
        Pseudonymizer(KEY),
        batch_rows=10_000,
        flush_interval_s=1.0,
        clock=lambda: now[0],
    )
    writer.add_verdicts([verdict("A", 0.9)])
    writer.add_events(*events(searches("A", 2)))
    assert store.counts()["events"] == 0
    now[0] = 1.5
    writer.add_events(*events(searches("A", 1, start=5)))
    counts = store.counts()
    assert counts["events"] == 3 and counts["verdicts"] == 1
    writer.close()


def test_no_address_is_stored_in_the_clear(store: Store) -> None:
    writer = store.writer()
    evs, raws = events(
        [
            line("login", 0, account_id="A", success=True, ip="192.0.2.7", x_forwarded_for="198.51.100.2"),
            line("slot_search", 1, account_id="A", service="s", results=0, ip="2001:db8::7"),
        ]
    )
    writer.add_events(evs, raws)
    writer.add_dead_letters([DeadLetter("in.jsonl", 9, "`ip` is bad near 203.0.113.9", '{"ip":"203.0.113.9"')])
    assert writer.close().ok
    dump = store.backend.query(
        f"SELECT concat(raw, ip, network) FROM {store.database}.events "
        f"UNION ALL SELECT concat(raw, reason) FROM {store.database}.dead_letters"
    )
    text = " ".join(r[0] for r in dump)
    for address in ("192.0.2.7", "198.51.100.2", "2001:db8::7", "203.0.113.9"):
        assert address not in text
    pseudo = Pseudonymizer(KEY)
    assert pseudo.ip("192.0.2.7") in text and pseudo.network("192.0.2.7") in text


def test_dead_letters_written_twice_are_stored_once(store: Store) -> None:
    rows = [DeadLetter("in.jsonl", i, "unparsable JSON", f"garbage {i}") for i in range(5)]
    for _ in range(2):
        writer = store.writer()
        writer.add_dead_letters(rows)
        writer.close()
    assert store.counts()["dead_letters"] == 5


def test_odd_ids_are_stored_and_found_verbatim(store: Store) -> None:
    odd = "acc-'quote\\back\nslash"
    writer = store.writer()
    writer.add_events(*events(searches(odd, 2)))
    writer.add_verdicts([verdict(odd, 0.7)])
    writer.close()
    assert store.account(odd)["events_total"] == 2
    assert store.flagged()[0]["account_id"] == odd
