"""Training: the population prior from labelled worlds, and a threshold calibrated on serving's own path.

The same engine and detector that serve build and judge the training set (one core, no second
copy of the features or of the scoring):

1. every account's latest feature vector over the training worlds is the *prior* population the
   estimator counts (no labels needed: the population is what it is, scalpers included);
2. each world is then run through the detector exactly as ``slotguard detect`` runs it, scoring
   every site against its own population plus the prior, and the threshold is the lowest score
   that keeps *every* legitimate role at or under ``target_fpr`` of its accounts above it, plus a
   safety margin. Flagged accounts leave their site's reference, so the calibration is repeated
   with the threshold it found until it no longer moves.

Labels are used only in step 2, and only to say which accounts are legitimate and their role.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from features.config import EngineConfig
from features.engine import EmbeddedEngine, FeatureBatch
from features.registry import FAMILIES, FEATURE_NAMES, FEATURES, LINKAGE_FAMILIES, feature_set_hash
from ingest.deadletter import DeadLetter
from ingest.reader import EventReader, open_source
from models.artifact import ModelArtifact, base_metadata
from models.detector import Detector, reference_weight
from models.evaluation import evaluate, first_bookings
from models.labels import LabelSet
from models.population import PopulationRarity
from models.worlds import World, load_world

logger = logging.getLogger(__name__)

Progress = Callable[[int], None]


@dataclass(frozen=True)
class TrainingOptions:
    """How to build the prior and calibrate."""

    extrapolation: float = 1.0
    #: most decades one family of evidence contributes (so no behaviour decides alone) ...
    family_cap: float = 2.0
    #: ... and one whose extremes legitimate people reach (``Family.ambiguous``)
    ambiguous_cap: float = 2.0
    #: ambiguous families (context; polling) add at most this many times the other families' evidence ...
    amplification: float = 0.5
    #: ... except linkage with accounts that behave like holders (shared devices, registrations),
    #: which may double it: one act plus membership of a holding ring is two behaviours
    linkage_amplification: float = 1.0
    #: ... and this share of the rest, to rank context above nothing (far below any threshold)
    context_weight: float = 0.1
    #: the threshold is at least this above what one family can reach alone
    second_family: float = 0.5
    #: weight of the training population beside a site's own, in accounts
    prior_weight: float = 100.0
    #: how often (event time) a site's reference is re-frozen for scoring
    reference_refresh_s: float = 3600.0
    #: accounts scoring above this fraction of the threshold leave their site's reference
    reference_trim: float = 0.6
    #: largest share of any legitimate role allowed above the threshold on the training worlds
    target_fpr: float = 0.002
    margin: float = 0.15
    #: calibration rounds at most (each runs every training world once)
    rounds: int = 3


@dataclass
class FinalVectors:
    """Each account's latest feature vector and reference weight (what a site's reference counts)."""

    rows: dict[str, tuple[np.ndarray, float]] = field(default_factory=dict)

    def __call__(self, batch: FeatureBatch) -> None:
        for i, account in enumerate(batch.account_ids):
            self.rows[account] = (batch.matrix[i], reference_weight(batch.states[i]))

    @property
    def matrix(self) -> np.ndarray:
        if not self.rows:
            return np.empty((0, len(FEATURE_NAMES)))
        return np.vstack([self.rows[a][0] for a in sorted(self.rows)])

    @property
    def weights(self) -> np.ndarray:
        return np.array([self.rows[a][1] for a in sorted(self.rows)])


def run_events(
    events: Path,
    on_batch: Callable[[FeatureBatch], Any],
    config: EngineConfig,
    pseudonym_key: str,
    progress: Progress | None = None,
) -> EmbeddedEngine:
    """Run the embedded engine over an events file with ``on_batch`` scoring (invalid lines skipped)."""
    engine = EmbeddedEngine.on_dicts(on_batch, config, pseudonym_key)
    invalid: list[DeadLetter] = []
    stream, _ = open_source(events)
    with stream:
        reader = EventReader(stream, invalid.append, source_name=str(events))
        for count, (_, event) in enumerate(reader, 1):
            engine.push(event)
            if progress is not None and count % 50_000 == 0:
                progress(reader.stats.bytes_read)
        engine.finish()
    if invalid:
        logger.warning("%s: %d invalid lines skipped (first: %s)", events, len(invalid), invalid[0].reason)
    return engine


def new_estimator(options: TrainingOptions) -> PopulationRarity:
    """The estimator as the registry declares the features (bins, families, units, tolerances)."""
    families = list(dict.fromkeys(f.family for f in FEATURES))
    return PopulationRarity(
        bins=[f.bins for f in FEATURES],
        families=[f.family for f in FEATURES],
        units=[f.unit for f in FEATURES],
        tolerances=[f.tolerance for f in FEATURES],
        extrapolation=options.extrapolation,
        family_cap=[options.ambiguous_cap if FAMILIES[name].ambiguous else options.family_cap for name in families],
        absolute=[f.absolute for f in FEATURES],
        amplifying=[FAMILIES[name].ambiguous for name in families],
        amplification=[
            options.linkage_amplification if name in LINKAGE_FAMILIES else options.amplification for name in families
        ],
        context_weight=options.context_weight,
    )


def threshold_floor(estimator: PopulationRarity, options: TrainingOptions) -> float:
    """The lowest threshold allowed: above what one family of evidence can reach alone.

    Ambiguous families (context, polling) score little without other evidence (they amplify), so
    this is the largest cap of the others (or what context alone adds, if more), plus a margin: no
    single behaviour, however rare, flags an account without some other evidence beside it.
    """
    caps = estimator.family_caps_[~estimator.amplifying_]
    context_alone = estimator.context_weight * float(estimator.family_caps_[estimator.amplifying_].sum())
    return max(float(np.max(caps)), context_alone) + options.second_family


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


def detect_world(
    events: Path, artifact: ModelArtifact, config: EngineConfig, pseudonym_key: str, progress: Progress | None = None
) -> Detector:
    """Score one world exactly as serving does; return the detector holding every verdict."""
    detector = Detector(artifact)
    run_events(events, detector, config, pseudonym_key, progress)
    return detector


def _legit_peaks(detectors: Sequence[Detector], labels: Sequence[LabelSet]) -> dict[str, list[float]]:
    by_role: dict[str, list[float]] = {}
    for detector, world_labels in zip(detectors, labels, strict=True):
        for account, verdict in detector.verdicts.items():
            label = world_labels.by_account.get(account)
            if label is not None and not label.scalper:
                by_role.setdefault(label.role, []).append(verdict.score)
    return by_role


def fit(
    worlds: Sequence[World],
    options: TrainingOptions,
    config: EngineConfig,
    pseudonym_key: str,
    progress: Callable[[str, Path], Progress | None] | None = None,
) -> tuple[PopulationRarity, float, dict[str, Any]]:
    """Build the prior from the worlds' populations, then calibrate the threshold on them."""
    vectors = FinalVectors()
    for world in worlds:
        run_events(
            world.events, vectors, config, pseudonym_key, progress("features", world.events) if progress else None
        )
    estimator = new_estimator(options).fit(vectors.matrix, sample_weight=vectors.weights)
    # start from the floor: when the legitimate roles stay below it, one round settles it
    threshold = threshold_floor(estimator, options)
    history: list[float] = []
    detectors: list[Detector] = []
    for round_no in range(max(options.rounds, 1)):
        provisional = ModelArtifact(estimator, threshold, _reference_metadata(options))
        detectors = [
            detect_world(
                w.events, provisional, config, pseudonym_key, progress("calibrate", w.events) if progress else None
            )
            for w in worlds
        ]
        by_role = _legit_peaks(detectors, [w.labels for w in worlds])
        found = calibrate_by_role({r: np.array(v) for r, v in by_role.items()}, options.target_fpr, options.margin)
        found = max(found, threshold_floor(estimator, options))
        history.append(found)
        logger.info("calibration round %d: threshold %.4f", round_no + 1, found)
        if abs(found - threshold) <= 1e-3 * max(abs(threshold), 1.0):
            threshold = found
            break
        threshold = found
    summary = _summary(detectors, [w.labels for w in worlds], threshold, estimator, history)
    return estimator, threshold, summary


