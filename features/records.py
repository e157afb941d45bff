"""What the feature core hands to scoring: per-account feature snapshots, batched."""

from __future__ import annotations

from msgspec import Struct


class Snapshot(Struct, frozen=True):
    """An account's feature vector as of event time ``t`` (POSIX seconds), in registry order."""

    account_id: str
    site: str
    t: float
    values: tuple[float, ...]
