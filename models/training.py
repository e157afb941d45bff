"""Training: run the feature engine over labelled traffic, fit the model, calibrate the threshold.

The same engine that serves builds the training set (one core, no second copy of the features):
it is run over the events and every scored snapshot is kept. The model is fitted on each
account's final snapshot (one row per account, unsupervised). Serving reports an account's *peak*
score over its snapshots, so the threshold is calibrated on the peak scores of legitimate accounts:
the smallest threshold that flags at most ``target_fpr`` of every legitimate role, times a
safety margin.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from features.config import EngineConfig
from features.engine import EmbeddedEngine, FeatureBatch
from features.registry import FEATURE_NAMES, FEATURES, feature_set_hash
from ingest.deadletter import DeadLetter
from ingest.reader import EventReader, open_source
from models.artifact import ModelArtifact, base_metadata
from models.estimator import SuspicionForest, SuspicionModel
from models.labels import LabelSet
from models.rarity import EvidenceRarity

logger = logging.getLogger(__name__)


@dataclass
class SnapshotSet:
    """Every snapshot the engine scored: row i is ``account_ids[i]`` as of ``times[i]``."""

    account_ids: list[str] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    blocks: list[np.ndarray] = field(default_factory=list)
    invalid_lines: int = 0

    def __call__(self, batch: FeatureBatch) -> None:
        self.account_ids.extend(batch.account_ids)
        self.times.extend(batch.times)
        self.blocks.append(batch.matrix)

    @property
    def matrix(self) -> np.ndarray:
        if len(self.blocks) != 1:
            merged = np.vstack(self.blocks) if self.blocks else np.empty((0, len(FEATURE_NAMES)))
            self.blocks = [merged]
        return self.blocks[0]

    def account_maxima(self) -> tuple[list[str], np.ndarray]:
        """Each account's most extreme value of every feature over its snapshots (NaN-aware).

        Serving reports an account's peak, so the legitimate reference must hold the most
        suspicious value each legitimate account ever showed, not just its last one.
        """
        order = np.argsort(np.asarray(self.account_ids), kind="stable")
        ids = np.asarray(self.account_ids)[order]
        matrix = self.matrix[order]
        starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
        filled = np.where(np.isnan(matrix), -np.inf, matrix)
        maxima = np.maximum.reduceat(filled, starts, axis=0)
        maxima[np.isneginf(maxima)] = np.nan
        return ids[starts].tolist(), maxima

    def final_rows(self) -> dict[str, int]:
        """Index of each account's last snapshot."""
        return {account: i for i, account in enumerate(self.account_ids)}

    def peaks(self, scores: np.ndarray) -> dict[str, float]:
        """Each account's highest score over its snapshots."""
        peak: dict[str, float] = {}
        for account, score in zip(self.account_ids, scores.tolist(), strict=True):
            if score > peak.get(account, -np.inf):
                peak[account] = score
        return peak


def collect(
    events: Path,
    config: EngineConfig,
    pseudonym_key: str,
    progress: Callable[[int], None] | None = None,
) -> SnapshotSet:
    """Run the embedded engine over an events file, keeping every snapshot it scores."""
    snapshots = SnapshotSet()
    engine = EmbeddedEngine.on_dicts(snapshots, config, pseudonym_key)
    invalid: list[DeadLetter] = []
    stream, _ = open_source(events)
    with stream:
        reader = EventReader(stream, invalid.append, source_name=str(events))
        for count, (_, event) in enumerate(reader, 1):
            engine.push(event)
            if progress is not None and count % 50_000 == 0:
                progress(reader.stats.bytes_read)
        engine.finish()
    snapshots.invalid_lines = len(invalid)
    if invalid:
        logger.warning("%s: %d invalid lines skipped (first: %s)", events, len(invalid), invalid[0].reason)
    return snapshots


def calibrate_threshold(legit_peaks: np.ndarray, target_fpr: float, margin: float) -> float:
    """The score above which at most ``target_fpr`` of legitimate peaks lie, raised by ``margin``."""
    if legit_peaks.size == 0:
        raise ValueError("cannot calibrate a threshold without legitimate accounts")
    base = float(np.quantile(legit_peaks, 1.0 - target_fpr, method="higher"))
    return base * (1.0 + margin)


def calibrate_by_role(peaks_by_role: dict[str, np.ndarray], target_fpr: float, margin: float) -> float:
    """The lowest threshold keeping *every* legitimate role at or under ``target_fpr``.

    Calibrating on all legitimate accounts together would let a small role (associations are a
    few percent of accounts) absorb every false positive while the overall rate looks fine.
    """
    if not peaks_by_role:
        raise ValueError("cannot calibrate a threshold without legitimate accounts")
    return max(calibrate_threshold(peaks, target_fpr, margin) for peaks in peaks_by_role.values())


