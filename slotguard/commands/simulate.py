"""``slotguard simulate``: build a labelled world of booking traffic (events, labels, world summary)."""

from __future__ import annotations

import argparse
import logging
import sys
import time
from datetime import date
from pathlib import Path

from simulator import (
    PRESET_DESCRIPTIONS,
    ROLE_DESCRIPTIONS,
    SCALPER_ROLES,
    MixError,
    WorldParams,
    describe,
    simulate,
)
from simulator.params import DEFAULT_START, SITES
from slotguard.config import Settings

logger = logging.getLogger(__name__)

HELP = "simulate a labelled world of booking traffic (applicants, offices, public PCs, scalping operations)"


def _roles_text() -> str:
    lines = []
    for role, text in ROLE_DESCRIPTIONS.items():
        tag = "scalper" if role in SCALPER_ROLES else "legit  "
        lines.append(f"  {role:<22} {tag} {text}")
    return "\n".join(lines)


def _presets_text() -> str:
    return "\n".join(f"  {name:<12} {text}" for name, text in PRESET_DESCRIPTIONS.items())


DESCRIPTION = f"""\
Simulate prefecture appointment booking: slots open in batches, far more applicants search than
there are slots, scalping operations grab fresh slots and resell them to applicants.
Writes, under --out:
  events.jsonl  contract-v1 events (ingest.contract structs and encoder), one JSON object per
                line, sorted by (ts, event_id)
  labels.jsonl  one line per account seen: role, scalper (bool), operation (op-... or null),
                style (the operation's style, or null), site; buyers also carry bought_from,
                sellers (the scalper accounts that delivered their slot), delivered_by
                (handoff_buyer_device / handoff_seller_operated / applicant_change /
                book_to_order / none), paid_to and scam (double_sold / nonexistent_slot / null)
  world.json    parameters, every per-world draw, every operation's structure (who watches and
                who books, delivery mix, hold release, infrastructure, sign-ups, e-mail), offices,
                venues, counts per role and event type, supply/demand/resale figures
Same arguments => byte-identical files. Behaviour parameters and the *structure* of the world
(which roles and styles, how each operation is organised) are drawn from the seed.

roles (label `role`; a scalper's role is its operation's style):
{_roles_text()}

mixes (--mix), or a custom list of weights, e.g.
  --mix ordinary=60,anxious_manual=10,public_pc=5,buyer=5,farm=10,bot_mobile=10
{_presets_text()}

scale: events grow with accounts x days; bots polling day and night are most of the volume.
  --accounts 2000 --days 5     ~0.2 M events, a few seconds
  --accounts 10000 --days 14   ~1-2 M events, ~25-50 s (`mobile` is the heaviest), ~100 MB of memory
  appointments are a few days to weeks ahead: use --days 10 or more to see many
  attended / no-show outcomes.

examples:
  slotguard simulate --seed 7 --accounts 2000 --days 5 --out var/world
  slotguard simulate --seed 8 --accounts 2000 --days 10 --mix quiet --out var/calibration
  slotguard simulate --seed 9 --accounts 5000 --days 7 --mix hard --sites 5 --out var/hard
  slotguard simulate --seed 10 --accounts 3000 --days 10 --mix random --out var/random-10
  slotguard simulate --seed 1 --days 4 --start 2026-03-27 --out var/dst   # crosses the DST change
"""


def _start_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a YYYY-MM-DD date: {text!r}") from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of ``slotguard simulate``."""
    parser.add_argument("--seed", type=int, default=7, help="random seed (same seed and flags => same bytes)")
    parser.add_argument("--accounts", type=int, default=2000, help="number of accounts in the world")
    parser.add_argument("--days", type=int, default=5, help="simulated days (from --start, Paris midnight)")
    parser.add_argument("--out", required=True, type=Path, help="output directory (created if missing)")
    parser.add_argument(
        "--mix", default="default", help=f"role mix: a preset ({', '.join(PRESET_DESCRIPTIONS)}) or role=weight,..."
    )
    parser.add_argument("--sites", type=int, default=3, help=f"number of prefecture sites (1-{len(SITES)})")
    parser.add_argument("--start", type=_start_date, default=DEFAULT_START, help="first simulated day (YYYY-MM-DD)")


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Simulate the world and print a one-paragraph summary; exit 2 on unusable parameters."""
    try:
        params = WorldParams(
            seed=args.seed,
            accounts=args.accounts,
            days=args.days,
            mix=args.mix,
            sites=args.sites,
            start=args.start,
        )
    except (MixError, ValueError) as exc:
        print(f"slotguard simulate: {exc}", file=sys.stderr)
        return 2
    began = time.perf_counter()
    summary = simulate(params, args.out, progress=sys.stderr.isatty())
    elapsed = time.perf_counter() - began
    print(f"{describe(summary)} Wrote {args.out}/ in {elapsed:.1f} s.")
    return 0
