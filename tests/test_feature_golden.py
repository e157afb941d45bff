"""A change in what features compute must come with a FEATURE_SET_VERSION bump (models check it)."""

from __future__ import annotations

import json

from features.registry import FEATURE_NAMES, FEATURE_SET_VERSION
from tests.golden import GOLDEN, scene, vectors


def test_feature_vectors_match_the_golden_file_of_this_version() -> None:
    golden = json.loads(GOLDEN.read_text())
    current = vectors(scene())
    if golden["feature_set_version"] != FEATURE_SET_VERSION:
        raise AssertionError(
            f"FEATURE_SET_VERSION is {FEATURE_SET_VERSION} but the golden vectors are of version "
            f"{golden['feature_set_version']}: run `python -m tests.golden` to record this version's vectors"
        )
    assert golden["features"] == list(FEATURE_NAMES), "features added, removed or reordered: bump FEATURE_SET_VERSION"
    changed = {
        account: [
            name for name, a, b in zip(FEATURE_NAMES, golden["vectors"].get(account, []), row, strict=False) if a != b
        ]
        for account, row in current.items()
        if golden["vectors"].get(account) != row
    }
    assert not changed, (
        f"features compute something else than version {FEATURE_SET_VERSION} did ({changed}): bump "
        "FEATURE_SET_VERSION in features/registry.py (models trained on the old meaning are then refused), "
        "then run `python -m tests.golden`"
    )


def test_the_golden_scene_exercises_every_feature() -> None:
    current = vectors(scene())
    for j, name in enumerate(FEATURE_NAMES):
        assert any(row[j] not in (None, 0.0) for row in current.values()), f"{name} is never off neutral in the scene"
