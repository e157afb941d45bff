"""``slotguard store``: create or upgrade the history store, check it, export labels and models.

Also home of the helpers the investigator commands share (``--store``/``--format`` flags, opening
the store with clear errors and exit codes, JSON lines and tables), so each command stays short.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Iterable
from typing import Any

import msgspec
from rich.console import Console
from rich.table import Table

from slotguard.config import Settings
from storage import Store, StoreError, StoreUnavailable, StoreUrlError, UnknownAccount, open_store

log = logging.getLogger(__name__)

#: exit codes shared by the investigator commands
EXIT_OK = 0
EXIT_NOT_FOUND = 1
EXIT_STORE = 2

STORE_HELP = (
    "history store: chdb:PATH (embedded) or clickhouse://USER:PASS@HOST:PORT/DB "
    "(default: $SLOTGUARD_STORE, the config file's `store`, else chdb:DATA_DIR/store)"
)

DESCRIPTION = """\
Manage the ClickHouse history store (embedded chDB by default, or a ClickHouse server).

actions:
  migrate   create the store if needed and apply pending schema migrations (safe to repeat)
  status    engine version, schema version, rows per table (logical, i.e. after deduplication)
  labels    the latest investigator decision per account, as training labels (JSON lines)
  models    the registered model versions and their metadata

examples:
  slotguard store migrate --store chdb:var/store
  slotguard store status --store clickhouse://default:@127.0.0.1:19000/slotguard
  slotguard store labels --format json > var/labels.jsonl
  SLOTGUARD_STORE=clickhouse://ch.example:9000/slotguard slotguard store status

exit codes: 0 done, 2 store unreachable or unusable.
"""


class _Formatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """Keep hand-written line breaks and show defaults (as the top-level CLI does)."""


# --- shared helpers ---------------------------------------------------------------------------


def add_store_argument(parser: argparse.ArgumentParser) -> None:
    """The ``--store URL`` flag (resolved into ``Settings.store_url`` by the CLI)."""
    parser.add_argument("--store", dest="store", metavar="URL", default=None, help=STORE_HELP)


def add_format_argument(parser: argparse.ArgumentParser) -> None:
    """The ``--format table|json`` flag (``-o json`` for short)."""
    parser.add_argument(
        "-o",
        "--format",
        choices=("table", "json"),
        default="table",
        help="table: readable; json: one JSON object per line",
    )


def with_store(settings: Settings, action: Callable[[Store], int], *, create: bool = False) -> int:
    """Open the store, run ``action``, close it; turn storage errors into messages and exit codes."""
    try:
        store = open_store(settings.store_url, pseudonym_key=settings.pseudonym_key, create=create)
    except StoreError as exc:
        return _report(exc)
    try:
        return action(store)
    except StoreError as exc:
        return _report(exc)
    finally:
        store.close()


def emit_json(objects: Iterable[Any]) -> None:
    """One compact JSON object per line on stdout."""
    out = sys.stdout
    for obj in objects:
        out.write(msgspec.json.encode(obj).decode())
        out.write("\n")
    out.flush()


def console() -> Console:
    """A rich console for tables: wide when not a terminal (pipes, files), so columns are not cut."""
    con = Console(highlight=False)
    if not con.is_terminal:
        con = Console(highlight=False, width=200)
    return con


# --- the `store` command --------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="store_action", metavar="ACTION", required=True)
    for name, text in (
        ("migrate", "create the store if missing and apply pending migrations"),
        ("status", "engine and schema versions, rows per table"),
        ("labels", "latest decision per account, as training labels"),
        ("models", "registered model versions"),
    ):
        action = sub.add_parser(name, help=text, description=text, formatter_class=_Formatter)
        add_store_argument(action)
        add_format_argument(action)


def run(args: argparse.Namespace, settings: Settings) -> int:
    action = args.store_action
    if action == "migrate":
        return with_store(settings, lambda store: _migrate(store, args.format), create=True)
    if action == "status":
        return with_store(settings, lambda store: _status(store, args.format))
    if action == "labels":
        return with_store(settings, lambda store: _labels(store, args.format))
    return with_store(settings, lambda store: _models(store, args.format))


def _migrate(store: Store, fmt: str) -> int:
    info = {
        "store": store.url.display(),
        "applied": store.applied_migrations,
        "schema_version": store.schema_version(),
    }
    if fmt == "json":
        emit_json([info])
    elif info["applied"]:
        print(f"{info['store']}: applied migrations {info['applied']}; schema version {info['schema_version']}")
    else:
        print(f"{info['store']}: schema already at version {info['schema_version']}; nothing to do")
    return EXIT_OK


def _status(store: Store, fmt: str) -> int:
    counts = store.counts()
    info = {
        "store": store.url.display(),
        "kind": store.kind,
        "engine_version": store.version(),
        "schema_version": store.schema_version(),
        "rows": counts,
    }
    if fmt == "json":
        emit_json([info])
        return EXIT_OK
    con = console()
    con.print(
        f"[bold]{info['store']}[/] ({info['kind']}, ClickHouse {info['engine_version']}), "
        f"schema version {info['schema_version']}"
    )
    table = Table("table", "rows (logical)")
    for name, n in counts.items():
        table.add_row(name, f"{n:,}")
    con.print(table)
    return EXIT_OK


def _labels(store: Store, fmt: str) -> int:
    labels = store.labels()
    if fmt == "json":
        emit_json(labels)
        return EXIT_OK
    table = Table("account", "decision", "label", "by", "at", "note", title=f"{len(labels)} labels")
    for row in labels:
        label = "" if row["label"] is None else str(row["label"])
        table.add_row(row["account_id"], row["decision"], label, row["by"], row["at"], row["note"])
    console().print(table)
    return EXIT_OK


def _models(store: Store, fmt: str) -> int:
    models = store.models()
    if fmt == "json":
        emit_json(models)
        return EXIT_OK
    table = Table("version", "created", "threshold", "features", "sklearn", title=f"{len(models)} models")
    for m in models:
        names = m["metadata"].get("feature_names") or []
        table.add_row(m["version"], m["created_at"], f"{m['threshold']:.4g}", str(len(names)), m["sklearn_version"])
    console().print(table)
    return EXIT_OK


def _report(exc: StoreError) -> int:
    """Say what went wrong with the store, and return the exit code for it."""
    if isinstance(exc, UnknownAccount):
        print(f"slotguard: {exc}", file=sys.stderr)
        return EXIT_NOT_FOUND
    if isinstance(exc, StoreUrlError):
        kind = "bad store URL"
    elif isinstance(exc, StoreUnavailable):
        kind = "store unavailable"
    else:
        kind = "store error"
    print(f"slotguard: {kind}: {exc}", file=sys.stderr)
    return EXIT_STORE
