"""The batched, idempotent history writer that ``detect`` feeds while it runs.

Rows are buffered as columns (a list per column, per table) and inserted in batches of
``batch_rows``: when a table's buffer reaches that size, or when ``flush_interval_s`` has passed
since the last flush, checked at every ``add_*`` call (no background thread: the caller's loop is
the clock, and nothing runs behind its back).

Idempotency is by key, not by luck: every table's ORDER BY is its key (see ``docs/storage.md``),
rows keep their values across retries, and queries read one row per key. So a batch whose insert
was applied but whose acknowledgement was lost can simply be sent again.

Faults: when the store cannot be reached, rows stay buffered. Flushes triggered by ``add_*`` make
one attempt per backoff interval (doubling, capped) so detection is never stalled by sleeps;
``flush()`` and ``close()`` retry ``max_retries`` times with the same backoff, sleeping in between.
Whatever is still buffered at ``close()`` is reported as unwritten, never dropped silently. A batch
the store refuses outright (a permanent error) is counted as rejected and logged, so that one bad
batch cannot block the rest. Buffers are bounded (``max_pending_rows`` per table): beyond that,
while the store stays down, the oldest rows are dropped and counted.

Not thread-safe: one writer per thread.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from features.records import Snapshot
from ingest.contract import AnyEvent
from ingest.deadletter import DeadLetter
from ingest.pseudonym import Pseudonymizer
from models.records import Flag, Verdict
from storage.backends import Backend
from storage.errors import StoreQueryError, StoreUnavailable
from storage.rows import (
    TABLE_COLUMNS,
    Columns,
    dead_letter_columns,
    event_columns,
    feature_set_id,
    flag_columns,
    snapshot_columns,
    verdict_columns,
)

log = logging.getLogger(__name__)

#: flush order: feature names land before the snapshots that refer to them
TABLES: tuple[str, ...] = ("events", "dead_letters", "feature_sets", "snapshots", "verdicts", "flags")


@dataclass
class TableReport:
    """What happened to one table's rows."""

    written: int = 0
    #: still buffered when the report was made (the store was unreachable)
    pending: int = 0
    #: refused by the store (permanent error), not retried
    rejected: int = 0
    #: dropped because the buffer bound was reached while the store was unreachable
    dropped: int = 0
    #: failed insert attempts that were (or will be) retried
    retries: int = 0

    @property
    def unwritten(self) -> int:
        return self.pending + self.rejected + self.dropped


