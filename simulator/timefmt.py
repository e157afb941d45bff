"""Event time: integer milliseconds since the Unix epoch inside, RFC 3339 Europe/Paris text outside.

The simulator keeps time as ``int`` milliseconds (exact ties, cheap arithmetic) and turns an
instant into a ``datetime`` only when an event is written, with a fixed-offset ``timezone`` for
the Europe/Paris offset in force at that instant (``+01:00`` in winter, ``+02:00`` in summer; the
change happens at 01:00 UTC, on the hour, so the ``timezone`` object is cached per UTC hour). The
contract's encoder writes it as RFC 3339. ``format`` gives the same instant as text for world.json.
Local-time helpers answer "what hour/weekday is it in Paris", which drives opening schedules and
human daily rhythms.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta, timezone
from typing import Final
from zoneinfo import ZoneInfo

logger = logging.getLogger(__name__)

PARIS: Final = ZoneInfo("Europe/Paris")
SECOND: Final = 1000
MINUTE: Final = 60 * SECOND
HOUR: Final = 60 * MINUTE
DAY: Final = 24 * HOUR
_EPOCH_ORDINAL: Final = date(1970, 1, 1).toordinal()


class ParisClock:
    """Converts between epoch milliseconds and Paris local time, with per-hour offset caching."""

    def __init__(self) -> None:
        self._offsets: dict[int, int] = {}
        self._offset_text: dict[int, str] = {}
        self._dates: dict[int, str] = {}
        self._zones: dict[int, timezone] = {}
        self._zone_of_offset: dict[int, timezone] = {}

    def offset_ms(self, ms: int) -> int:
        """The Paris UTC offset in force at ``ms``, in milliseconds."""
        hour = ms // HOUR
        offset = self._offsets.get(hour)
        if offset is None:
            moment = datetime.fromtimestamp(hour * 3600, tz=PARIS)
            delta = moment.utcoffset() or timedelta(0)
            offset = self._offsets[hour] = int(delta.total_seconds()) * SECOND
        return offset

    def stamp(self, ms: int) -> datetime:
        """The instant as an aware ``datetime`` with the fixed Paris offset in force then (exact to the ms)."""
        zone = self._zones.get(ms // HOUR)
        if zone is None:
            offset = self.offset_ms(ms)
            zone = self._zone_of_offset.get(offset)
            if zone is None:
                zone = self._zone_of_offset[offset] = timezone(timedelta(milliseconds=offset))
            self._zones[ms // HOUR] = zone
        # ms / 1000 is within 0.2 us of the exact value at these magnitudes; fromtimestamp rounds to the us
        return datetime.fromtimestamp(ms / 1000, zone)

    def _offset_suffix(self, offset: int) -> str:
        text = self._offset_text.get(offset)
        if text is None:
            sign = "+" if offset >= 0 else "-"
            minutes = abs(offset) // MINUTE
            text = self._offset_text[offset] = f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"
        return text

    def format(self, ms: int) -> str:
        """RFC 3339, milliseconds, Paris offset: ``2026-03-02T09:00:01.250+01:00``."""
        offset = self.offset_ms(ms)
        days, rest = divmod(ms + offset, DAY)
        day_text = self._dates.get(days)
        if day_text is None:
            day_text = self._dates[days] = date.fromordinal(_EPOCH_ORDINAL + days).isoformat()
        hours, rest = divmod(rest, HOUR)
        minutes, rest = divmod(rest, MINUTE)
        seconds, millis = divmod(rest, SECOND)
        return f"{day_text}T{hours:02d}:{minutes:02d}:{seconds:02d}.{millis:03d}{self._offset_suffix(offset)}"

    def local_ms(self, ms: int) -> int:
        """Milliseconds since the epoch as if Paris wall-clock time were UTC (for hour/day arithmetic)."""
        return ms + self.offset_ms(ms)

    def hour(self, ms: int) -> float:
        """Paris wall-clock hour of day as a float in [0, 24)."""
        return (self.local_ms(ms) % DAY) / HOUR

    def weekday(self, ms: int) -> int:
        """Paris weekday, Monday = 0 (1970-01-01 was a Thursday)."""
        return (self.local_ms(ms) // DAY + 3) % 7

    def local_date(self, ms: int) -> date:
        """The Paris calendar date of ``ms``."""
        return date.fromordinal(_EPOCH_ORDINAL + self.local_ms(ms) // DAY)

    @staticmethod
    def at(day: date, hour: int, minute: int = 0, second: int = 0) -> int:
        """Epoch milliseconds of a Paris wall-clock time (times skipped by DST resolve forward)."""
        moment = datetime(day.year, day.month, day.day, hour, minute, second, tzinfo=PARIS)
        return round(moment.timestamp() * SECOND)
