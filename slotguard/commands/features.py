"""``slotguard features``: list the feature registry (what each feature means, entity, window)."""

from __future__ import annotations

import argparse

from features.registry import FAMILIES, FEATURE_SET_VERSION, FEATURES, feature_set_hash
from slotguard.config import Settings
from slotguard.output import add_format_flag, json_lines, table

DESCRIPTION = """\
Every feature is declared once (features/registry.py) with a name, its family of evidence, the
entity it is served for and the entity steps that feed it, its window, the state fields it reads
and a description; training, serving and explanations read the same list. All features are
oriented the same way: higher is more suspicious. A family counts once in the score; context
families (infrastructure, what an account shares with holders) never flag an account alone.

examples:
  slotguard features
  slotguard features --format json | jq -r .name
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_format_flag(parser)


def run(args: argparse.Namespace, settings: Settings) -> int:
    if args.format == "json":
        json_lines(f.declaration() | {"kind": FAMILIES[f.family].kind, "description": f.description} for f in FEATURES)
        return 0
    table(
        [
            (
                f.name,
                f"{f.family} ({FAMILIES[f.family].kind})",
                ", ".join(e.value for e in f.derived_from),
                f.window_text,
                f.description,
            )
            for f in FEATURES
        ],
        ("feature", "family (kind)", "from", "window", "description"),
        title=f"features (set v{FEATURE_SET_VERSION}, {feature_set_hash()[:12]}; higher = more suspicious)",
    )
    return 0