def _summary(
    detectors: Sequence[Detector],
    labels: Sequence[LabelSet],
    threshold: float,
    estimator: PopulationRarity,
    history: list[float],
) -> dict[str, Any]:
    legit: list[float] = []
    scalp: list[float] = []
    for detector, world_labels in zip(detectors, labels, strict=True):
        for account, verdict in detector.verdicts.items():
            label = world_labels.by_account.get(account)
            if label is not None:
                (scalp if label.scalper else legit).append(verdict.score)
    legit_a, scalp_a = np.array(legit), np.array(scalp)
    return {
        "accounts": len(legit) + len(scalp),
        "scalpers": int(scalp_a.size),
        "prior_rows": int(estimator.n_rows_),
        "calibration_rounds": history,
        "legit_peak_quantiles": {q: float(np.quantile(legit_a, q)) for q in (0.5, 0.99, 0.999, 1.0)} if legit else {},
        "scalper_peak_quantiles": (
            {q: float(np.quantile(scalp_a, q)) for q in (0.0, 0.05, 0.5)} if scalp_a.size else {}
        ),
        "training_recall": float((scalp_a >= threshold).mean()) if scalp_a.size else None,
        "training_legit_fpr": float((legit_a >= threshold).mean()) if legit else None,
    }


def _reference_metadata(options: TrainingOptions) -> dict[str, Any]:
    return {
        "version": "provisional",
        "reference": {
            "prior_weight": options.prior_weight,
            "refresh_s": options.reference_refresh_s,
            "trim": options.reference_trim,
        },
    }


