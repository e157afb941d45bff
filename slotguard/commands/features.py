"""``slotguard features``: list the feature registry (what each feature means, entity, window)."""

from __future__ import annotations

import argparse

from features.registry import FEATURES, feature_set_hash
from slotguard.config import Settings
from slotguard.output import add_format_flag, json_lines, table

HELP = "list the behavioural features the model uses"
DESCRIPTION = """\
Every feature is declared once (features/registry.py) with a name, the entity it is computed over,
its window and a description; training, serving and explanations read the same list. All
features are oriented the same way: higher is more suspicious.

examples:
  slotguard features
  slotguard features --format json | jq -r .name
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_format_flag(parser)


def run(args: argparse.Namespace, settings: Settings) -> int:
    if args.format == "json":
        json_lines(
            {"name": f.name, "entity": f.entity, "window": f.window, "description": f.description, "unit": f.unit}
            for f in FEATURES
        )
        return 0
    table(
        [(f.name, f.entity, f.window, f.description) for f in FEATURES],
        ("feature", "entity", "window", "description"),
        title=f"features (set {feature_set_hash()[:12]}; higher = more suspicious)",
    )
    return 0