ESTIMATORS = ("rarity", "isolation-forest")


@dataclass(frozen=True)
class TrainingOptions:
    """How to fit and calibrate."""

    #: "rarity" (default, :class:`EvidenceRarity`) or "isolation-forest" (:class:`SuspicionForest`)
    estimator: str = "rarity"
    seed: int = 0
    n_estimators: int = 300
    max_samples: int = 256
    extrapolation: float = 1.0
    #: largest share of any legitimate role allowed above the threshold on the training worlds
    target_fpr: float = 0.002
    margin: float = 0.15


def _estimator(snapshots: SnapshotSet, labels: LabelSet, options: TrainingOptions) -> tuple[SuspicionModel, int]:
    """Fit the chosen estimator; return it and the number of rows it was fitted on."""
    if options.estimator == "rarity":
        accounts, maxima = snapshots.account_maxima()
        legit = np.array([0 if not labels.is_scalper(a) else 1 for a in accounts])
        rarity = EvidenceRarity(
            families=[spec.family for spec in FEATURES],
            units=[spec.unit for spec in FEATURES],
            tolerances=[spec.tolerance for spec in FEATURES],
            extrapolation=options.extrapolation,
        ).fit(maxima, legit)
        return rarity, int((legit == 0).sum())
    if options.estimator == "isolation-forest":
        final = snapshots.final_rows()
        rows = [final[a] for a in sorted(final)]
        forest = SuspicionForest(
            n_estimators=options.n_estimators,
            max_samples=options.max_samples,
            min_scale=[spec.unit for spec in FEATURES],
            random_state=options.seed,
        ).fit(snapshots.matrix[rows])
        return forest, len(rows)
    raise ValueError(f"unknown estimator {options.estimator!r}; choose from {', '.join(ESTIMATORS)}")


def fit(
    snapshots: SnapshotSet, labels: LabelSet, options: TrainingOptions
) -> tuple[SuspicionModel, float, dict[str, Any]]:
    """Fit the estimator and calibrate the threshold on the peak scores of legitimate accounts."""
    estimator, fit_rows = _estimator(snapshots, labels, options)
    final = snapshots.final_rows()
    accounts = sorted(final)
    peaks = snapshots.peaks(estimator.score_samples(snapshots.matrix))
    labelled = [a for a in accounts if a in labels.by_account]
    legit = np.array([peaks[a] for a in labelled if not labels.is_scalper(a)])
    scalp = np.array([peaks[a] for a in labelled if labels.is_scalper(a)])
    by_role: dict[str, list[float]] = {}
    for account in labelled:
        label = labels.by_account[account]
        if not label.scalper:
            by_role.setdefault(label.role, []).append(peaks[account])
    threshold = calibrate_by_role(
        {role: np.array(values) for role, values in by_role.items()}, options.target_fpr, options.margin
    )
    summary = {
        "accounts": len(accounts),
        "labelled": len(labelled),
        "scalpers": int(scalp.size),
        "fit_rows": fit_rows,
        "snapshots": len(snapshots.account_ids),
        "legit_peak_quantiles": {q: float(np.quantile(legit, q)) for q in (0.5, 0.99, 0.999, 1.0)},
        "scalper_peak_quantiles": (
            {q: float(np.quantile(scalp, q)) for q in (0.0, 0.01, 0.05, 0.5)} if scalp.size else {}
        ),
        "training_recall": float((scalp >= threshold).mean()) if scalp.size else None,
        "training_legit_fpr": float((legit >= threshold).mean()),
    }
    return estimator, threshold, summary


def digest_files(paths: list[Path]) -> str:
    """SHA-256 over the bytes of the training inputs (part of the model version)."""
    h = hashlib.sha256()
    for path in paths:
        with path.open("rb") as stream:
            while chunk := stream.read(1 << 20):
                h.update(chunk)
    return h.hexdigest()


def build_artifact(
    estimator: SuspicionModel,
    threshold: float,
    options: TrainingOptions,
    data_digest: str,
    training: dict[str, Any],
    evaluation: dict[str, Any] | None,
) -> ModelArtifact:
    """Assemble the artifact; the version is derived from features, data and options (reproducible)."""
    identity = hashlib.sha256(f"{feature_set_hash()}|{data_digest}|{options}".encode()).hexdigest()
    metadata = base_metadata() | {
        "version": f"sg1-{identity[:12]}",
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "threshold": threshold,
        "training": training | {"data_sha256": data_digest, "options": options.__dict__},
        "evaluation": evaluation or {},
        "estimator": {"class": type(estimator).__name__, "params": estimator.get_params()},
    }
    return ModelArtifact(estimator, threshold, metadata)
