"""Shared fixtures: a small simulated world and a model trained on another one (session-scoped)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from features.config import EngineConfig
from models.artifact import ModelArtifact, save
from models.training import TrainingOptions, build_artifact, fit
from models.worlds import load_world
from simulator import WorldParams, simulate
from tests.kafka_broker import KafkaBroker, KafkaBrokerError, missing_prerequisites, start_broker

KEY = "slotguard-dev-key-change-me"


@pytest.fixture(scope="session")
def chdb_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One embedded store directory for the session, shared by every suite that opens chDB in-process
    (chDB runs one engine per process, bound to one directory); each test uses its own database."""
    return tmp_path_factory.mktemp("chdb-store")


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
def family_model(tmp_path_factory: pytest.TempPathFactory) -> ModelArtifact:
    """A model trained on small worlds of the simulator family (default, hard, mobile, quiet)."""
    root = tmp_path_factory.mktemp("family")
    worlds = []
    for seed, mix in ((61, "default"), (62, "hard"), (63, "mobile"), (64, "quiet")):
        simulate(WorldParams(seed=seed, accounts=1200, days=5, mix=mix), root / mix)
        worlds.append(load_world(root / mix))
    options = TrainingOptions()
    estimator, threshold, summary = fit(worlds, options, EngineConfig(), KEY)
    return build_artifact(estimator, threshold, options, "family-test-data", summary, None)


@pytest.fixture(scope="session")
def small_world(tmp_path_factory: pytest.TempPathFactory) -> SmallWorld:
    root = tmp_path_factory.mktemp("small")
    train, test = root / "train", root / "world"
    simulate(WorldParams(seed=31, accounts=900, days=4, mix="farm-heavy"), train)
    simulate(WorldParams(seed=32, accounts=600, days=3), test)
    options = TrainingOptions()
    estimator, threshold, summary = fit([load_world(train)], options, EngineConfig(), KEY)
    artifact = build_artifact(estimator, threshold, options, "test-data", summary, None)
    save(artifact, root / "model")
    return SmallWorld(test, root / "model", artifact)


# a real single-node Kafka broker (scripts/kafka.sh), on ports that leave a developer's 9092 alone
# (overridable, to run a second suite beside one already running)
KAFKA_TEST_PORT = int(os.environ.get("SLOTGUARD_TEST_KAFKA_PORT", "19092"))
KAFKA_TEST_CONTROLLER_PORT = int(os.environ.get("SLOTGUARD_TEST_KAFKA_CONTROLLER_PORT", "19095"))


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaBroker]:
    missing = missing_prerequisites()
    if missing:
        pytest.fail(f"no Kafka broker for the integration tests: {missing}", pytrace=False)
    try:
        broker = start_broker(tmp_path_factory.mktemp("kafka"), KAFKA_TEST_PORT, KAFKA_TEST_CONTROLLER_PORT)
    except KafkaBrokerError as exc:
        pytest.fail(f"the Kafka broker for the integration tests did not start: {exc}", pytrace=False)
    try:
        yield broker
    finally:
        broker.stop()
