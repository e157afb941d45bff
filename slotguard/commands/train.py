"""``slotguard train``: fit the anomaly model on simulated (labelled) worlds and save an artifact."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from models.artifact import save
from models.evaluation import evaluate, first_bookings
from models.labels import LabelSet, read_labels
from models.training import ESTIMATORS, SnapshotSet, TrainingOptions, build_artifact, collect, digest_files, fit
from slotguard.config import Settings
from slotguard.output import key_values
from slotguard.runner import detect

HELP = "fit the model on labelled worlds; save a versioned artifact"
DESCRIPTION = """\
Runs the same feature engine that `detect` uses over one or more worlds (directories holding
events.jsonl and labels.jsonl, as written by `slotguard simulate`), fits the scikit-learn anomaly
model on every account's final features (unsupervised), calibrates the alert threshold on the peak
scores of legitimate accounts (at most --target-fpr of them above it), optionally evaluates on a
separate --validate world, and saves a versioned artifact directory (model.joblib + metadata.json:
feature names and hash, library versions, threshold, training summary, evaluation metrics).

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
    parser.add_argument(
        "--estimator",
        choices=ESTIMATORS,
        default="rarity",
        help="rarity: evidence rarity among legitimate accounts (default); isolation-forest: for comparison",
    )
    parser.add_argument(
        "--extrapolation", type=float, default=1.0, help="rarity: decades per unit beyond the reference"
    )
    parser.add_argument("--seed", type=int, default=0, help="isolation-forest: random seed")
    parser.add_argument("--trees", type=int, default=300, help="isolation-forest: trees")
    parser.add_argument("--max-samples", type=int, default=256, help="isolation-forest: accounts sampled per tree")
    parser.add_argument(
        "--target-fpr",
        type=float,
        default=0.002,
        help="share of each legitimate role's peak scores allowed above the threshold",
    )
    parser.add_argument("--margin", type=float, default=0.15, help="relative safety margin added to the threshold")


def _world_files(world: Path) -> tuple[Path, Path]:
    events, labels = world / "events.jsonl", world / "labels.jsonl"
    for path in (events, labels):
        if not path.is_file():
            raise FileNotFoundError(f"{world} is not a world directory: {path.name} is missing")
    return events, labels


def _progress_for(path: Path) -> Any:
    if not sys.stderr.isatty():
        return None, None
    from tqdm import tqdm

    bar = tqdm(total=path.stat().st_size, unit="B", unit_scale=True, desc=f"features {path.parent.name}", leave=False)
    return bar, lambda done: bar.update(done - bar.n)


def run(args: argparse.Namespace, settings: Settings) -> int:
    try:
        worlds = [_world_files(w) for w in args.worlds]
        validation = _world_files(args.validate) if args.validate else None
    except FileNotFoundError as exc:
        print(f"slotguard train: {exc}", file=sys.stderr)
        return 2
    snapshots = SnapshotSet()
    labels: dict[str, Any] = {}
    for events, label_path in worlds:
        bar, progress = _progress_for(events)
        world = collect(events, settings.engine, settings.pseudonym_key, progress)
        if bar is not None:
            bar.close()
        snapshots.account_ids += world.account_ids
        snapshots.times += world.times
        snapshots.blocks += world.blocks
        labels.update(read_labels(label_path).by_account)
    options = TrainingOptions(
        estimator=args.estimator,
        seed=args.seed,
        n_estimators=args.trees,
        max_samples=args.max_samples,
        extrapolation=args.extrapolation,
        target_fpr=args.target_fpr,
        margin=args.margin,
    )
    estimator, threshold, summary = fit(snapshots, LabelSet(labels), options)
    digest = digest_files([p for pair in worlds for p in pair])
    artifact = build_artifact(estimator, threshold, options, digest, summary, None)
    evaluation = None
    if validation is not None:
        events, label_path = validation
        _, detector = detect(events, artifact, settings, verdicts_out=None, dead_letters=None)
        verdicts = [v.contract_dict() for v in detector.results()]
        evaluation = evaluate(verdicts, read_labels(label_path), first_bookings(events))
        evaluation.pop("pr_curve", None)
        evaluation["world"] = str(args.validate)
        artifact = build_artifact(estimator, threshold, options, digest, summary, evaluation)
    save(artifact, args.out)
    shown: list[tuple[str, Any]] = [
        ("model version", artifact.version),
        ("artifact", str(args.out)),
        ("accounts (scalpers)", f"{summary['accounts']} ({summary['scalpers']})"),
        ("threshold", f"{threshold:.4f}"),
        ("training recall / legit FPR", f"{summary['training_recall']:.3f} / {summary['training_legit_fpr']:.4f}"),
    ]
    if evaluation is not None:
        shown += [
            ("validation AP", f"{evaluation.get('average_precision', float('nan')):.4f}"),
            ("validation precision / recall", f"{evaluation['precision']:.4f} / {evaluation['recall']:.4f}"),
            ("validation worst legit role FPR", f"{evaluation['worst_legit_role_fpr']:.4%}"),
        ]
    key_values(shown, title="train", stream=sys.stderr)
    return 0
