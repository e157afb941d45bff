"""Reasons: the evidence behind a score, in words an investigator can check.

Separate from scoring and from thresholding: given how strongly each feature speaks against an
account (its rarity in the site's population, in decades) and the account's state, pick the
strongest features and let each state its own evidence (see :mod:`features.registry`), with the
model's note on how unusual that is at the site. Features that share one piece of evidence (the
three polling features) give it once. Buyers and sellers get their own sentences: a buyer's name
its seller and the slot (so the investigator can contact the victim), a seller's its buyers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from features.registry import FEATURES
from features.state import AccountState

#: a feature must be at least this strong to be cited (rarity: 1 account in ~30 at the site)
MIN_STRENGTH = 1.5
MAX_REASONS = 4
#: reason kind of a flag whose evidence is several mildly unusual behaviours together
COMBINED = "combined"

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


def reason_kind(strength: Sequence[float] | np.ndarray) -> str:
    """The family of the strongest evidence :func:`explain` cites, or ``combined`` when no single
    feature is strong enough to cite (what metrics count flags by: a closed set of names)."""
    values = np.asarray(strength, dtype=np.float64)
    if not values.size:
        return COMBINED
    j = int(np.argmax(values))
    return FEATURES[j].family if values[j] >= MIN_STRENGTH else COMBINED


def seller_note(state: AccountState) -> list[str]:
    """For a flagged account that handed slots to others: who received them (its likely buyers)."""
    if not state.handoff_takers:
        return []
    listed = ", ".join(f"{taker} (slot {slot})" for taker, slot in state.handoff_takers)
    return [f"handed slots to {len(state.handoff_takers)} accounts, likely its buyers (victims): {listed}"]


def buyer_reasons(state: AccountState) -> list[str]:
    """Why an account is considered the buyer of a resold slot: the seller, the slot, the timing."""
    flagged = set(state.flagged_sellers)
    reasons = [
        f"received slot {slot} {gap:.0f} s after account {giver} cancelled it; {giver} is flagged for "
        f"scalping: this account most likely bought the slot and is a victim of the resale"
        for giver, slot, gap in state.handoff_givers
        if giver in flagged
    ]
    return reasons or [
        f"received a slot from {', '.join(sorted(flagged))}, flagged for scalping: most likely a buyer (a victim)"
    ]
