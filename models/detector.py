"""Detecting and deciding: score feature batches, keep each account's verdict, raise flags.

The engine hands over batches of changed accounts; the detector scores them in one call to the
model (scoring), compares with the artifact's threshold (deciding), asks :mod:`models.explain`
for evidence when an account crosses it, and reports new flags and scored snapshots to optional
callbacks (acting is the caller's business: files, the store, metrics).

A verdict's ``score`` is the account's peak score so far, so ``flagged`` is exactly
``score >= threshold`` and ``flagged_at`` is the event time of the snapshot that first crossed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, MutableMapping
from datetime import UTC, datetime

import numpy as np

from features.engine import FeatureBatch
from models.artifact import ModelArtifact
from models.explain import explain
from models.records import Flag, Verdict

logger = logging.getLogger(__name__)

FlagHandler = Callable[[Flag], None]
SnapshotHandler = Callable[[FeatureBatch, np.ndarray], None]


def _time(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC)


class Detector:
    """Callable batch handler for the engine: ``detector(batch)``."""

    def __init__(
        self,
        model: ModelArtifact,
        verdicts: MutableMapping[str, Verdict] | None = None,
        on_flag: FlagHandler | None = None,
        on_scored: SnapshotHandler | None = None,
    ) -> None:
        self.model = model
        self.threshold = model.threshold
        self.verdicts: MutableMapping[str, Verdict] = {} if verdicts is None else verdicts
        self.on_flag = on_flag
        self.on_scored = on_scored
        self.flags_raised = 0
        self.note = model.estimator.strength_note

    def __call__(self, batch: FeatureBatch) -> None:
        scores, strengths = self.model.estimator.score_with_evidence(batch.matrix)
        if self.on_scored is not None:
            self.on_scored(batch, scores)
        verdicts = self.verdicts
        threshold = self.threshold
        version = self.model.version
        for i, account_id in enumerate(batch.account_ids):
            score = float(scores[i])
            verdict = verdicts.get(account_id)
            if verdict is None:
                verdict = Verdict(account_id, score, False, None, [], batch.sites[i], version, _time(batch.times[i]))
            elif score > verdict.score:
                verdict.score = score
                verdict.scored_at = _time(batch.times[i])
            else:
                continue
            if score >= threshold:
                verdict.reasons = explain(strengths[i], batch.states[i], self.note)
                if not verdict.flagged:
                    verdict.flagged = True
                    verdict.flagged_at = verdict.scored_at
                    self.flags_raised += 1
                    if self.on_flag is not None:
                        self.on_flag(
                            Flag(
                                account_id,
                                verdict.site,
                                verdict.scored_at or _time(batch.times[i]),
                                score,
                                threshold,
                                list(verdict.reasons),
                                version,
                            )
                        )
            verdicts[account_id] = verdict

    def results(self) -> Iterator[Verdict]:
        """Every verdict, highest score first (ties by account id)."""
        return iter(sorted(self.verdicts.values(), key=lambda v: (-v.score, v.account_id)))
