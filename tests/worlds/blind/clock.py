"""Time arithmetic: the simulation runs on integer UTC milliseconds, events show Europe/Paris local time.

Europe/Paris is implemented from the EU rule (summer time from the last Sunday of March to the last
Sunday of October, switching at 01:00 UTC) so that output does not depend on the host's tz database.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache

SECOND = 1000
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE
DAY = 24 * HOUR

_EPOCH = dt.date(1970, 1, 1)


def _last_sunday(year: int, month: int) -> dt.date:
    """Last Sunday of a 31-day month (March and October are the only ones used)."""
    last = dt.date(year, month, 31)
    return last - dt.timedelta(days=(last.weekday() + 1) % 7)


def date_ms(day: dt.date) -> int:
    """Milliseconds from the epoch to 00:00 UTC of ``day``."""
    return (day - _EPOCH).days * DAY


@lru_cache(maxsize=64)
def _summer_window(year: int) -> tuple[int, int]:
    """UTC instants at which summer time starts and ends in ``year``."""
    return date_ms(_last_sunday(year, 3)) + HOUR, date_ms(_last_sunday(year, 10)) + HOUR


@lru_cache(maxsize=4096)
def _year_of_utc_day(day_number: int) -> int:
    return (_EPOCH + dt.timedelta(days=day_number)).year


def offset_ms(t: int) -> int:
    """Europe/Paris UTC offset at UTC instant ``t``."""
    start, end = _summer_window(_year_of_utc_day(t // DAY))
    return 2 * HOUR if start <= t < end else HOUR


@lru_cache(maxsize=4096)
def _date_text(day_number: int) -> str:
    return (_EPOCH + dt.timedelta(days=day_number)).isoformat()


def rfc3339(t: int, millis: bool = True) -> str:
    """Local Paris time of ``t`` as RFC 3339 with its offset, e.g. ``2026-03-02T09:00:01.250+01:00``."""
    off = offset_ms(t)
    day, rem = divmod(t + off, DAY)
    hours, rem = divmod(rem, HOUR)
    minutes, rem = divmod(rem, MINUTE)
    seconds, ms = divmod(rem, SECOND)
    zone = "+02:00" if off == 2 * HOUR else "+01:00"
    frac = f".{ms:03d}" if millis else ""
    return f"{_date_text(day)}T{hours:02d}:{minutes:02d}:{seconds:02d}{frac}{zone}"


def local_to_utc(day: dt.date, minute_of_day: float) -> int:
    """UTC instant of a Paris wall-clock time (a non-existent spring-forward time maps an hour on)."""
    naive = date_ms(day) + int(minute_of_day * MINUTE)
    winter = naive - HOUR
    if offset_ms(winter) == HOUR:
        return winter
    summer = naive - 2 * HOUR
    return summer if offset_ms(summer) == 2 * HOUR else winter


def local_date(t: int) -> dt.date:
    """Paris calendar date of ``t``."""
    return _EPOCH + dt.timedelta(days=(t + offset_ms(t)) // DAY)


def local_minute(t: int) -> float:
    """Paris wall-clock minute of the day of ``t`` (0 <= m < 1440)."""
    return ((t + offset_ms(t)) % DAY) / MINUTE


class MinuteClock:
    """``rfc3339`` with a cache of the per-minute prefix (events cluster in time; formatting dominates output)."""

    def __init__(self) -> None:
        self._cache: dict[int, tuple[str, str]] = {}

    def __call__(self, t: int) -> str:
        minute, ms = divmod(t, MINUTE)
        hit = self._cache.get(minute)
        if hit is None:
            if len(self._cache) > 50_000:
                self._cache.clear()
            text = rfc3339(minute * MINUTE)
            hit = self._cache[minute] = (text[:17], text[23:])
        sec, milli = divmod(ms, SECOND)
        return f"{hit[0]}{sec:02d}.{milli:03d}{hit[1]}"
