"""``slotguard flagged``: the accounts the service flagged, highest score first, with its reasons."""

from __future__ import annotations

import argparse
import logging
import re
from datetime import UTC, datetime, timedelta

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

log = logging.getLogger(__name__)

DESCRIPTION = """\
List the accounts whose current verdict is "flagged", highest score first, with the evidence
(reasons), the model that flagged them and the latest investigator decision, if any.

examples:
  slotguard flagged                                   # embedded store under the data directory
  slotguard flagged --site 93-bobigny --since 7d      # one site, flagged in the last 7 days
  slotguard flagged --since 2026-03-01 --limit 20 --format json | jq .account_id
  slotguard flagged --store clickhouse://default:@127.0.0.1:19000/slotguard

then look at one account with `slotguard account ACCOUNT_ID`, and record what you decided with
`slotguard decide ACCOUNT_ID confirm|dismiss|escalate --note ... --by ...`.

exit codes: 0 done (even when nothing is flagged), 2 store unreachable or unusable.
"""

_RELATIVE = re.compile(r"^(\d+)\s*([mhdw])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """``7d``, ``12h``, ``30m``, ``2w`` (ago), or an ISO date/time (naive = UTC)."""
    text = text.strip()
    match = _RELATIVE.match(text)
    if match:
        now = now or datetime.now(UTC)
        return now - timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--since {text!r}: use an ISO date/time (2026-03-01, 2026-03-01T09:00+01:00) or 30m, 12h, 7d, 2w"
        ) from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("--limit must be at least 1")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_store_argument(parser)
    parser.add_argument("--site", help="only this site, e.g. 93-bobigny")
    parser.add_argument(
        "--since", type=parse_since, metavar="WHEN", help="flagged at or after: 7d, 12h, 2026-03-01, ..."
    )
    parser.add_argument("--limit", type=_positive, default=50, metavar="N", help="at most N accounts")
    add_format_argument(parser)


def run(args: argparse.Namespace, settings: Settings) -> int:
    def action(store: Store) -> int:
        rows = store.flagged(site=args.site, since=args.since, limit=args.limit)
        if args.format == "json":
            emit_json(rows)
            return EXIT_OK
        show(rows, site=args.site)
        return EXIT_OK

    return with_store(settings, action)


def show(rows: list[dict[str, object]], *, site: str | None) -> None:
    """The readable table."""
    con = console()
    if not rows:
        con.print("no flagged accounts" + (f" on {site}" if site else "") + " in this store")
        return
    table = Table(title=f"{len(rows)} flagged accounts, highest score first", show_lines=False)
    for column in ("#", "account", "site", "score", "flagged at", "reasons", "decision"):
        table.add_column(column, overflow="fold")
    for rank, row in enumerate(rows, 1):
        reasons = row["reasons"]
        assert isinstance(reasons, list)
        score = row["score"]
        assert isinstance(score, float | int)
        table.add_row(
            str(rank),
            str(row["account_id"]),
            str(row["site"]),
            f"{score:.3f}",
            str(row["flagged_at"] or ""),
            "; ".join(str(r) for r in reasons),
            str(row["decision"] or ""),
        )
    con.print(table)
