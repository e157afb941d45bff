"""``slotguard train``: build the population prior and calibrate the threshold on labelled worlds."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from slotguard.config import Settings
from slotguard.output import key_values

DESCRIPTION = """\
Runs the same feature engine and detector that `detect` uses over one or more worlds (directories
holding events.jsonl and labels.jsonl, as written by `slotguard simulate`). The accounts' features
become the model's prior population (serving judges each site against its own accounts, with this
prior weighed as --prior-weight accounts); then every world is scored exactly as `detect` scores it
and the alert threshold is set so that at most --target-fpr of every legitimate role scores above
it, plus --margin. A separate --validate world is scored and evaluated. The artifact directory
(model.joblib + metadata.json) records feature names and hash, library versions, threshold,
training summary and validation metrics.

The default model is built this way by `make model` from fixed seeds, so it is reproducible.

examples:
  slotguard simulate --seed 1 --accounts 4000 --days 10 --out var/train
  slotguard simulate --seed 2 --accounts 2000 --days 10 --out var/valid
  slotguard train var/train --validate var/valid --out models/artifacts/mine
  SLOTGUARD_MODEL=models/artifacts/mine slotguard detect events.jsonl --out verdicts.jsonl
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("worlds", nargs="+", type=Path, help="world directories (events.jsonl + labels.jsonl)")
    parser.add_argument("--out", type=Path, required=True, help="artifact directory to write")
    parser.add_argument("--validate", type=Path, help="a separate world to measure the model on")
    parser.add_argument("--family-cap", type=float, default=2.0, help="most decades one family of evidence adds")
    parser.add_argument("--prior-weight", type=float, default=100.0, help="the prior population, in accounts")
    parser.add_argument(
        "--extrapolation", type=float, default=1.0, help="decades per feature unit beyond a site's reference"
    )
    parser.add_argument(
        "--target-fpr",
        type=float,
        default=0.002,
        help="share of each legitimate role's peak scores allowed above the threshold",
    )
    parser.add_argument("--margin", type=float, default=0.15, help="relative safety margin added to the threshold")


def _progress(stage: str, events: Path) -> Any:
    if not sys.stderr.isatty():
        return None
    from tqdm import tqdm

    bar = tqdm(total=events.stat().st_size, unit="B", unit_scale=True, desc=f"{stage} {events.parent.name}")
    return lambda done: bar.update(done - bar.n)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from models.artifact import save
    from models.training import TrainingOptions, train
    from models.worlds import WorldError

    options = TrainingOptions(
        extrapolation=args.extrapolation,
        family_cap=args.family_cap,
        prior_weight=args.prior_weight,
        target_fpr=args.target_fpr,
        margin=args.margin,
    )
    try:
        artifact = train(args.worlds, options, settings.engine, settings.pseudonym_key, args.validate, _progress)
    except WorldError as exc:
        print(f"slotguard train: {exc}", file=sys.stderr)
        return 2
    save(artifact, args.out)
    summary, evaluation = artifact.metadata["training"], artifact.metadata.get("evaluation") or {}
    shown: list[tuple[str, Any]] = [
        ("model version", artifact.version),
        ("artifact", str(args.out)),
        ("accounts (scalpers)", f"{summary['accounts']} ({summary['scalpers']})"),
        ("threshold", f"{artifact.threshold:.4f}"),
        ("training recall / legit FPR", f"{summary['training_recall']:.3f} / {summary['training_legit_fpr']:.4f}"),
    ]
    if evaluation:
        shown += [
            ("validation AP", f"{evaluation.get('average_precision', float('nan')):.4f}"),
            ("validation precision / recall", f"{evaluation['precision']:.4f} / {evaluation['recall']:.4f}"),
            ("validation worst legit role FPR", f"{evaluation['worst_legit_role_fpr']:.4%}"),
        ]
    key_values(shown, title="train", stream=sys.stderr)
    return 0
