"""``slotguard audit``: read the console's audit trail: who viewed which record, searched, decided."""

from __future__ import annotations

import argparse
import logging

from rich.table import Table

from slotguard.commands.flagged import parse_since
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
The audit trail, newest first: every view of an account or operation page, every search of the
queue, every decision, sign-in and label export made in the investigator console, and every user
change, with who, when, from which address and the purpose stated for the first view of an
account in a session. The trail is append-only: nothing in slotguard changes or deletes it.

examples:
  slotguard audit                                   # the latest 50 entries
  slotguard audit --user alice --since 7d
  slotguard audit --target acc-000123 -o json       # who looked at this account, and why
  slotguard audit --action decide --limit 500 -o json

exit codes: 0 done, 2 store unreachable or unusable.
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_store_argument(parser)
    parser.add_argument("--user", help="only this user's actions")
    parser.add_argument("--action", help="only this action (view_account, view_operation, search, decide, login, ...)")
    parser.add_argument("--target", help="only entries about this account (or other target)")
    parser.add_argument("--since", type=parse_since, metavar="WHEN", help="at or after: 7d, 12h, 2026-03-01, ...")
    parser.add_argument("--limit", type=int, default=50, metavar="N", help="at most N entries")
    add_format_argument(parser)


def run(args: argparse.Namespace, settings: Settings) -> int:
    def action(store: Store) -> int:
        rows = store.audit(
            username=args.user, action=args.action, target=args.target, since=args.since, limit=args.limit
        )
        if args.format == "json":
            emit_json(rows)
            return EXIT_OK
        table = Table(
            "at", "user", "role", "action", "target", "purpose", "address", title=f"{len(rows)} audit entries"
        )
        for r in rows:
            table.add_row(r["at"], r["username"], r["role"], r["action"], r["target"], r["purpose"], r["address"])
        console().print(table)
        return EXIT_OK

    return with_store(settings, action)
