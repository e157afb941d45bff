"""``slotguard labels export``: investigators' decisions as training labels (JSON lines)."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import msgspec
from rich.table import Table

from slotguard.commands.store import EXIT_OK, add_format_argument, add_store_argument, console, emit_json, with_store
from slotguard.config import Settings
from storage import Store

log = logging.getLogger(__name__)

DESCRIPTION = """\
Export the latest decision per account as a training label: confirm = 1 (scalper), dismiss = 0
(legitimate), escalate = null (undecided). The same rows the console's "export labels" button
gives a data scientist. The export is written to the audit trail.

examples:
  slotguard labels export --out var/labels.jsonl
  slotguard labels export -o json | jq 'select(.label == 0)'

exit codes: 0 done, 2 store unreachable or unusable.
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="labels_action", metavar="ACTION", required=True)
    export = sub.add_parser("export", help="write the labels (JSON lines to --out, or a table / JSON to stdout)")
    export.add_argument("--out", type=Path, metavar="FILE", help="write JSON lines to this file")
    add_store_argument(export)
    add_format_argument(export)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from slotguard.commands.users import _operator

    def action(store: Store) -> int:
        labels = store.labels()
        operator = _operator()
        store.audit_append(
            username=operator, role="data-scientist", action="export_labels", detail={"labels": len(labels)}
        )
        if args.out is not None:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_bytes(b"".join(msgspec.json.encode(row) + b"\n" for row in labels))
            console().print(f"{len(labels)} labels written to {args.out}")
        elif args.format == "json":
            emit_json(labels)
        else:
            table = Table("account", "decision", "label", "by", "at", "note", title=f"{len(labels)} labels")
            for row in labels:
                label = "" if row["label"] is None else str(row["label"])
                table.add_row(row["account_id"], row["decision"], label, row["by"], row["at"], row["note"])
            console().print(table)
        return EXIT_OK

    return with_store(settings, action)
