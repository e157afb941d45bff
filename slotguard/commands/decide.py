"""``slotguard decide``: record an investigator's decision on an account (a future training label)."""

from __future__ import annotations

import argparse
import logging
import sys

from slotguard.commands.store import (
    EXIT_OK,
    add_format_argument,
    add_store_argument,
    console,
    emit_json,
    with_store,
)
from slotguard.config import Settings
from storage import DECISIONS, Store

log = logging.getLogger(__name__)

DESCRIPTION = """\
Record what an investigator decided about an account, who decided and why. Decisions are kept as
history (every one is stored, with its time); the latest one per account is its training label:
confirm = scalper (1), dismiss = legitimate (0), escalate = undecided, needs a second look.

examples:
  slotguard decide acc-000123 confirm --note "12 handoffs to 3 buyers in a week" --by alice
  slotguard decide acc-000456 dismiss --note "social worker, applicants attend" --by bob
  slotguard decide acc-000789 escalate --note "shares devices with a farm" --by alice --format json

exit codes: 0 recorded, 1 unknown account (nothing stored about it: check the id), 2 store unreachable.
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("account_id", metavar="ACCOUNT_ID", help="the account's (pseudonymous) id")
    parser.add_argument("decision", choices=DECISIONS, help="confirm (scalper), dismiss, or escalate")
    parser.add_argument("--note", required=True, help="why: the evidence the decision rests on")
    parser.add_argument("--by", required=True, metavar="NAME", help="who decided")
    add_store_argument(parser)
    add_format_argument(parser)


def run(args: argparse.Namespace, settings: Settings) -> int:
    def action(store: Store) -> int:
        row = store.decide(args.account_id, args.decision, note=args.note, by=args.by)
        if args.format == "json":
            emit_json([row])
        else:
            console().print(
                f"recorded: {row['decision']} on {row['account_id']} by {row['by']} at {row['at']} "
                f"(decision {row['decision_id']})"
            )
        return EXIT_OK

    if not args.by.strip():
        print("slotguard: --by must name who decided", file=sys.stderr)
        return 2
    return with_store(settings, action)
