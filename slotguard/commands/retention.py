"""``slotguard retention apply``: drop whole months of history older than N months (GDPR)."""

from __future__ import annotations

import argparse
import logging
from datetime import UTC, date, datetime

from rich.table import Table

from slotguard.commands.store import (
    EXIT_OK,
    add_format_argument,
    add_store_argument,
    console,
    emit_json,
    with_store,
)
from slotguard.config import Settings
from storage import Store
from storage.retention import cutoff_month

log = logging.getLogger(__name__)

DESCRIPTION = """\
Delete personal history older than N months, a whole calendar month at a time: every table that
holds events, links, dead letters, snapshots, verdicts, flags or decisions is partitioned by month,
and a month goes when all of it is older than N months. Dropping partitions works on every
ClickHouse version and frees the space at once. The model registry is kept.

With --months 6 on 2026-03-15, months up to 2025-08 are dropped; 2025-09 onwards are kept.

examples:
  slotguard retention apply --months 6 --dry-run      # list what would go, change nothing
  slotguard retention apply --months 6                # drop it
  slotguard retention apply --months 13 --as-of 2026-03-31 --format json --store clickhouse://...

exit codes: 0 done, 2 store unreachable or unusable.
"""


def _months(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("--months must be at least 1")
    return value


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--as-of {text!r}: use YYYY-MM-DD") from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="retention_action", metavar="ACTION", required=True)
    apply = sub.add_parser(
        "apply",
        help="drop monthly partitions older than --months",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    apply.add_argument("--months", type=_months, required=True, metavar="N", help="keep the last N months")
    apply.add_argument("--dry-run", action="store_true", help="list the partitions that would go; drop nothing")
    apply.add_argument(
        "--as-of", type=_day, metavar="DATE", help="count months back from this day (default: today, UTC)"
    )
    add_store_argument(apply)
    add_format_argument(apply)


def run(args: argparse.Namespace, settings: Settings) -> int:
    as_of = args.as_of or datetime.now(UTC).date()

    def action(store: Store) -> int:
        doomed = store.retention(args.months, as_of=as_of, dry_run=args.dry_run)
        keep_from = cutoff_month(args.months, as_of)
        verb = "would drop" if args.dry_run else "dropped"
        if args.format == "json":
            emit_json([{**p.as_dict(), "action": verb.replace(" ", "_")} for p in doomed])
            return EXIT_OK
        con = console()
        kept = f"{keep_from // 100:04d}-{keep_from % 100:02d}"
        if not doomed:
            con.print(f"nothing older than {kept} to drop ({args.months} months before {as_of})")
            return EXIT_OK
        table = Table("table", "month", "rows", "bytes", title=f"{verb} {len(doomed)} partitions (keeping {kept} on)")
        for p in doomed:
            d = p.as_dict()
            table.add_row(p.table, str(d["month"]), f"{p.rows:,}", f"{p.bytes:,}")
        con.print(table)
        total = sum(p.rows for p in doomed)
        con.print(f"{verb} {total:,} rows" + ("; run again without --dry-run to drop them" if args.dry_run else ""))
        return EXIT_OK

    return with_store(settings, action)
