"""Command line: ``python -m tests.worlds.blind --seed N --scenario NAME [--accounts N] [--days D] --out DIR``."""

from __future__ import annotations

import argparse
import json
import pathlib
import sys
import time

from . import SCENARIOS, generate
from .scenarios import ScenarioError


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, generate the world, print its summary as JSON."""
    lines = "\n".join(f"  {name:8s} {text}" for name, text in SCENARIOS.items())
    parser = argparse.ArgumentParser(
        prog="python -m tests.worlds.blind",
        description="Generate a blind booking-traffic world (events.jsonl, labels.jsonl, world.json).",
        epilog=f"scenarios:\n{lines}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--seed", type=int, required=True, help="random seed (same seed and arguments: same bytes)")
    parser.add_argument("--scenario", required=True, help="scenario name, or custom:ops=...;legit=...")
    parser.add_argument("--accounts", type=int, default=None, help="scale the population to about N accounts")
    parser.add_argument("--days", type=int, default=None, help="length of the simulated period in days")
    parser.add_argument("--out", type=pathlib.Path, required=True, help="output directory")
    args = parser.parse_args(argv)
    began = time.perf_counter()
    try:
        summary = generate(args.seed, args.scenario, args.out, accounts=args.accounts, days=args.days)
    except ScenarioError as exc:
        parser.error(str(exc))
    summary["seconds"] = round(time.perf_counter() - began, 2)
    json.dump(summary, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
