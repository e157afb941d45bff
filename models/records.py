"""Verdicts and flags: what the service says about accounts (contract v1.1 verdict format)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

from msgspec import Struct, field

#: ``category`` of a flagged account
SCALPING: Final = "scalping"
#: ``category`` of an account that received a resold slot: a victim, never flagged
RESALE_BUYER: Final = "resale_buyer"


class Verdict(Struct):
    """The service's current word on one account.

    ``score`` is the peak suspicion reached so far (higher is more suspicious); ``flagged`` means
    the score crossed the model's threshold, first at event time ``flagged_at``. ``category`` is
    ``scalping`` when flagged, ``resale_buyer`` for an account that received a slot from a flagged
    seller (never flagged: its reasons name the seller and the slot), None otherwise. A flagged
    seller's ``buyers`` are the accounts its slots were handed to.
    """

    account_id: str
    score: float
    flagged: bool
    flagged_at: datetime | None
    reasons: list[str]
    site: str = ""
    model_version: str = ""
    #: event time of the snapshot that produced ``score``
    scored_at: datetime | None = None
    category: str | None = None
    buyers: list[str] = field(default_factory=list)
    #: the account received a handoff: its context evidence (devices, addresses it shares, which
    #: a seller operating its account may have brought) does not count
    presumed_buyer: bool = False

    def contract_dict(self) -> dict[str, Any]:
        """Exactly the contract's verdict fields (v1.1: ``category`` when there is one), JSON-ready."""
        out: dict[str, Any] = {
            "account_id": self.account_id,
            "score": round(self.score, 6),
            "flagged": self.flagged,
            "flagged_at": self.flagged_at.isoformat(timespec="milliseconds") if self.flagged_at else None,
            "reasons": list(self.reasons),
        }
        if self.category is not None:
            out["category"] = self.category
        if self.buyers:
            out["buyers"] = list(self.buyers)
        return out


class Flag(Struct, frozen=True):
    """An alert: raised once, when an account first crosses the threshold; evidence travels with it."""

    account_id: str
    site: str
    flagged_at: datetime
    score: float
    threshold: float
    reasons: list[str]
    model_version: str
    #: the family of the strongest evidence (``features.registry.FAMILIES``) or ``combined``
    reason_kind: str = ""
