"""The ``slotguard`` command line: one entry point, one sub-command per module in ``slotguard.commands``.

Each command module exposes ``HELP`` (one line), ``DESCRIPTION`` (what it does, with examples),
``add_arguments(parser)`` and ``run(args, settings) -> int``; its one-line help is in ``COMMANDS``.
Only the module of the command being run is imported (heavy libraries stay unloaded for
``slotguard --help`` and for the other commands), so help is instant.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence
from types import ModuleType

from slotguard import __version__
from slotguard.config import ConfigError, Settings, resolve

#: sub-command name -> (module under slotguard.commands, one-line help), in the order --help lists them
COMMANDS: dict[str, tuple[str, str]] = {
    "simulate": ("simulate", "simulate a labelled world of booking traffic (legit applicants, associations, scalpers)"),
    "train": ("train", "build the model from labelled worlds; save a versioned artifact"),
    "detect": ("detect", "score accounts in a file of booking events and write verdicts"),
    "produce": ("produce", "publish a file of booking events to Kafka, keyed by account (idempotent producer)"),
    "worker": ("worker", "run the streaming detector: a Faust worker on Kafka, same verdicts as detect"),
    "stack": ("stack", "start, stop or check the local Kafka broker and ClickHouse server (development, tests)"),
    "evaluate": ("evaluate", "measure verdicts against labels (AP, precision/recall, false positives per role)"),
    "features": ("features", "list the behavioural features the model uses"),
    "model": ("model_info", "show the model artifact: version, threshold, training data, metrics"),
    "flagged": ("flagged", "list flagged accounts from the history store, highest score first, with reasons"),
    "account": ("account", "an account's timeline, current verdict and reasons, decisions and linked accounts"),
    "decide": ("decide", "record a decision on an account: confirm, dismiss or escalate (becomes a training label)"),
    "retention": ("retention", "drop history older than N months (whole monthly partitions); --dry-run lists them"),
    "store": ("store", "create/upgrade the history store, show its state, export training labels"),
    "console": ("console", "serve the investigator console (web): queue, evidence, operations, decisions, audit"),
    "users": ("users", "add, list, disable or enable the console's users and their roles (admins)"),
    "audit": ("audit", "read the console's audit trail: who viewed, searched or decided what, when, and why"),
    "labels": ("labels", "export investigators' decisions as training labels (JSON lines)"),
}

EPILOG = """\
a first run, end to end:
  slotguard simulate --seed 7 --accounts 2000 --days 5 --out var/world
  slotguard detect var/world/events.jsonl --out var/world/verdicts.jsonl
  slotguard evaluate --labels var/world/labels.jsonl var/world/verdicts.jsonl

configuration: flags > SLOTGUARD_* environment > --config FILE / ./slotguard.toml > defaults.
"""


class _Formatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """Keep hand-written line breaks in descriptions and show defaults."""


def _load(module_name: str) -> ModuleType:
    return importlib.import_module(f"slotguard.commands.{module_name}")


def _chosen(argv: Sequence[str]) -> str | None:
    """The sub-command named on the command line (the first command word not an option's value)."""
    skip = False
    for word in argv:
        if skip:
            skip = False
        elif word in _VALUED_OPTIONS:
            skip = True
        elif word in COMMANDS:
            return word
    return None


#: top-level options followed by a value (which may happen to spell a command name)
_VALUED_OPTIONS = frozenset({"--config", "--data-dir", "--model"})


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; only ``command``'s module is imported to describe its arguments."""
    parser = argparse.ArgumentParser(
        prog="slotguard",
        description="Flag accounts that scalp appointment slots, with evidence an investigator can check.",
        epilog=EPILOG,
        formatter_class=_Formatter,
    )
    parser.add_argument("--version", action="version", version=f"slotguard {__version__}")
    parser.add_argument("--config", help="TOML config file (default: $SLOTGUARD_CONFIG or ./slotguard.toml)")
    parser.add_argument("--data-dir", dest="data_dir", help="where embedded stores and runs live [var]")
    parser.add_argument("--model", help="model artifact directory [models/artifacts/default]")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-vv: debug)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module_name, one_line) in COMMANDS.items():
        if name != command:
            sub.add_parser(name, help=one_line)
            continue
        module = _load(module_name)
        chosen = sub.add_parser(name, help=one_line, description=module.DESCRIPTION, formatter_class=_Formatter)
        module.add_arguments(chosen)
        chosen.set_defaults(_module=module)
    return parser


def settings_from(args: argparse.Namespace) -> Settings:
    """Resolve settings from the parsed flags (only flags that exist for this command)."""
    flags = {key: getattr(args, key, None) for key in ("data_dir", "model", "store", "brokers")}
    return resolve(flags=flags, config_path=args.config)


def main(argv: Sequence[str] | None = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(_chosen(words))
    args = parser.parse_args(words)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        settings = settings_from(args)
    except ConfigError as exc:
        print(f"slotguard: configuration error: {exc}", file=sys.stderr)
        return 2
    level = [settings.log_level, "INFO", "DEBUG"][min(args.verbose, 2)]
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return int(args._module.run(args, settings))
    except KeyboardInterrupt:
        print("slotguard: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
