"""Small builders for storage tests: contract lines that go through the real decoder, and records."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from features.records import Snapshot
from ingest.contract import AnyEvent, decode
from models.records import Flag, Verdict

T0 = datetime(2026, 3, 2, 8, 0, 0, tzinfo=UTC)
_ids: Iterator[int] = itertools.count()


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def line(kind: str, seconds: float, *, site: str = "93-bobigny", event_id: str | None = None, **fields: Any) -> str:
    """One contract v1 JSON line, ``seconds`` after T0."""
    doc: dict[str, Any] = {
        "event_id": event_id or f"ev{next(_ids):09d}",
        "type": kind,
        "ts": at(seconds).isoformat(timespec="milliseconds"),
        "site": site,
    }
    if isinstance(fields.get("slot_start"), int | float):
        fields["slot_start"] = at(fields["slot_start"]).isoformat()
    doc.update(fields)
    return json.dumps(doc)


def events(lines: list[str]) -> tuple[list[AnyEvent], list[str]]:
    """Decode lines with the real contract decoder; returns (events, raws)."""
    return [decode(x) for x in lines], lines


def searches(account: str, n: int, start: float = 0.0, **fields: Any) -> list[str]:
    return [
        line("slot_search", start + i, account_id=account, service="titre-sejour", results=i % 3, **fields)
        for i in range(n)
    ]


def verdict(
    account: str,
    score: float,
    *,
    flagged: bool = True,
    when: float = 0.0,
    site: str = "93-bobigny",
    model: str = "m1",
    reasons: list[str] | None = None,
) -> Verdict:
    return Verdict(
        account_id=account,
        score=score,
        flagged=flagged,
        flagged_at=at(when) if flagged else None,
        reasons=reasons if reasons is not None else ([f"{account} reason"] if flagged else []),
        site=site,
        model_version=model,
        scored_at=at(when),
    )


def flag(account: str, score: float, *, when: float = 0.0, site: str = "93-bobigny", model: str = "m1") -> Flag:
    return Flag(account, site, at(when), score, 0.5, [f"{account} flag reason"], model)


def snapshot(account: str, when: float, values: tuple[float, ...] = (1.0, 2.0, 3.0)) -> Snapshot:
    return Snapshot(account, "93-bobigny", at(when).timestamp(), values)
