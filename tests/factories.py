"""Builders for contract-v1 events in tests: every event goes through the real decoder."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

from features.core import FeatureCore
from features.registry import FEATURE_NAMES, vector
from features.state import AccountState, Stores
from ingest.contract import AnyEvent, decode
from ingest.pseudonym import Pseudonymizer

PARIS_WINTER = timezone(timedelta(hours=1))
#: Monday 2026-03-02 09:00 local time
T0 = datetime(2026, 3, 2, 9, 0, 0, tzinfo=PARIS_WINTER)


def iso(seconds_after_t0: float) -> str:
    return (T0 + timedelta(seconds=seconds_after_t0)).isoformat(timespec="milliseconds")


_ids: Iterator[int] = itertools.count()


def raw(kind: str, at: float, **fields: Any) -> str:
    """One contract line of type ``kind`` at ``at`` seconds after T0."""
    doc: dict[str, Any] = {"event_id": f"e{next(_ids):09d}", "type": kind, "ts": iso(at), "site": "93-bobigny"}
    for key in ("slot_start",):
        if isinstance(fields.get(key), int | float):
            fields[key] = iso(fields[key])
    doc.update(fields)
    return json.dumps(doc)


def event(kind: str, at: float, **fields: Any) -> AnyEvent:
    return decode(raw(kind, at, **fields))


class Feed:
    """Applies events to a fresh feature core, in process, as the embedded runner does."""

    def __init__(self) -> None:
        self.core = FeatureCore(Stores(), Pseudonymizer("test-key"))
        self.dirty: set[str] = set()
        #: every event applied, in the order given
        self.events: list[AnyEvent] = []

    def __call__(self, kind: str, at: float, **fields: Any) -> AnyEvent:
        ev = event(kind, at, **fields)
        self.core.apply(ev, ev.ts.timestamp(), self.dirty)
        self.events.append(ev)
        return ev

    def state(self, account: str) -> AccountState:
        return self.core.stores.accounts[account]

    def features(self, account: str) -> dict[str, float]:
        return dict(zip(FEATURE_NAMES, vector(self.state(account)), strict=True))

    # ---- common scenes
    def release(self, at: float, slot: str, reason: str = "opening", start: float = 14 * 86400) -> None:
        self("slot_released", at, slot_id=slot, service="titre-sejour", slot_start=start, reason=reason)

    def book(self, at: float, account: str, slot: str, booking: str, applicant: str = "app-1", **extra: Any) -> None:
        self(
            "booking_created",
            at,
            account_id=account,
            booking_id=booking,
            slot_id=slot,
            service="titre-sejour",
            slot_start=14 * 86400,
            applicant_id=applicant,
            **extra,
        )

    def cancel(self, at: float, account: str, slot: str, booking: str) -> None:
        self("booking_cancelled", at, account_id=account, booking_id=booking, slot_id=slot)
        self.release(at + 0.2, slot, reason="cancellation")

    def searches(self, account: str, start: float, period: float, count: int, results: int = 0, **extra: Any) -> None:
        for i in range(count):
            self(
                "slot_search", start + i * period, account_id=account, service="titre-sejour", results=results, **extra
            )
