"""``slotguard evaluate``: measure verdicts against ground-truth labels; write a report with a plot."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from models.evaluation import evaluate, first_bookings, markdown, plot_pr, read_verdicts
from models.labels import read_labels
from slotguard.config import Settings
from slotguard.output import add_format_flag, table

DESCRIPTION = """\
Compares verdicts (from `slotguard detect`) with ground-truth labels (from `slotguard simulate`,
or exported investigator decisions) and reports: average precision of the scores, precision and
recall of `flagged`, the best recall reachable at 95% precision, the false-positive rate of each
legitimate role (buyers, the scalpers' victims, included), recall per scalping style, and the
delay between an account's first booking and its flag (needs the events file).

Writes a Markdown report with a precision-recall plot (PNG) next to the verdicts unless --report
says where.

examples:
  slotguard evaluate --labels var/world/labels.jsonl var/world/verdicts.jsonl
  slotguard evaluate --labels labels.jsonl verdicts.jsonl --events events.jsonl --report out/report.md
  slotguard evaluate --labels labels.jsonl verdicts.jsonl --format json | jq .average_precision
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("verdicts", type=Path, help="verdicts file (JSON Lines)")
    parser.add_argument("--labels", type=Path, required=True, help="labels file (JSON Lines)")
    parser.add_argument(
        "--events", type=Path, help="events file, for detection delays (default: events.jsonl beside the labels)"
    )
    parser.add_argument("--report", type=Path, help="Markdown report path (default: <verdicts>.report.md)")
    add_format_flag(parser)


def run(args: argparse.Namespace, settings: Settings) -> int:
    try:
        labels = read_labels(args.labels)
        verdicts = read_verdicts(args.verdicts)
    except (FileNotFoundError, ValueError) as exc:
        print(f"slotguard evaluate: {exc}", file=sys.stderr)
        return 2
    events = args.events or args.labels.with_name("events.jsonl")
    booked = first_bookings(events) if events.is_file() else None
    result = evaluate(verdicts, labels, booked)
    report = args.report or args.verdicts.with_name(args.verdicts.stem + ".report.md")
    plot = plot_pr(result, report.with_suffix(".pr.png"))
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text(markdown(result, plot.name if plot else None, title=f"Detection quality: {args.verdicts}"))
    result.pop("pr_curve", None)
    result["report"] = str(report)
    if args.format == "json":
        print(json.dumps(result))
        return 0
    delay = result.get("delay_after_first_booking_s")
    rows = [
        ("accounts (scalpers)", f"{result['accounts']} ({result['scalpers']})"),
        ("average precision", f"{result.get('average_precision', float('nan')):.4f}"),
        ("precision / recall of flagged", f"{result['precision']:.4f} / {result['recall']:.4f}"),
        ("best recall at precision >= 0.95", f"{result.get('recall_at_precision_95', float('nan')):.4f}"),
        ("legit false-positive rate (worst role)", f"{result['legit_fpr']:.4%} ({result['worst_legit_role_fpr']:.4%})"),
    ]
    if delay:
        rows.append(("delay after first booking, median / p90", f"{delay['median']:.0f} s / {delay['p90']:.0f} s"))
    rows.append(("report", str(report)))
    table(rows, ("", "value"), title="evaluate")
    table(
        [
            (role, "yes" if r["scalper"] else "no", r["accounts"], r["flagged"], f"{r['rate']:.2%}")
            for role, r in result["roles"].items()
        ],
        ("role", "scalper", "accounts", "flagged", "rate"),
        title="by role",
    )
    return 0
