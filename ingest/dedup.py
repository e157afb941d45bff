"""Duplicate suppression by event_id with bounded memory.

Two generations of id sets rotate every ``horizon_s`` of event time, so any id seen within the
last ``horizon_s`` (and up to twice that) is recognised, and memory never holds more than two
horizons' worth of ids. Producers retry within seconds to minutes, well inside the horizon.
"""

from __future__ import annotations


class Deduplicator:
    """``seen(event_id, t)`` is True for an id already seen within the horizon."""

    def __init__(self, horizon_s: float) -> None:
        self.horizon_s = horizon_s
        self._current: set[str] = set()
        self._previous: set[str] = set()
        self._rotate_at: float | None = None

    def seen(self, event_id: str, t: float) -> bool:
        """True if ``event_id`` was seen within the horizon; otherwise remember it."""
        self.advance(t)
        return self.seen_now(event_id)

    def advance(self, t: float) -> None:
        """Move the horizon to event time ``t`` (callers on a hot path do this once per block)."""
        if self._rotate_at is None:
            self._rotate_at = t + self.horizon_s
        elif t >= self._rotate_at:
            self._previous = self._current
            self._current = set()
            self._rotate_at = t + self.horizon_s

    def seen_now(self, event_id: str) -> bool:
        """:meth:`seen` without moving the horizon."""
        if event_id in self._current or event_id in self._previous:
            return True
        self._current.add(event_id)
        return False

    def __len__(self) -> int:
        return len(self._current) + len(self._previous)
