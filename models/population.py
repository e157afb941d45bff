"""The default anomaly model: how rare an account's behaviour is *in the population it belongs to*.

A deployment's legitimate population is not any simulator's: what is unusual at one prefecture
(a PC shared by 40 people, a thousand searches a day) is ordinary at another. So the reference for
"how unusual is this" is the site's own accounts, counted in fixed bins per feature (declared in
the feature registry), and an account's value is scored by its upper-tail rarity there, in decades::

    rarity(x) = log10((n + 1) / (#{reference in x's bin or above} + 1)) - rarity(median)

so 2.0 means "only about 1 account in 100 of this site reached this". Beyond the highest occupied
bin the rarity keeps growing by ``extrapolation`` decades per feature ``unit``. A value at or below
the feature's declared ``tolerance`` (what legitimate people reach: a human's reaction time, one odd
outcome) is never evidence, and NaN (does not apply) is neither suspicious nor reassuring.

Features measuring one behaviour form a *family*: a family counts once, with its rarest feature,
and at most ``family_cap`` decades, so that no single behaviour, however rare, decides alone: an
account is flagged on several independent kinds of evidence. The score is the sum over families.

Robustness to the scalpers in the population: the reference the detector keeps per site leaves out
the accounts it has flagged, so a large operation does not make its own behaviour look ordinary;
a small prior (the training worlds' reference, weighed as ``prior_weight`` accounts) keeps the first
hours of a new site from being judged against a handful of accounts.

:class:`PopulationRarity` is a scikit-learn estimator over one reference (``fit`` counts the rows it
is given; no labels are needed). :class:`Reference` is the mutable, mergeable form the detector
updates per site. Score direction everywhere: **higher = more suspicious**.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

#: bins used for a feature when none are declared: this many quantiles of the fitted data
DEFAULT_QUANTILE_BINS = 32


@dataclass
class Reference:
    """Per-feature bin counts of a population (float counts, so a prior can be weighed in)."""

    counts: list[np.ndarray]

    @classmethod
    def empty(cls, edges: Sequence[np.ndarray]) -> Reference:
        return cls([np.zeros(len(e), dtype=np.float64) for e in edges])

    def copy(self) -> Reference:
        return Reference([c.copy() for c in self.counts])

    def add(self, bins: np.ndarray, weight: float = 1.0) -> None:
        """Count rows given as bin indices (one column per feature, -1 for "does not apply")."""
        for j, counts in enumerate(self.counts):
            column = bins[:, j]
            column = column[column >= 0]
            if column.size:
                np.add.at(counts, column, weight)

    def merge(self, other: Reference, weight: float = 1.0) -> None:
        for j, theirs in enumerate(other.counts):
            self.counts[j] += weight * theirs

    @property
    def sizes(self) -> np.ndarray:
        return np.array([c.sum() for c in self.counts])


@dataclass
class RarityTables:
    """A reference frozen for scoring: rarity per bin, and what beyond-the-top extrapolates from."""

    #: rarity in decades per (feature, bin), already relative to the median and floored at 0
    per_bin: list[np.ndarray]
    #: index of the highest occupied bin per feature (-1: empty reference)
    top: np.ndarray
    #: value above which extrapolation applies (upper edge of the top bin), per feature
    top_edge: np.ndarray
    #: log10(n + 1) - baseline: the rarity at the top, per feature
    top_rarity: np.ndarray
    n: np.ndarray
    baseline: np.ndarray

    @classmethod
    def build(cls, reference: Reference, edges: Sequence[np.ndarray]) -> RarityTables:
        per_bin, top, top_edge, top_rarity, sizes, baselines = [], [], [], [], [], []
        for counts, e in zip(reference.counts, edges, strict=True):
            n = float(counts.sum())
            at_least = np.cumsum(counts[::-1])[::-1]
            raw = np.log10((n + 1.0) / (at_least + 1.0))
            occupied = np.flatnonzero(counts > 0)
            if occupied.size:
                median_bin = int(np.searchsorted(np.cumsum(counts), n / 2.0))
                baseline = float(raw[min(median_bin, len(raw) - 1)])
                highest = int(occupied[-1])
            else:
                baseline, highest = 0.0, -1
            per_bin.append(np.maximum(raw - baseline, 0.0))
            top.append(highest)
            top_edge.append(float(e[highest + 1]) if 0 <= highest < len(e) - 1 else float(e[max(highest, 0)]))
            top_rarity.append(np.log10(n + 1.0) - baseline)
            sizes.append(n)
            baselines.append(baseline)
        return cls(
            per_bin, np.array(top), np.array(top_edge), np.array(top_rarity), np.array(sizes), np.array(baselines)
        )


class PopulationRarity(BaseEstimator):
    """Sum over evidence families of the rarest feature's rarity in a population reference.

    Parameters
    ----------
    bins
        Bin edges per feature (ascending; a value falls in the bin of the largest edge <= it), or
        None to use quantiles of the fitted data.
    families
        Family name of each feature (same order as the columns); None: each feature its own.
    units
        Per-feature unit for extrapolation beyond the reference's top (scalar or sequence).
    tolerances
        Per-feature value at or below which nothing is evidence (scalar or sequence; -inf: none).
    extrapolation
        Decades added per unit beyond the top of the reference.
    family_cap
        Most decades one family can contribute: a scalar, or one value per family in order of first
        appearance in ``families`` (inf: no cap).
    absolute
        Per feature (sequence of bools, or None for none): the value is already evidence in decades
        (a binomial surprise under an assumed applicant's rate) and is taken as it is.
    amplifying
        Per family, in the order of ``family_cap`` (sequence of bools, or None for none): families
        that only *amplify* the others (context, and behaviour legitimate people also show): they
        add at most ``amplification`` times what the other families add, so they never make
        evidence on their own.
    amplification
        How many times the other families' evidence an amplifying family can add: a scalar, or one
        value per family in the order of ``family_cap`` (only the amplifying families' matter).
        Together they add at most the largest factor times it.
    context_weight
        What the amplifying families add on their own, as a share of their evidence: enough to
        rank an account with context only above one with nothing, far from any threshold.
    """

    def __init__(
        self,
        bins: Sequence[Sequence[float]] | None = None,
        families: Sequence[str] | None = None,
        units: Any = 1.0,
        tolerances: Any = -np.inf,
        extrapolation: float = 1.0,
        family_cap: Any = np.inf,
        absolute: Sequence[bool] | None = None,
        amplifying: Sequence[bool] | None = None,
        amplification: Any = 1.0,
        context_weight: float = 0.0,
    ) -> None:
        self.bins = bins
        self.families = families
        self.units = units
        self.tolerances = tolerances
        self.extrapolation = extrapolation
        self.family_cap = family_cap
        self.absolute = absolute
        self.amplifying = amplifying
        self.amplification = amplification
        self.context_weight = context_weight

    # ----------------------------------------------------------------- fitting
    def fit(self, X: Any, y: Any = None, sample_weight: Any = None) -> PopulationRarity:
        """Count the rows of ``X`` as the reference population (``y`` is ignored: unsupervised)."""
        X = validate_data(self, X, dtype=np.float64, ensure_all_finite="allow-nan")
        d = X.shape[1]
        families = list(self.families) if self.families is not None else [str(j) for j in range(d)]
        if len(families) != d:
            raise ValueError(f"families has {len(families)} entries for {d} features")
        if self.bins is not None and len(self.bins) != d:
            raise ValueError(f"bins has {len(self.bins)} entries for {d} features")
        self.units_ = np.broadcast_to(np.asarray(self.units, dtype=np.float64), (d,)).copy()
        self.tolerances_ = np.broadcast_to(np.asarray(self.tolerances, dtype=np.float64), (d,)).copy()
        if np.any(self.units_ <= 0):
            raise ValueError("units must be positive")
        if self.absolute is not None and len(self.absolute) != d:
            raise ValueError(f"absolute has {len(self.absolute)} entries for {d} features")
        self.absolute_ = np.zeros(d, dtype=bool) if self.absolute is None else np.asarray(self.absolute, dtype=bool)
        if self.bins is not None:
            self.edges_ = [np.asarray(b, dtype=np.float64) for b in self.bins]
        else:
            self.edges_ = [_quantile_edges(X[:, j]) for j in range(d)]
        for j, e in enumerate(self.edges_):
            if e.size == 0 or np.any(np.diff(e) <= 0):
                raise ValueError(f"bins of feature {j} must be non-empty and strictly ascending")
        self.families_ = list(dict.fromkeys(families))
        self.family_of_ = np.array([self.families_.index(f) for f in families])
        self.family_caps_ = np.broadcast_to(
            np.asarray(self.family_cap, dtype=np.float64), (len(self.families_),)
        ).copy()
        if self.amplifying is not None and len(self.amplifying) != len(self.families_):
            raise ValueError(f"amplifying has {len(self.amplifying)} entries for {len(self.families_)} families")
        self.amplifying_ = (
            np.zeros(len(self.families_), dtype=bool)
            if self.amplifying is None
            else np.asarray(self.amplifying, dtype=bool)
        )
        self.amplification_ = np.broadcast_to(
            np.asarray(self.amplification, dtype=np.float64), (len(self.families_),)
        ).copy()
        if np.any(self.amplification_ < 0):
            raise ValueError("amplification must be non-negative")
        weights = None if sample_weight is None else _check_sample_weight(sample_weight, X, ensure_non_negative=True)
        if weights is not None and weights.sum() <= 0:
            raise ValueError("sample weights sum to zero: the reference would be empty")
        self.reference_ = Reference.empty(self.edges_)
        binned = self.bin_rows(X)
        if weights is None:
            self.reference_.add(binned)
        else:
            for w in np.unique(weights):
                self.reference_.add(binned[weights == w], float(w))
        self.tables_ = RarityTables.build(self.reference_, self.edges_)
        self.n_reference_ = self.tables_.n
        #: how many accounts (rows, weighed) the reference counts: the unit a prior is scaled by
        self.n_rows_ = float(X.shape[0] if weights is None else weights.sum())
        return self

    # ----------------------------------------------------------------- binning and tables
    def bin_rows(self, X: np.ndarray) -> np.ndarray:
        """Bin index of every value (-1 where the value is NaN: the feature does not apply)."""
        out = np.empty(X.shape, dtype=np.int16)
        for j, e in enumerate(self.edges_):
            column = X[:, j]
            idx = np.searchsorted(e, column, side="right") - 1
            idx = np.clip(idx, 0, len(e) - 1)
            idx[np.isnan(column)] = -1
            out[:, j] = idx
        return out

    def tables(self, reference: Reference) -> RarityTables:
        """Scoring tables for another reference over the same bins (a site's population)."""
        check_is_fitted(self)
        return RarityTables.build(reference, self.edges_)

    # ----------------------------------------------------------------- scoring
    def feature_rarity(self, X: Any, tables: RarityTables | None = None) -> np.ndarray:
        """Per-feature rarity in decades (0: typical, not applicable, or within tolerance)."""
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, ensure_all_finite="allow-nan", reset=False)
        return self._feature_rarity(X, tables or self.tables_)

    def _feature_rarity(self, X: np.ndarray, tables: RarityTables) -> np.ndarray:
        """:meth:`feature_rarity` without input validation (the serving hot path)."""
        out = np.zeros_like(X)
        # NaN (not applicable) and values within tolerance compare False: they stay 0
        relevant = self.tolerances_ < X
        for j in np.flatnonzero(relevant.any(axis=0) & self.absolute_):
            rows = relevant[:, j]
            out[rows, j] = np.maximum(X[rows, j], 0.0)
        for j in np.flatnonzero(relevant.any(axis=0) & (tables.n > 0) & ~self.absolute_):
            rows = relevant[:, j]
            x = X[rows, j]
            e = self.edges_[j]
            idx = np.clip(np.searchsorted(e, x, side="right") - 1, 0, len(e) - 1)
            rarity = tables.per_bin[j][idx]
            beyond = (idx > tables.top[j]) | (x > tables.top_edge[j])
            if beyond.any():
                extra = np.maximum(x[beyond] - tables.top_edge[j], 0.0) / self.units_[j] * self.extrapolation
                rarity = rarity.copy()
                rarity[beyond] = np.maximum(tables.top_rarity[j], 0.0) + extra
            out[rows, j] = rarity
        return out

    def _families(self, per_feature: np.ndarray) -> np.ndarray:
        out = np.zeros((per_feature.shape[0], len(self.families_)))
        np.maximum.at(out.T, self.family_of_, per_feature.T)
        return np.minimum(out, self.family_caps_)

    def family_rarity(self, X: Any, tables: RarityTables | None = None) -> np.ndarray:
        """Per-family rarity: the rarest feature of each family, capped (columns in ``families_`` order)."""
        return self._families(self.feature_rarity(X, tables))

    def evidence(self, X: np.ndarray, tables: RarityTables | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Per-family and per-feature rarity in one pass, for trusted float64 batches (serving)."""
        per_feature = self._feature_rarity(X, tables or self.tables_)
        return self._families(per_feature), per_feature

    def combine(self, family: np.ndarray, counted: np.ndarray | None = None) -> np.ndarray:
        """Scores from per-family evidence (rows x families): the evidence of the families that
        make it, plus each amplifying family's up to its ``amplification`` times that (in all at
        most the largest factor times it), plus ``context_weight`` of what amplification left over.

        ``counted`` (a boolean mask over families) leaves families out, e.g. the context a seller
        operating a buyer's account brings.
        """
        family = np.atleast_2d(family)
        if counted is not None:
            family = family * counted
        amplifying_mask = self.amplifying_
        own = family[:, ~amplifying_mask].sum(axis=1)
        amplifying = family[:, amplifying_mask]
        factors = self.amplification_[amplifying_mask]
        if factors.size == 0:
            return own
        per_family = np.minimum(amplifying, factors[None, :] * own[:, None])
        amplified = np.minimum(per_family.sum(axis=1), float(factors.max()) * own)
        return own + amplified + self.context_weight * (amplifying.sum(axis=1) - amplified)

    def score_samples(self, X: Any) -> np.ndarray:
        """Suspicion of each row, in decades of rarity: higher is more suspicious."""
        return self.combine(self.family_rarity(X))

    def strength_note(self, j: int, rarity: float, tables: RarityTables | None = None) -> str:
        """How unusual a rarity is, in words: 'about 1 account in 2,000 at this site'."""
        if self.absolute_[j]:
            return f"an applicant's bookings end so by chance about 1 time in {10.0**rarity:,.0f}"
        tables = tables or self.tables_
        n = float(tables.n[j])
        raw = rarity + float(tables.baseline[j])
        if raw >= np.log10(n + 1.0) - 1e-9:
            return f"beyond every one of the {n:,.0f} accounts in the site's reference"
        return f"about 1 account in {10.0**raw:,.0f} at this site"

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags


def _quantile_edges(column: np.ndarray) -> np.ndarray:
    values = column[~np.isnan(column)]
    if values.size == 0:
        return np.array([0.0])
    edges = np.unique(np.quantile(values, np.linspace(0.0, 1.0, DEFAULT_QUANTILE_BINS + 1)))
    return edges
