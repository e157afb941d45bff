"""The default anomaly model: how rare an account's evidence is among legitimate accounts.

For each feature the model keeps the values legitimate accounts reached (the *reference*; NaN,
"does not apply", is left out). An account's value is scored by its upper-tail rarity in that
reference, in decades::

    rarity(x) = log10((n + 1) / (#{reference >= x} + 1)) - rarity(median)      (0 at or below typical)

so 2.0 means "only about 1 legitimate account in 100 reached this". Beyond the largest reference
value the rarity keeps growing by ``extrapolation`` decades per feature ``unit``: an account sharing
a device with 40 others is more suspicious than one sharing it with 8, even if no legitimate
account shared one with more than 5. A value at or below the feature's declared ``tolerance`` (what
legitimate groups such as families or small offices reach) is never evidence.

Features measuring one behaviour form a *family* (see :mod:`features.registry`); a family counts
once, with its rarest feature, and the score is the sum over families: independent kinds of
evidence add up, several views of the same behaviour do not.

Why not a plain isolation forest (kept as :class:`models.estimator.SuspicionForest` for comparison):
fitted on all accounts, dense clusters of scalpers (a farm of 150 accounts) mask each other; fitted
on legitimate accounts only, it cannot tell a value just beyond the legitimate range from one far
beyond it, because its splits never go past the training range. Both failures cost recall at the
precision this service needs; the measured comparison is in the README.

Score direction: :meth:`EvidenceRarity.score_samples` is **higher = more suspicious** (decades).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted, validate_data


class EvidenceRarity(BaseEstimator):
    """Sum over evidence families of the rarest feature's rarity among legitimate accounts.

    Parameters
    ----------
    families
        Family name of each feature (same order as the columns); None: each feature its own.
    units
        Per-feature unit for extrapolation beyond the reference maximum (scalar or sequence).
    tolerances
        Per-feature value at or below which nothing is evidence (scalar or sequence; -inf: none).
    extrapolation
        Decades added per unit beyond the largest reference value.
    """

    def __init__(
        self,
        families: Sequence[str] | None = None,
        units: Any = 1.0,
        tolerances: Any = -np.inf,
        extrapolation: float = 1.0,
    ) -> None:
        self.families = families
        self.units = units
        self.tolerances = tolerances
        self.extrapolation = extrapolation

    def fit(self, X: Any, y: Any = None) -> EvidenceRarity:
        """Learn the reference: rows with ``y == 0`` (legitimate) if labels are given, else all rows."""
        X = validate_data(self, X, dtype=np.float64, ensure_all_finite="allow-nan")
        reference = X if y is None else X[np.asarray(y) == 0]
        if reference.shape[0] == 0:
            raise ValueError("the reference is empty: no row has y == 0")
        d = X.shape[1]
        families = list(self.families) if self.families is not None else [str(j) for j in range(d)]
        if len(families) != d:
            raise ValueError(f"families has {len(families)} entries for {d} features")
        self.units_ = np.broadcast_to(np.asarray(self.units, dtype=np.float64), (d,)).copy()
        self.tolerances_ = np.broadcast_to(np.asarray(self.tolerances, dtype=np.float64), (d,)).copy()
        if np.any(self.units_ <= 0):
            raise ValueError("units must be positive")
        self.reference_ = [np.sort(col[~np.isnan(col)]) for col in reference.T]
        self.n_reference_ = np.array([col.size for col in self.reference_])
        self.max_ = np.array([col[-1] if col.size else -np.inf for col in self.reference_])
        self.families_ = sorted(set(families))
        self.family_of_ = np.array([self.families_.index(f) for f in families])
        self.baseline_ = np.zeros(d)
        medians = np.array([np.median(col) if col.size else np.inf for col in self.reference_])
        self.baseline_ = np.array([self._raw(j, medians[j : j + 1])[0] for j in range(d)])
        return self

    def _raw(self, j: int, values: np.ndarray) -> np.ndarray:
        col = self.reference_[j]
        n = col.size
        at_least = n - np.searchsorted(col, values, side="left")
        return np.log10((n + 1.0) / (at_least + 1.0))

    def feature_rarity(self, X: Any) -> np.ndarray:
        """Per-feature rarity in decades (0: typical, not applicable, or within tolerance)."""
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, ensure_all_finite="allow-nan", reset=False)
        return self._feature_rarity(X)

    def _feature_rarity(self, X: np.ndarray) -> np.ndarray:
        """:meth:`feature_rarity` without input validation (the serving hot path)."""
        out = np.zeros_like(X)
        # NaN (not applicable) and values within tolerance compare False: they stay 0
        relevant = self.tolerances_ < X
        for j in np.flatnonzero(relevant.any(axis=0) & (self.n_reference_ > 0)):
            rows = relevant[:, j]
            x = X[rows, j]
            col = self.reference_[j]
            n = col.size
            at_least = n - np.searchsorted(col, x, side="left")
            rarity = np.log10((n + 1.0) / (at_least + 1.0))
            beyond = x > self.max_[j]
            if beyond.any():
                extra = (x[beyond] - self.max_[j]) / self.units_[j] * self.extrapolation
                rarity[beyond] = np.log10(n + 1.0) + extra
            out[rows, j] = np.maximum(rarity - self.baseline_[j], 0.0)
        return out

    def _families(self, per_feature: np.ndarray) -> np.ndarray:
        out = np.zeros((per_feature.shape[0], len(self.families_)))
        np.maximum.at(out.T, self.family_of_, per_feature.T)
        return out

    def family_rarity(self, X: Any) -> np.ndarray:
        """Per-family rarity: the rarest feature of each family (columns in ``families_`` order)."""
        return self._families(self.feature_rarity(X))

    def score_with_evidence(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Scores and per-feature evidence strength in one pass, for trusted float64 batches.

        Serving scores thousands of small batches: this skips sklearn's per-call input checks
        (the engine builds the matrix itself) and computes the rarities once for both uses.
        """
        per_feature = self._feature_rarity(X)
        return self._families(per_feature).sum(axis=1), per_feature

    def transform(self, X: Any) -> np.ndarray:
        """Same as :meth:`family_rarity`."""
        return self.family_rarity(X)

    def score_samples(self, X: Any) -> np.ndarray:
        """Suspicion of each row, in decades of rarity: higher is more suspicious."""
        return self.family_rarity(X).sum(axis=1)

    def evidence_strength(self, X: Any) -> np.ndarray:
        """Per-feature strength used to pick reasons (rarity in decades)."""
        return self.feature_rarity(X)

    def strength_note(self, j: int, rarity: float) -> str:
        """How unusual a rarity is, in words: 'about 1 legitimate account in 2,000'."""
        n = int(self.n_reference_[j])
        raw = rarity + float(self.baseline_[j])
        if raw >= np.log10(n + 1.0) - 1e-9:
            return f"beyond all {n:,} legitimate accounts in the model's reference"
        return f"about 1 legitimate account in {10.0**raw:,.0f}"

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags
