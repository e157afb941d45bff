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
    #: the reorder buffer is sorted and drained every this many events (1: at every event)
    reorder_block: int = 1024
    #: dirty accounts are scored at least this often (event time)
    score_interval_s: float = 300.0
    #: ... or as soon as this many accounts are waiting
    max_batch: int = 4096
    #: an event_id seen again within this horizon is a duplicate
    dedup_horizon_s: float = 3 * DAY
    #: account state idle this long is evicted (its verdict is kept)
    account_ttl_s: float = 45 * DAY
    #: device / address / applicant / network state idle this long is evicted
    entity_ttl_s: float = 14 * DAY
    #: how often eviction sweeps run
    sweep_interval_s: float = 24 * HOUR