@dataclass
class WriteReport:
    """Rows written and rows that could not be written, per table."""

    tables: dict[str, TableReport] = field(default_factory=dict)

    @property
    def written(self) -> int:
        return sum(t.written for t in self.tables.values())

    @property
    def unwritten(self) -> int:
        return sum(t.unwritten for t in self.tables.values())

    @property
    def retries(self) -> int:
        return sum(t.retries for t in self.tables.values())

    @property
    def ok(self) -> bool:
        return self.unwritten == 0

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: totals and per-table figures."""
        return {
            "written": self.written,
            "unwritten": self.unwritten,
            "retries": self.retries,
            "tables": {
                name: {
                    "written": t.written,
                    "unwritten": t.unwritten,
                    "pending": t.pending,
                    "rejected": t.rejected,
                    "dropped": t.dropped,
                    "retries": t.retries,
                }
                for name, t in self.tables.items()
                if t.written or t.unwritten or t.retries
            },
        }

    def summary(self) -> str:
        """One line for a person, e.g. ``history: 10234 rows written, 0 unwritten``."""
        text = f"history: {self.written} rows written, {self.unwritten} could not be written"
        details = [
            f"{name} {t.unwritten} ({t.pending} pending, {t.rejected} rejected, {t.dropped} dropped)"
            for name, t in self.tables.items()
            if t.unwritten
        ]
        if details:
            text += ": " + "; ".join(details)
        if self.retries:
            text += f" [{self.retries} retried attempts]"
        return text


class _Buffer:
    """Column lists for one table."""

    def __init__(self, columns: Sequence[str]) -> None:
        self.names = tuple(columns)
        self.cols: Columns = {name: [] for name in self.names}
        self.rows = 0

    def extend(self, cols: Columns) -> None:
        n = len(cols[self.names[0]])
        for name in self.names:
            self.cols[name].extend(cols[name])
        self.rows += n

    def head(self, n: int) -> Columns:
        if n >= self.rows:
            return self.cols
        return {name: values[:n] for name, values in self.cols.items()}

    def drop_head(self, n: int) -> None:
        n = min(n, self.rows)
        if n == self.rows:
            self.cols = {name: [] for name in self.names}
        else:
            for values in self.cols.values():
                del values[:n]
        self.rows -= n


class HistoryWriter:
    """Buffers history rows per table and writes them in columnar batches; see the module docstring."""

    def __init__(
        self,
        backend: Backend,
        database: str,
        pseudonymizer: Pseudonymizer,
        *,
        batch_rows: int = 10_000,
        flush_interval_s: float = 1.0,
        max_retries: int = 5,
        backoff_s: float = 0.5,
        max_backoff_s: float = 30.0,
        max_pending_rows: int = 2_000_000,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if batch_rows < 1:
            raise ValueError("batch_rows must be at least 1")
        if max_retries < 0:
            raise ValueError("max_retries must be 0 or more")
        self._backend = backend
        self._database = database
        self._pseudo = pseudonymizer
        self.batch_rows = batch_rows
        self.flush_interval_s = flush_interval_s
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.max_pending_rows = max(max_pending_rows, batch_rows)
        self._clock = clock
        self._sleep = sleep
        self._buffers = {name: _Buffer(TABLE_COLUMNS[name]) for name in TABLES}
        self._reports = {name: TableReport() for name in TABLES}
        self._feature_sets: set[str] = set()
        self._last_flush = clock()
        self._failures = 0  # consecutive failed attempts (drives the backoff)
        self._next_attempt = 0.0  # automatic flushes wait until then after a failure
        self._closed: WriteReport | None = None

    # --- adding rows ----------------------------------------------------------------------

    def add_events(self, events: Sequence[AnyEvent], raws: Sequence[str]) -> None:
        """Buffer validated events with their raw lines (addresses pseudonymised before storage)."""
        if events:
            self._add("events", event_columns(events, raws, self._pseudo))

    def add_dead_letters(self, rows: Sequence[DeadLetter]) -> None:
        """Buffer rejected input lines with their reasons (addresses pseudonymised)."""
        if rows:
            self._add("dead_letters", dead_letter_columns(rows, self._pseudo, int(time.time() * 1000)))

    def add_snapshots(
        self,
        rows: Sequence[Snapshot],
        scores: Sequence[float],
        model_version: str,
        feature_names: Sequence[str],
    ) -> None:
        """Buffer the feature vectors an account was scored on, with the scores and the model version."""
        if not rows:
            return
        feature_set = feature_set_id(feature_names)
        if feature_set not in self._feature_sets:
            self._feature_sets.add(feature_set)
            self._buffers["feature_sets"].extend(
                {
                    "feature_set": [feature_set],
                    "feature_names": [list(feature_names)],
                    "registered_ms": [int(time.time() * 1000)],
                }
            )
        self._add("snapshots", snapshot_columns(rows, scores, model_version, feature_set, time.time_ns()))

    def add_verdicts(self, rows: Sequence[Verdict]) -> None:
        """Buffer verdicts (key: account, model version, scored_at)."""
        if rows:
            self._add("verdicts", verdict_columns(rows, time.time_ns()))

    def add_flags(self, rows: Sequence[Flag]) -> None:
        """Buffer raised alerts (key: site, flagged_at, account, model version)."""
        if rows:
            self._add("flags", flag_columns(rows, time.time_ns()))

    # --- flushing --------------------------------------------------------------------------

    def flush(self) -> None:
        """Write everything buffered now, retrying up to ``max_retries`` times with backoff.

        Rows that still cannot be written stay buffered (and are reported by ``close()``).
        """
        self._check_open()
        self._flush([t for t in TABLES if self._buffers[t].rows], blocking=True)

    def flush_due(self) -> None:
        """Write what is buffered if the flush interval has passed and the backoff allows, with one
        attempt and no sleep: for a caller whose input went quiet while the store was down (rows
        otherwise wait for the next ``add_*``)."""
        self._check_open()
        now = self._clock()
        if now >= self._next_attempt and now - self._last_flush >= self.flush_interval_s:
            self._flush([t for t in TABLES if self._buffers[t].rows], blocking=False)

    def close(self) -> WriteReport:
        """Flush (with retries) and report rows written and rows that could not be written."""
        if self._closed is not None:
            return self._closed
        self._flush([t for t in TABLES if self._buffers[t].rows], blocking=True)
        report = self.report()
        if report.unwritten:
            log.error("%s (store %s)", report.summary(), self._backend.url.display())
        else:
            log.info("%s", report.summary())
        self._closed = report
        return report

    def report(self) -> WriteReport:
        """Figures so far; ``pending`` counts rows still buffered."""
        tables: dict[str, TableReport] = {}
        for name in TABLES:
            r = self._reports[name]
            tables[name] = TableReport(
                written=r.written,
                pending=self._buffers[name].rows,
                rejected=r.rejected,
                dropped=r.dropped,
                retries=r.retries,
            )
        return WriteReport(tables=tables)

    @property
    def buffered_rows(self) -> int:
        """Rows held in memory, all tables together."""
        return sum(b.rows for b in self._buffers.values())

    def __enter__(self) -> HistoryWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- internals -------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed is not None:
            raise RuntimeError("this history writer is closed")

    def _add(self, table: str, cols: Columns) -> None:
        self._check_open()
        buffer = self._buffers[table]
        buffer.extend(cols)
        now = self._clock()
        if now < self._next_attempt:  # the store failed recently: hold rows, bounded
            self._bound(table)
            return
        if now - self._last_flush >= self.flush_interval_s:
            due = [t for t in TABLES if self._buffers[t].rows]
        else:
            due = [t for t in TABLES if self._buffers[t].rows >= self.batch_rows]
            if due and "snapshots" in due and self._buffers["feature_sets"].rows:
                due.insert(0, "feature_sets")
        if due:
            self._flush(due, blocking=False)
        self._bound(table)

    def _flush(self, tables: Sequence[str], *, blocking: bool) -> None:
        self._last_flush = self._clock()
        for table in tables:
            buffer = self._buffers[table]
            while buffer.rows:
                n = min(buffer.rows, self.batch_rows)
                if not self._insert(table, buffer.head(n), n, blocking=blocking):
                    return  # the store is unreachable: keep everything, try again later
                buffer.drop_head(n)

    def _insert(self, table: str, cols: Columns, n: int, *, blocking: bool) -> bool:
        """Insert one batch; True if it is done with (written or rejected), False if it must wait."""
        report = self._reports[table]
        attempts = 1 + (self.max_retries if blocking else 0)
        qualified = f"{self._database}.{table}"
        for attempt in range(1, attempts + 1):
            try:
                self._backend.insert(qualified, cols)
            except StoreUnavailable as exc:
                report.retries += 1
                self._failures += 1
                delay = min(self.max_backoff_s, self.backoff_s * 2 ** (self._failures - 1))
                if attempt < attempts:
                    log.warning(
                        "writing %d rows to %s failed (%s); retry %d/%d in %.2fs",
                        n,
                        table,
                        exc,
                        attempt,
                        self.max_retries,
                        delay,
                    )
                    self._sleep(delay)
                    continue
                self._next_attempt = self._clock() + delay
                log.warning(
                    "store unreachable (%s): holding %d buffered rows; next attempt in %.2fs",
                    exc,
                    self.buffered_rows,
                    delay,
                )
                return False
            except StoreQueryError as exc:
                report.rejected += n
                log.error("the store refused %d rows for %s, not retrying: %s", n, table, exc)
                return True
            report.written += n
            if self._failures:
                log.info("store reachable again; %d rows written to %s", n, table)
            self._failures = 0
            self._next_attempt = 0.0
            return True
        return False

    def _bound(self, table: str) -> None:
        buffer = self._buffers[table]
        excess = buffer.rows - self.max_pending_rows
        if excess > 0:
            buffer.drop_head(excess)
            self._reports[table].dropped += excess
            log.error(
                "store unreachable and %s buffer full (%d rows): dropped the %d oldest rows",
                table,
                self.max_pending_rows,
                excess,
            )
