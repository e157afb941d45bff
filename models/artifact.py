"""Versioned model artifacts: the fitted estimator plus metadata, checked when loaded.

An artifact is a directory with ``model.joblib`` (the estimator) and ``metadata.json``: version,
feature names and their hash, library versions, threshold, training-data summary and evaluation
metrics. Loading refuses, with a message that says what to do, an artifact whose features or
scikit-learn version do not match this build.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import sklearn

from features.registry import FEATURE_NAMES, feature_set_hash
from models.population import PopulationRarity

logger = logging.getLogger(__name__)

FORMAT_VERSION = 2
MODEL_FILE = "model.joblib"
METADATA_FILE = "metadata.json"


class ModelError(RuntimeError):
    """A model artifact that cannot be used; the message says why and what to do."""


@dataclass(frozen=True)
class ModelArtifact:
    """A fitted estimator with the threshold and metadata it was trained with.

    The estimator's own reference is the training worlds' population: the detector uses it as
    a prior, weighed as ``prior_weight`` accounts, beside each site's own population, which it
    re-freezes every ``reference_refresh_s`` of event time.
    """

    estimator: PopulationRarity
    threshold: float
    metadata: dict[str, Any]

    @property
    def version(self) -> str:
        return str(self.metadata["version"])

    @property
    def prior_weight(self) -> float:
        return float(self.metadata.get("reference", {}).get("prior_weight", 0.0))

    @property
    def reference_trim(self) -> float:
        """Accounts scoring above this fraction of the threshold leave their site's reference."""
        return float(self.metadata.get("reference", {}).get("trim", 1.0))

    @property
    def reference_refresh_s(self) -> float:
        return float(self.metadata.get("reference", {}).get("refresh_s", 3600.0))


def _minor(version: str) -> str:
    return ".".join(version.split(".")[:2])


def save(artifact: ModelArtifact, out_dir: Path) -> Path:
    """Write the artifact directory (created if needed); return its path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    joblib.dump(artifact.estimator, out_dir / MODEL_FILE)
    (out_dir / METADATA_FILE).write_text(json.dumps(artifact.metadata, indent=2, sort_keys=True) + "\n")
    return out_dir


def base_metadata() -> dict[str, Any]:
    """Metadata every artifact carries about the build that made it."""
    return {
        "format_version": FORMAT_VERSION,
        "feature_names": list(FEATURE_NAMES),
        "feature_hash": feature_set_hash(),
        "sklearn_version": sklearn.__version__,
        "numpy_version": np.__version__,
        "score_direction": "higher is more suspicious",
    }


def load(path: Path) -> ModelArtifact:
    """Load and check an artifact directory (or its ``model.joblib``)."""
    directory = path.parent if path.name == MODEL_FILE else path
    meta_path, model_path = directory / METADATA_FILE, directory / MODEL_FILE
    if not meta_path.is_file() or not model_path.is_file():
        raise ModelError(
            f"no model at {directory} (expected {METADATA_FILE} and {MODEL_FILE}); "
            "build the default one with `make model`, or train one with `slotguard train`"
        )
    try:
        meta = json.loads(meta_path.read_text())
    except json.JSONDecodeError as exc:
        raise ModelError(f"{meta_path} is not valid JSON: {exc}") from None
    problems: list[str] = []
    if meta.get("format_version") != FORMAT_VERSION:
        problems.append(f"artifact format {meta.get('format_version')!r}, this build reads {FORMAT_VERSION}")
    if meta.get("feature_names") != list(FEATURE_NAMES):
        problems.append(f"trained on features {meta.get('feature_names')}, this build computes {list(FEATURE_NAMES)}")
    elif meta.get("feature_hash") != feature_set_hash():
        problems.append(
            f"feature definitions changed (artifact {str(meta.get('feature_hash'))[:12]}, "
            f"this build {feature_set_hash()[:12]})"
        )
    trained_with = str(meta.get("sklearn_version", "?"))
    if _minor(trained_with) != _minor(sklearn.__version__):
        problems.append(f"pickled with scikit-learn {trained_with}, running {sklearn.__version__}")
    if problems:
        raise ModelError(
            f"model {meta.get('version', '?')} at {directory} cannot be used: "
            + "; ".join(problems)
            + ". Retrain it (`slotguard train`, or `make model` for the default)."
        )
    try:
        estimator = joblib.load(model_path)
    except Exception as exc:
        raise ModelError(f"cannot unpickle {model_path}: {exc}") from None
    if not isinstance(estimator, PopulationRarity):
        raise ModelError(f"{model_path} holds a {type(estimator).__name__}, not a slotguard model")
    return ModelArtifact(estimator, float(meta["threshold"]), meta)
