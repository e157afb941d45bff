"""Detection quality on fresh worlds: seeds and mixes the default model was not trained or tuned on.

For each (seed, mix): simulate, detect with the default model, evaluate against the labels.
Prints one row per world and the pooled figures, against the targets of the detection issue.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from pathlib import Path
from typing import Any

import msgspec

from models.artifact import load
from models.evaluation import evaluate, first_bookings
from models.labels import LabelSet, read_labels
from slotguard.config import resolve
from slotguard.output import table
from slotguard.runner import detect
from tests.bench.worlds import cached_world

WORLDS = [
    (9501, "default"),
    (9502, "default"),
    (9503, "bot-heavy"),
    (9504, "farm-heavy"),
    (9505, "human-heavy"),
    (9506, "legit-heavy"),
]

TARGETS = {
    "average_precision": 0.97,
    "recall_at_precision_95": 0.95,
    "worst_legit_role_fpr": 0.005,
}


def world_quality(
    directory: Path, seed: int, mix: str, accounts: int, days: int, model: Path | None = None
) -> tuple[dict[str, Any], list[dict[str, Any]], LabelSet, dict[str, float]]:
    world = cached_world(directory / f"{mix}-{seed}", seed, accounts, days, mix)
    settings = resolve()
    out = io.BytesIO()
    detect(world / "events.jsonl", load(model or settings.model), settings, verdicts_out=out, dead_letters=None)
    verdicts = [msgspec.json.decode(line) for line in out.getvalue().splitlines()]
    labels = read_labels(world / "labels.jsonl")
    booked = first_bookings(world / "events.jsonl")
    return evaluate(verdicts, labels, booked), verdicts, labels, booked


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dir", type=Path, default=Path("var/quality"))
    parser.add_argument("--accounts", type=int, default=3000)
    parser.add_argument("--days", type=int, default=10)
    parser.add_argument("--format", choices=("table", "json"), default="table")
    parser.add_argument("--model", type=Path, help="model artifact (default: the configured one)")
    args = parser.parse_args(argv)
    rows, pooled_verdicts, pooled_labels = [], [], {}
    pooled_booked: dict[str, float] = {}
    for seed, mix in WORLDS:
        result, verdicts, labels, booked = world_quality(args.dir, seed, mix, args.accounts, args.days, args.model)
        rows.append((seed, mix, result))
        pooled_verdicts += verdicts
        pooled_labels.update(labels.by_account)
        pooled_booked.update(booked)
    pooled = evaluate(pooled_verdicts, LabelSet(pooled_labels), pooled_booked)
    pooled.pop("pr_curve", None)
    if args.format == "json":
        for seed, mix, result in rows:
            result.pop("pr_curve", None)
            print(json.dumps({"seed": seed, "mix": mix} | result))
        print(json.dumps({"pooled": pooled}))
        return 0
    table(
        [
            (
                seed,
                mix,
                f"{r['accounts']} ({r['scalpers']})",
                f"{r.get('average_precision', float('nan')):.4f}",
                f"{r['precision']:.3f} / {r['recall']:.3f}",
                f"{r.get('recall_at_precision_95', float('nan')):.3f}",
                f"{r['worst_legit_role_fpr']:.2%}",
                f"{r['roles'].get('buyer', {}).get('rate', 0.0):.2%}",
                f"{r['roles'].get('association', {}).get('flagged', 0)}",
            )
            for seed, mix, r in rows
        ],
        (
            "seed",
            "mix",
            "accounts (scalpers)",
            "AP",
            "precision / recall",
            "recall@P>=.95",
            "worst legit role",
            "buyers flagged",
            "assoc. flagged",
        ),
        title="quality on fresh worlds",
    )
    table(
        [
            (role, "yes" if r["scalper"] else "no", r["accounts"], r["flagged"], f"{r['rate']:.2%}")
            for role, r in pooled["roles"].items()
        ],
        ("role", "scalper", "accounts", "flagged", "rate"),
        title="pooled, by role",
    )
    delay = pooled.get("delay_after_first_booking_s", {})
    print(
        f"pooled: AP {pooled.get('average_precision', 0):.4f} (>= 0.97), recall@P>=.95 "
        f"{pooled.get('recall_at_precision_95', 0):.4f} (>= 0.95), precision {pooled['precision']:.4f}, "
        f"recall {pooled['recall']:.4f}, worst legit role {pooled['worst_legit_role_fpr']:.3%} (<= 0.5%), "
        f"delay after first booking median {delay.get('median', float('nan')) / 3600:.1f} h"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
