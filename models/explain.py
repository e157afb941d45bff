"""Reasons: the evidence behind a score, in words an investigator can check.

Separate from scoring and from thresholding: given how strongly each feature speaks against an
account (the model's per-feature evidence strength: rarity among legitimate accounts in decades,
or a z-score) and the account's state, pick the strongest features and let each state its own
evidence (see :mod:`features.registry`), with the model's note on how unusual that is. Features
that share one piece of evidence (the three polling features) give it once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from features.registry import FEATURES
from features.state import AccountState

#: a feature must be at least this strong to be cited (rarity: 1 legitimate account in ~30)
MIN_STRENGTH = 1.5
MAX_REASONS = 4

StrengthNote = Callable[[int, float], str]


def explain(
    strength: Sequence[float] | np.ndarray,
    state: AccountState,
    note: StrengthNote | None = None,
    max_reasons: int = MAX_REASONS,
) -> list[str]:
    """Readable evidence for one account, strongest first; never empty."""
    values = np.asarray(strength, dtype=np.float64)
    order = np.argsort(-values, kind="stable")
    reasons: list[str] = []
    seen: set[str] = set()
    for j in order:
        if values[j] < MIN_STRENGTH or len(reasons) >= max_reasons:
            break
        text = FEATURES[j].evidence(state)
        if text in seen:
            continue
        seen.add(text)
        reasons.append(f"{text} ({note(int(j), float(values[j]))})" if note is not None else text)
    if not reasons:
        top = ", ".join(f"{FEATURES[j].name} ({values[j]:.1f})" for j in order[:3])
        reasons.append(f"several mildly unusual behaviours together: {top}")
    return reasons
