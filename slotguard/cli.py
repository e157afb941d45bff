"""The ``slotguard`` command line: one entry point, one sub-command per module in ``slotguard.commands``.

Each command module exposes ``HELP`` (one line), ``DESCRIPTION`` (what it does, with examples),
``add_arguments(parser)`` and ``run(args, settings) -> int``. Modules are imported lazily so that
``slotguard --help`` stays instant.
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

#: sub-command name -> module under slotguard.commands, in the order --help lists them
COMMANDS: dict[str, str] = {
    "simulate": "simulate",
    "train": "train",
    "detect": "detect",
    "evaluate": "evaluate",
    "features": "features",
    "model": "model_info",
    "flagged": "flagged",
    "account": "account",
    "decide": "decide",
    "retention": "retention",
    "store": "store",
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


def build_parser() -> argparse.ArgumentParser:
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
    for name, module_name in COMMANDS.items():
        module = _load(module_name)
        command = sub.add_parser(name, help=module.HELP, description=module.DESCRIPTION, formatter_class=_Formatter)
        module.add_arguments(command)
        command.set_defaults(_module=module)
    return parser


def settings_from(args: argparse.Namespace) -> Settings:
    """Resolve settings from the parsed flags (only flags that exist for this command)."""
    flags = {key: getattr(args, key, None) for key in ("data_dir", "model", "store")}
    return resolve(flags=flags, config_path=args.config)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
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
