"""Shared fixtures: a small simulated world and a model trained on another one (session-scoped)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from features.config import EngineConfig
from models.artifact import ModelArtifact, save
from models.labels import read_labels
from models.training import TrainingOptions, build_artifact, collect, fit
from simulator import WorldParams, simulate

KEY = "slotguard-dev-key-change-me"


@dataclass(frozen=True)
class SmallWorld:
    """A simulated world (events, labels) and a model trained on a different seed."""

    world: Path
    model_dir: Path
    model: ModelArtifact

    @property
    def events(self) -> Path:
        return self.world / "events.jsonl"

    @property
    def labels(self) -> Path:
        return self.world / "labels.jsonl"


@pytest.fixture(scope="session")
def small_world(tmp_path_factory: pytest.TempPathFactory) -> SmallWorld:
    root = tmp_path_factory.mktemp("small")
    train, test = root / "train", root / "world"
    simulate(WorldParams(seed=31, accounts=900, days=4, mix="farm-heavy"), train)
    simulate(WorldParams(seed=32, accounts=600, days=3), test)
    snapshots = collect(train / "events.jsonl", EngineConfig(), KEY)
    options = TrainingOptions()
    estimator, threshold, summary = fit(snapshots, read_labels(train / "labels.jsonl"), options)
    artifact = build_artifact(estimator, threshold, options, "test-data", summary, None)
    save(artifact, root / "model")
    return SmallWorld(test, root / "model", artifact)
