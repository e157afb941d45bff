"""Writer policy (backoff pacing, buffer bound, refused batches) with a scripted backend.

These pin the retry and accounting rules deterministically (fake clock, no sleeping). The same
behaviours against a real server that really goes away are in test_storage_faults.py.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ingest.pseudonym import Pseudonymizer
from storage import StoreUnavailable
from storage.errors import StoreQueryError
from storage.url import parse_store_url
from storage.writer import HistoryWriter
from tests.storage.builders import events, searches, verdict


class ScriptedBackend:
    """Fails while ``down`` is set; refuses tables listed in ``refuse``; records what was inserted."""

    kind = "scripted"

    def __init__(self) -> None:
        self.url = parse_store_url("clickhouse://scripted/db")
        self.down = False
        self.refuse: set[str] = set()
        self.rows: dict[str, int] = {}
        self.attempts = 0

    def insert(self, table: str, columns: Mapping[str, Sequence[Any]]) -> None:
        self.attempts += 1
        if self.down:
            raise StoreUnavailable("connection refused")
        name = table.rsplit(".", maxsplit=1)[-1]
        if name in self.refuse:
            raise StoreQueryError("type mismatch")
        self.rows[name] = self.rows.get(name, 0) + len(next(iter(columns.values())))

    def command(self, sql: str) -> None:  # pragma: no cover - unused
        pass

    def query(self, sql: str) -> list[tuple[Any, ...]]:  # pragma: no cover - unused
        return []

    def version(self) -> str:  # pragma: no cover - unused
        return "0"

    def close(self) -> None:  # pragma: no cover - unused
        pass


class Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def _writer(backend: ScriptedBackend, clock: Clock, **kw: Any) -> HistoryWriter:
    options: dict[str, Any] = {"batch_rows": 10, "flush_interval_s": 1.0, "max_retries": 3, "backoff_s": 0.1}
    options.update(kw)
    return HistoryWriter(backend, "db", Pseudonymizer("k"), clock=clock, sleep=clock.sleep, **options)


def test_automatic_flushes_never_sleep_and_pace_attempts_by_backoff() -> None:
    backend, clock = ScriptedBackend(), Clock()
    writer = _writer(backend, clock)
    backend.down = True
    evs, raws = events(searches("A", 10))
    writer.add_events(evs, raws)  # size reached: one attempt, fails, no sleep
    assert (backend.attempts, clock.slept) == (1, [])
    writer.add_events(*events(searches("A", 10, start=100)))  # inside the backoff: no attempt
    assert backend.attempts == 1
    clock.now += 0.1
    writer.add_events(*events(searches("A", 10, start=200)))  # backoff over: one more attempt
    assert backend.attempts == 2 and clock.slept == []
    clock.now += 0.15  # the backoff has doubled to 0.2
    writer.add_events(*events(searches("A", 1, start=300)))
    assert backend.attempts == 2
    backend.down = False
    clock.now += 0.1
    writer.add_events(*events(searches("A", 1, start=400)))
    report = writer.close()
    assert backend.rows["events"] == 32 and report.unwritten == 0 and report.retries == 2


def test_flush_retries_with_exponential_backoff_then_keeps_rows() -> None:
    backend, clock = ScriptedBackend(), Clock()
    writer = _writer(backend, clock, max_retries=3, backoff_s=0.1, max_backoff_s=0.3)
    writer.add_events(*events(searches("A", 5)))
    backend.down = True
    writer.flush()
    assert clock.slept == [0.1, 0.2, 0.3]  # doubling, capped
    assert writer.report().tables["events"].pending == 5
    report = writer.close()  # still down: reported, not dropped
    assert report.unwritten == 5 and report.tables["events"].pending == 5 and report.written == 0
    assert "could not be written" in report.summary()


def test_refused_batches_are_counted_and_do_not_block_the_rest() -> None:
    backend, clock = ScriptedBackend(), Clock()
    backend.refuse = {"events"}
    writer = _writer(backend, clock)
    writer.add_events(*events(searches("A", 3)))
    writer.add_verdicts([verdict("A", 0.9)])
    report = writer.close()
    assert report.tables["events"].rejected == 3 and report.tables["verdicts"].written == 1
    assert report.unwritten == 3 and backend.attempts == 2


def test_buffers_are_bounded_while_the_store_is_down() -> None:
    backend, clock = ScriptedBackend(), Clock()
    writer = _writer(backend, clock, batch_rows=10, max_pending_rows=25)
    backend.down = True
    for i in range(4):
        writer.add_events(*events(searches("A", 10, start=i * 100)))
    assert writer.report().tables["events"].dropped == 15
    report = writer.close()
    assert report.tables["events"].pending == 25 and report.unwritten == 40


def test_time_flush_writes_small_batches() -> None:
    backend, clock = ScriptedBackend(), Clock()
    writer = _writer(backend, clock, batch_rows=1000, flush_interval_s=2.0)
    writer.add_events(*events(searches("A", 3)))
    assert backend.rows == {}
    clock.now += 2.0
    writer.add_events(*events(searches("A", 1, start=10)))
    assert backend.rows == {"events": 4}
    writer.close()


def test_flush_due_writes_held_rows_once_the_store_is_back_without_new_rows() -> None:
    """A quiet caller's held rows are written by its periodic ``flush_due`` (one attempt, no sleep)."""
    backend, clock = ScriptedBackend(), Clock()
    writer = _writer(backend, clock, batch_rows=1000, flush_interval_s=1.0, backoff_s=0.5)
    backend.down = True
    clock.now += 1.0
    writer.add_events(*events(searches("A", 5)))  # interval passed: one attempt, fails
    assert backend.attempts == 1 and writer.buffered_rows == 5
    writer.flush_due()  # inside the backoff: no attempt
    assert backend.attempts == 1
    clock.now += 1.0
    writer.flush_due()  # still down: one attempt, rows kept, no sleep
    assert backend.attempts == 2 and writer.buffered_rows == 5 and clock.slept == []
    backend.down = False
    clock.now += 2.0
    writer.flush_due()
    assert backend.rows["events"] == 5 and writer.buffered_rows == 0 and clock.slept == []
