"""The anomaly model: an isolation forest over one-sided robust scores.

A plain isolation forest flags whatever is rare in any direction: an account that searches less
than usual is as "anomalous" as one that books in 0.4 s. Every slotguard feature is oriented so
that higher is more suspicious (see :mod:`features.registry`), so the model first maps each
feature to how far it lies *above* what is typical::

    z = clip((x - floor) / scale, 0, cap)     floor = a quantile of the training data (median)
                                              scale = max(spread above the floor, the feature's unit)

and then isolates points in that space. Values at or below typical all collapse to 0, so only
excess in the suspicious direction can make an account stand out, and an excess on several
independent features makes it stand out most.

Score direction: :meth:`SuspicionForest.score_samples` returns **higher = more suspicious**
(the negated isolation-forest score, in (0, 1]). This is the one score slotguard uses.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.ensemble import IsolationForest
from sklearn.utils.validation import check_is_fitted, validate_data

from models.compiled import CompiledForest

#: batches up to this many rows are scored by the compiled forest, larger ones by sklearn itself
COMPILED_MAX_ROWS = 512


class SuspicionModel(Protocol):
    """What serving needs from a fitted model: scores (higher = more suspicious) and evidence."""

    def score_samples(self, X: Any) -> np.ndarray: ...
    def score_with_evidence(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...
    def strength_note(self, j: int, strength: float) -> str: ...
    def get_params(self, deep: bool = True) -> dict[str, Any]: ...


class SuspicionForest(BaseEstimator):
    """Isolation forest on one-sided robust z-scores; ``score_samples``: higher = more suspicious.

    Parameters
    ----------
    n_estimators, max_samples, max_features, random_state
        Passed to :class:`sklearn.ensemble.IsolationForest`.
    floor_quantile
        Training quantile below which a feature value counts as typical (maps to 0).
    scale_quantile
        Training quantile whose distance above the floor sets the feature's scale.
    min_scale
        Per-feature lower bound of the scale (the smallest difference worth attention); a
        scalar, an array of ``n_features`` values, or None for 1e-6.
    cap
        Largest z-score kept; beyond it every value is equally extreme.
    """

    def __init__(
        self,
        n_estimators: int = 300,
        max_samples: int | float | str = 256,
        max_features: float = 1.0,
        floor_quantile: float = 0.5,
        scale_quantile: float = 0.95,
        min_scale: Any = None,
        cap: float = 10.0,
        random_state: int | None = None,
    ) -> None:
        self.n_estimators = n_estimators
        self.max_samples = max_samples
        self.max_features = max_features
        self.floor_quantile = floor_quantile
        self.scale_quantile = scale_quantile
        self.min_scale = min_scale
        self.cap = cap
        self.random_state = random_state

    def fit(self, X: Any, y: Any = None) -> SuspicionForest:
        """Learn the typical floor and scale of each feature, then fit the forest on z-scores."""
        X = validate_data(self, X, dtype=np.float64, ensure_all_finite="allow-nan")
        if not 0.0 <= self.floor_quantile < self.scale_quantile <= 1.0:
            raise ValueError("need 0 <= floor_quantile < scale_quantile <= 1")
        self.floor_ = np.nan_to_num(np.nanquantile(X, self.floor_quantile, axis=0))
        spread = np.nan_to_num(np.nanquantile(X, self.scale_quantile, axis=0)) - self.floor_
        minimum = np.broadcast_to(
            np.asarray(1e-6 if self.min_scale is None else self.min_scale, dtype=np.float64),
            (X.shape[1],),
        )
        self.scale_ = np.maximum(spread, minimum)
        self.forest_ = IsolationForest(
            n_estimators=self.n_estimators,
            max_samples=self.max_samples,
            max_features=self.max_features,
            random_state=self.random_state,
        ).fit(self._z(X))
        self.compiled_ = CompiledForest(self.forest_)
        return self

    def _z(self, X: np.ndarray) -> np.ndarray:
        # a feature that does not apply (NaN) is neither suspicious nor reassuring: z = 0
        return np.nan_to_num(np.clip((X - self.floor_) / self.scale_, 0.0, self.cap), nan=0.0)

    def transform(self, X: Any) -> np.ndarray:
        """One-sided z-scores: how far above typical each feature is (0 = typical or below)."""
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, ensure_all_finite="allow-nan", reset=False)
        return self._z(X)

    def score_samples(self, X: Any) -> np.ndarray:
        """Suspicion of each row: higher is more suspicious, in (0, 1]."""
        return self.score_transformed(self.transform(X))

    def score_transformed(self, Z: np.ndarray) -> np.ndarray:
        """Suspicion of rows already passed through :meth:`transform` (saves a second pass).

        Small batches go through the compiled copy of the forest, large ones through sklearn:
        the scores are the same, only the per-call overhead differs.
        """
        check_is_fitted(self)
        if Z.shape[0] <= COMPILED_MAX_ROWS:
            return -self.compiled_.score_samples(Z)
        return -self.forest_.score_samples(Z)

    def evidence_strength(self, X: Any) -> np.ndarray:
        """Per-feature strength used to pick reasons (one-sided z-scores)."""
        return self.transform(X)

    def score_with_evidence(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Scores and per-feature z-scores in one pass (same contract as the rarity model)."""
        Z = self._z(X)
        return self.score_transformed(Z), Z

    def strength_note(self, j: int, z: float) -> str:
        """How unusual a z-score is, in words."""
        return f"{z:.1f} scales above typical"

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags
