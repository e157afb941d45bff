"""``slotguard model``: show the model artifact in use (version, threshold, training, metrics)."""

from __future__ import annotations

import argparse
import json
import sys

from models.artifact import ModelError, load
from slotguard.config import Settings
from slotguard.output import add_format_flag, key_values

DESCRIPTION = """\
Loads the model artifact (--model, $SLOTGUARD_MODEL, or the default built by `make model`), checks
that it matches this build's features and scikit-learn version, and prints its metadata.

examples:
  slotguard model
  slotguard --model models/artifacts/mine model --format json
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_format_flag(parser)


def run(args: argparse.Namespace, settings: Settings) -> int:
    try:
        artifact = load(settings.model)
    except ModelError as exc:
        print(f"slotguard model: {exc}", file=sys.stderr)
        return 2
    meta = artifact.metadata
    if args.format == "json":
        print(json.dumps(meta))
        return 0
    evaluation = meta.get("evaluation") or {}
    training = meta.get("training") or {}
    key_values(
        [
            ("version", meta["version"]),
            ("path", str(settings.model)),
            ("created", meta.get("created_at")),
            ("threshold", f"{artifact.threshold:.4f} (score: higher = more suspicious)"),
            ("features", f"{len(meta['feature_names'])} (hash {meta['feature_hash'][:12]})"),
            ("scikit-learn", meta["sklearn_version"]),
            ("trained on", f"{training.get('accounts')} accounts, {training.get('scalpers')} scalpers"),
            ("validation AP", evaluation.get("average_precision")),
            ("validation precision / recall", f"{evaluation.get('precision')} / {evaluation.get('recall')}"),
            ("validation worst legit role FPR", evaluation.get("worst_legit_role_fpr")),
        ],
        title="model",
    )
    return 0
