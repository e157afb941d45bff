"""GDPR retention: drop whole monthly partitions older than N months.

Dropping a partition is a metadata operation that every ClickHouse version supports (unlike
``TTL``, which 18.16 lacks) and frees the space at once. The cut is by calendar month: with
``months=6`` on 2026-03-15, partitions up to and including 2025-08 go (everything in them is
older than six months); 2025-09 and later stay. The model registry and schema bookkeeping hold
no personal data and are never dropped.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date

from storage.backends import Backend
from storage.sql import lit, lits

log = logging.getLogger(__name__)

#: tables partitioned by month that hold personal (pseudonymous) data
RETAINED_TABLES: tuple[str, ...] = (
    "events",
    "entity_links",
    "slot_events",
    "dead_letters",
    "snapshots",
    "verdicts",
    "current_verdicts",
    "flags",
    "decisions",
)


@dataclass(frozen=True)
class Partition:
    """One month of one table."""

    table: str
    partition: str
    month: int
    rows: int
    bytes: int

    def as_dict(self) -> dict[str, object]:
        return {
            "table": self.table,
            "partition": self.partition,
            "month": f"{self.month // 100:04d}-{self.month % 100:02d}",
            "rows": self.rows,
            "bytes": self.bytes,
        }


def cutoff_month(months: int, as_of: date) -> int:
    """The oldest month kept, as YYYYMM: ``as_of``'s month minus ``months``."""
    if months < 1:
        raise ValueError("retention must keep at least 1 month")
    index = as_of.year * 12 + (as_of.month - 1) - months
    return (index // 12) * 100 + index % 12 + 1


def partitions(backend: Backend, database: str) -> list[Partition]:
    """Active monthly partitions of the retained tables, with rows and bytes on disk."""
    rows = backend.query(
        "SELECT table, partition, sum(rows), sum(bytes_on_disk) FROM system.parts "
        f"WHERE database = {lit(database)} AND active AND table IN {lits(RETAINED_TABLES)} "
        "GROUP BY table, partition ORDER BY table, partition"
    )
    found: list[Partition] = []
    for table, partition, nrows, nbytes in rows:
        text = str(partition).strip("'")
        if not text.isdigit() or len(text) != 6:
            log.warning("skipping partition %r of %s: not a YYYYMM month", partition, table)
            continue
        found.append(Partition(str(table), text, int(text), int(nrows), int(nbytes)))
    return found


def plan(backend: Backend, database: str, months: int, as_of: date) -> list[Partition]:
    """The partitions that ``apply`` would drop."""
    keep_from = cutoff_month(months, as_of)
    return [p for p in partitions(backend, database) if p.month < keep_from]


def drop(backend: Backend, database: str, doomed: list[Partition]) -> None:
    """Drop the given partitions (the YYYYMM value is the partition expression on every version)."""
    for p in doomed:
        log.info("dropping %s.%s partition %s (%d rows)", database, p.table, p.partition, p.rows)
        backend.command(f"ALTER TABLE {database}.{p.table} DROP PARTITION {p.month:d}")
