"""Operational knobs of the streaming engine (not feature definitions: those live in the registry)."""

from __future__ import annotations

from dataclasses import dataclass

HOUR = 3600.0
DAY = 86400.0


@dataclass(frozen=True)
class EngineConfig:
    """How the engine orders, deduplicates, scores and forgets; all durations in event-time seconds."""

    #: events may arrive this late (event time) and still be applied in order
    lateness_s: float = 300.0
    #: the embedded runner processes the ticks that have closed every this many events
    reorder_block: int = 1024
    #: event time is processed in ticks this long; accounts whose features changed are scored at each
    score_interval_s: float = 300.0
    #: an event_id seen again within this horizon is a duplicate
    dedup_horizon_s: float = 3 * DAY
    #: account state idle this long is evicted (its verdict is kept)
    account_ttl_s: float = 45 * DAY
    #: device / address / applicant / network state idle this long is evicted
    entity_ttl_s: float = 14 * DAY
    #: how often eviction sweeps run
    sweep_interval_s: float = 24 * HOUR
