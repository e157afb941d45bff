"""Verdicts and flags: what the service says about accounts (contract v1 verdict format)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from msgspec import Struct


class Verdict(Struct):
    """The service's current word on one account.

    ``score`` is the peak suspicion reached so far (higher is more suspicious); ``flagged`` means
    the score crossed the model's threshold, first at event time ``flagged_at``.
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

    def contract_dict(self) -> dict[str, Any]:
        """Exactly the contract's verdict fields, JSON-ready."""
        return {
            "account_id": self.account_id,
            "score": round(self.score, 6),
            "flagged": self.flagged,
            "flagged_at": self.flagged_at.isoformat(timespec="milliseconds") if self.flagged_at else None,
            "reasons": list(self.reasons),
        }


class Flag(Struct, frozen=True):
    """An alert: raised once, when an account first crosses the threshold; evidence travels with it."""

    account_id: str
    site: str
    flagged_at: datetime
    score: float
    threshold: float
    reasons: list[str]
    model_version: str