def digest_files(paths: Iterable[Path]) -> str:
    """SHA-256 over the bytes of the training inputs (part of the model version)."""
    h = hashlib.sha256()
    for path in paths:
        with path.open("rb") as stream:
            while chunk := stream.read(1 << 20):
                h.update(chunk)
    return h.hexdigest()


def build_artifact(
    estimator: PopulationRarity,
    threshold: float,
    options: TrainingOptions,
    data_digest: str,
    training: dict[str, Any],
    evaluation: dict[str, Any] | None,
) -> ModelArtifact:
    """Assemble the artifact; the version is derived from features, data and options (reproducible)."""
    identity = hashlib.sha256(f"{feature_set_hash()}|{data_digest}|{options}".encode()).hexdigest()
    metadata = base_metadata() | {
        "version": f"sg2-{identity[:12]}",
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "threshold": threshold,
        "reference": _reference_metadata(options)["reference"],
        "training": training | {"data_sha256": data_digest, "options": asdict(options)},
        "evaluation": evaluation or {},
        "estimator": {"class": type(estimator).__name__, "params": _params(estimator)},
    }
    return ModelArtifact(estimator, threshold, metadata)


def _params(estimator: PopulationRarity) -> dict[str, Any]:
    """The estimator's parameters, JSON-ready (the per-feature lists are in the registry)."""
    params = estimator.get_params()
    return {k: v for k, v in params.items() if k not in ("bins", "families", "units", "tolerances")}


def train(
    world_dirs: Sequence[Path],
    options: TrainingOptions,
    config: EngineConfig,
    pseudonym_key: str,
    validate: Path | None = None,
    progress: Callable[[str, Path], Progress | None] | None = None,
) -> ModelArtifact:
    """Build a model artifact from labelled world directories; evaluate it on ``validate`` if given."""
    worlds = [load_world(d) for d in world_dirs]
    validation = load_world(validate) if validate is not None else None
    estimator, threshold, summary = fit(worlds, options, config, pseudonym_key, progress)
    digest = digest_files(p for w in worlds for p in (w.events, w.labels_path))
    artifact = build_artifact(estimator, threshold, options, digest, summary, None)
    if validation is None:
        return artifact
    detector = detect_world(validation.events, artifact, config, pseudonym_key)
    evaluation = evaluate(
        [v.contract_dict() for v in detector.results()], validation.labels, first_bookings(validation.events)
    )
    evaluation.pop("pr_curve", None)
    evaluation["world"] = str(validation.directory)
    return build_artifact(estimator, threshold, options, digest, summary, evaluation)
