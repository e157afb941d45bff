"""A deliberately plain baseline detector, scored beside slotguard in every quality report.

Fifteen per-account batch features counted over a whole events file, and an ``IsolationForest``
fitted on the same accounts (5 % contamination). No event time, no evidence, no calibration, no
knowledge of the domain beyond counting: it is what anyone would try first, and the yardstick the
real detector must beat on every generator of traffic. It is not used for serving.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sklearn.ensemble import IsolationForest

from ingest.contract import (
    AnyEvent,
    BookingAttended,
    BookingCancelled,
    BookingCreated,
    BookingModified,
    BookingNoShow,
    ContractError,
    SlotReleased,
    SlotSearch,
    decode,
)

BASELINE_FEATURES = (
    "searches",
    "bookings",
    "cancellations",
    "applicant_changes",
    "no_shows",
    "attended",
    "distinct_ips",
    "distinct_devices",
    "distinct_sessions",
    "distinct_asns",
    "night_share",
    "log_median_search_gap",
    "max_accounts_per_device",
    "max_accounts_per_ip",
    "log_min_release_to_booking",
)


@dataclass
class _Account:
    events: int = 0
    night: int = 0
    counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    ips: set[str] = field(default_factory=set)
    devices: set[str] = field(default_factory=set)
    sessions: set[str] = field(default_factory=set)
    asns: set[int] = field(default_factory=set)
    search_times: list[float] = field(default_factory=list)
    min_reaction: float = math.inf


def baseline_features(events: Iterable[AnyEvent]) -> tuple[list[str], np.ndarray]:
    """The fifteen batch features of every account in ``events`` (rows in account order)."""
    accounts: dict[str, _Account] = defaultdict(_Account)
    device_accounts: dict[str, set[str]] = defaultdict(set)
    ip_accounts: dict[str, set[str]] = defaultdict(set)
    released: dict[str, float] = {}
    for ev in events:
        t = ev.ts.timestamp()
        if type(ev) is SlotReleased:
            released[ev.slot_id] = t
            continue
        if ev.account_id is None:
            continue
        acc = accounts[ev.account_id]
        acc.events += 1
        offset = ev.ts.utcoffset()
        hour = int(((t + (offset.total_seconds() if offset else 0.0)) // 3600) % 24)
        acc.night += hour < 6
        if ev.ip:
            acc.ips.add(ev.ip)
            ip_accounts[ev.ip].add(ev.account_id)
        if ev.device_id:
            acc.devices.add(ev.device_id)
            device_accounts[ev.device_id].add(ev.account_id)
        if ev.session_id:
            acc.sessions.add(ev.session_id)
        if ev.asn is not None:
            acc.asns.add(ev.asn)
        kind = type(ev)
        if kind is SlotSearch:
            acc.counts["searches"] += 1
            acc.search_times.append(t)
        elif type(ev) is BookingCreated:
            acc.counts["bookings"] += 1
            if ev.slot_id in released:
                acc.min_reaction = min(acc.min_reaction, t - released[ev.slot_id])
        elif kind is BookingCancelled:
            acc.counts["cancellations"] += 1
        elif kind is BookingModified:
            acc.counts["applicant_changes"] += 1
        elif kind is BookingNoShow:
            acc.counts["no_shows"] += 1
        elif kind is BookingAttended:
            acc.counts["attended"] += 1
    ids = sorted(accounts)
    rows = []
    for account_id in ids:
        acc = accounts[account_id]
        gaps = np.diff(sorted(acc.search_times)) if len(acc.search_times) > 1 else np.array([])
        rows.append(
            [
                acc.counts["searches"],
                acc.counts["bookings"],
                acc.counts["cancellations"],
                acc.counts["applicant_changes"],
                acc.counts["no_shows"],
                acc.counts["attended"],
                len(acc.ips),
                len(acc.devices),
                len(acc.sessions),
                len(acc.asns),
                acc.night / acc.events if acc.events else 0.0,
                math.log10(float(np.median(gaps)) + 1.0) if gaps.size else 5.0,
                max((len(device_accounts[d]) for d in acc.devices), default=0),
                max((len(ip_accounts[i]) for i in acc.ips), default=0),
                math.log10(acc.min_reaction + 0.1) if math.isfinite(acc.min_reaction) else 6.0,
            ]
        )
    return ids, np.asarray(rows, dtype=np.float64).reshape(len(ids), len(BASELINE_FEATURES))


def read_events(path: Path) -> list[AnyEvent]:
    """Every valid event of a JSON Lines file (invalid lines are skipped: this is only a yardstick)."""
    out: list[AnyEvent] = []
    with path.open("rb") as stream:
        for line in stream:
            try:
                out.append(decode(line))
            except ContractError:
                continue
    out.sort(key=lambda ev: (ev.ts, ev.event_id))
    return out


def baseline_verdicts(path: Path, seed: int = 0) -> list[dict[str, object]]:
    """The baseline's scores as contract verdicts; ``flagged`` is the forest's own 5 % cut."""
    ids, X = baseline_features(read_events(path))
    if not ids:
        return []
    forest = IsolationForest(n_estimators=200, contamination=0.05, random_state=seed).fit(X)
    scores = -forest.score_samples(X)
    flagged = forest.predict(X) == -1
    return [
        {"account_id": a, "score": float(s), "flagged": bool(f), "flagged_at": None, "reasons": []}
        for a, s, f in zip(ids, scores.tolist(), flagged.tolist(), strict=True)
    ]
