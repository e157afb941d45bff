"""``slotguard account``: one account's timeline, verdict, decisions and linked accounts."""

from __future__ import annotations

import argparse
import logging
from typing import Any

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
from storage import HANDOFF_WINDOW_S, Store

log = logging.getLogger(__name__)

DESCRIPTION = """\
Everything the history store knows about one account:
  - its events in time order (IP addresses appear as pseudonyms, never in the clear),
  - its current verdict (score, flagged, when, reasons, model version) and the alerts raised,
  - the investigator decisions recorded on it,
  - linked accounts: accounts sharing its devices, its addresses (by pseudonym) or its applicants,
    and handoff counterparts: who booked a slot within --handoff-window seconds after this account
    cancelled it (handoffs_out), and whose cancelled slot this account booked (handoffs_in).

examples:
  slotguard account acc-000123
  slotguard account acc-000123 --events 0 --format json > acc-000123.json   # every event
  slotguard account acc-000123 --handoff-window 60 --store clickhouse://default:@127.0.0.1:19000/slotguard

JSON keys: account_id, events, events_total, verdict, flags, decisions, label, linked
(shared_devices, shared_addresses, shared_applicants, handoffs_out, handoffs_in, counts).

exit codes: 0 found, 1 unknown account, 2 store unreachable or unusable.
"""


def _events(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("--events must be 0 (all) or more")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("account_id", metavar="ACCOUNT_ID", help="the account's (pseudonymous) id")
    add_store_argument(parser)
    parser.add_argument("--events", type=_events, default=1000, metavar="N", help="show the latest N events (0: all)")
    parser.add_argument(
        "--handoff-window",
        type=float,
        default=HANDOFF_WINDOW_S,
        metavar="SECONDS",
        help="a booking this soon after another account's cancel of the same slot is a handoff",
    )
    add_format_argument(parser)


def run(args: argparse.Namespace, settings: Settings) -> int:
    def action(store: Store) -> int:
        view = store.account(args.account_id, max_events=args.events or None, handoff_window_s=args.handoff_window)
        if args.format == "json":
            emit_json([view])
        else:
            show(view)
        return EXIT_OK

    return with_store(settings, action)


def _event_detail(event: dict[str, Any]) -> str:
    skip = {"event_id", "type", "ts", "site", "ip", "network", "device_id", "user_agent", "session_id"}
    return " ".join(f"{k}={v}" for k, v in event.items() if k not in skip)


def show(view: dict[str, Any]) -> None:
    """The readable report."""
    con = console()
    con.print(f"[bold]account {view['account_id']}[/]  sites: {', '.join(view['sites']) or '-'}")
    con.print(
        f"seen {view['first_seen'] or '-'} .. {view['last_seen'] or '-'}; "
        f"{view['events_total']} events ({view['events_shown']} shown)"
    )
    verdict = view["verdict"]
    if verdict:
        state = "[red]FLAGGED[/]" if verdict["flagged"] else "not flagged"
        con.print(
            f"verdict: {state}  score {verdict['score']:.3f}  model {verdict['model_version'] or '-'}  "
            f"scored at {verdict['scored_at']}"
            + (f"  flagged at {verdict['flagged_at']}" if verdict["flagged_at"] else "")
        )
        for reason in verdict["reasons"]:
            con.print(f"  - {reason}")
    else:
        con.print("verdict: none stored")
    if view["decisions"]:
        table = Table("at", "decision", "by", "note", title="decisions")
        for d in view["decisions"]:
            table.add_row(d["at"], d["decision"], d["by"], d["note"])
        con.print(table)
    linked = view["linked"]
    counts = linked["counts"]
    for key, title in (
        ("shared_devices", "accounts sharing a device"),
        ("shared_addresses", "accounts sharing an address (pseudonym)"),
        ("shared_applicants", "accounts booking for the same applicant"),
    ):
        if linked[key]:
            table = Table("account", "shared", "events", "first seen", "last seen", title=f"{title}: {counts[key]}")
            for r in linked[key]:
                table.add_row(r["account_id"], str(r["shared"]), str(r["events"]), r["first_seen"], r["last_seen"])
            con.print(table)
    window = linked["handoff_window_s"]
    for key, title in (
        ("handoffs_out", f"booked slots this account cancelled (within {window:g}s)"),
        ("handoffs_in", f"cancelled slots this account booked (within {window:g}s)"),
    ):
        if linked[key]:
            table = Table("account", "handoffs", "min gap (s)", "slots", title=f"{title}: {counts[key]}")
            for r in linked[key]:
                table.add_row(r["account_id"], str(r["count"]), f"{r['min_gap_s']:.1f}", ", ".join(r["slots"]))
            con.print(table)
    if view["events"]:
        table = Table("ts", "type", "site", "device", "ip (pseudonym)", "details", title="timeline")
        for e in view["events"]:
            table.add_row(
                e.get("ts", ""),
                e.get("type", ""),
                e.get("site", ""),
                e.get("device_id", ""),
                e.get("ip", ""),
                _event_detail(e),
            )
        con.print(table)
