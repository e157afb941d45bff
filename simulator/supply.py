"""Supply: sites, their services, opening schedules, batch sizes, and the pools of free slots.

Each (site, service) gets an opening schedule drawn per world: every weekday at a fixed hour,
once a week, every night at midnight, or at random hours. An opening releases a batch of slots
whose appointments fall in office hours a few days to a few weeks ahead. A pool holds the free
slots of one (site, service): what a search counts, what a booking takes.
"""

from __future__ import annotations

import heapq
import logging
import math
import random
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from simulator.model import Slot
from simulator.params import SERVICES, SITES, Draws, WorldParams
from simulator.timefmt import ParisClock

logger = logging.getLogger(__name__)

SCHEDULE_KINDS = ("weekdays", "weekly", "midnight", "random")
#: appointment hours at the counter: (start hour, end hour) of the morning and afternoon blocks
OFFICE_BLOCKS = ((8.5, 12.0), (13.5, 16.5))


@dataclass(eq=False)
class ServiceSupply:
    """One (site, service): its schedule, batch size and the opening instants inside the period."""

    site: str
    service: str
    kind: str
    hour: int
    weekday: int
    per_week: float
    batch_mean: float
    slot_minutes: int
    openings: list[int] = field(default_factory=list)

    @property
    def fixed(self) -> bool:
        """Whether openings happen at a predictable time (farms and human scalpers plan for them)."""
        return self.kind != "random"

    def describe(self, clock: ParisClock) -> dict[str, Any]:
        """The schedule as recorded in world.json."""
        return {
            "site": self.site,
            "service": self.service,
            "schedule": self.kind,
            "hour": self.hour if self.kind in ("weekdays", "weekly") else None,
            "weekday": self.weekday if self.kind == "weekly" else None,
            "openings_per_week": round(self.per_week, 2),
            "batch_mean": round(self.batch_mean, 1),
            "slot_minutes": self.slot_minutes,
            "openings": [clock.format(t) for t in self.openings],
        }


class Pool:
    """The free, still bookable slots of one (site, service), in release order."""

    def __init__(self, notice_ms: int) -> None:
        self.notice_ms = notice_ms
        self.free: dict[str, Slot] = {}
        self._expiry: list[tuple[int, int, Slot]] = []
        self._seq = 0
        self.expired = 0

    def add(self, slot: Slot) -> None:
        """Make a released slot bookable."""
        slot.free = True
        self.free[slot.slot_id] = slot
        self._seq += 1
        heapq.heappush(self._expiry, (slot.start, self._seq, slot))

    def purge(self, now: int) -> None:
        """Drop slots that start too soon to be booked (the system's minimum notice)."""
        horizon = now + self.notice_ms
        expiry = self._expiry
        while expiry and expiry[0][0] < horizon:
            slot = heapq.heappop(expiry)[2]
            if slot.free and self.free.get(slot.slot_id) is slot:
                del self.free[slot.slot_id]
                slot.free = False
                self.expired += 1

    def count(self, now: int) -> int:
        """How many slots a search shows right now."""
        if self.free:
            self.purge(now)
        return len(self.free)

    def eligible(self, now: int, seen_at: int) -> list[Slot]:
        """Free slots that were already free when the searcher looked (at ``seen_at``)."""
        if not self.free:
            return []
        self.purge(now)
        return [s for s in self.free.values() if s.released <= seen_at]

    def take(self, slot: Slot) -> None:
        """Remove a slot that was just booked."""
        del self.free[slot.slot_id]
        slot.free = False


def choose_sites(params: WorldParams, rng: random.Random) -> tuple[list[str], dict[str, float]]:
    """The world's sites (the first one is always Bobigny, the rest drawn) and their relative sizes."""
    others = list(SITES[1:])
    rng.shuffle(others)
    sites = [SITES[0], *others[: params.sites - 1]]
    weights = {site: round(rng.lognormvariate(0, 0.4), 3) for site in sites}
    return sites, weights


def _office_start(rng: random.Random, day: date, slot_minutes: int, clock: ParisClock) -> int:
    """A random appointment time on ``day`` on the service's slot grid, in office hours."""
    block = OFFICE_BLOCKS[rng.randrange(len(OFFICE_BLOCKS))]
    steps = int((block[1] - block[0]) * 60 // slot_minutes)
    minute = int(block[0] * 60) + slot_minutes * rng.randrange(steps)
    return clock.at(day, minute // 60, minute % 60)


def appointment_start(
    rng: random.Random, now: int, lead_days: tuple[float, float], slot_minutes: int, clock: ParisClock
) -> int:
    """An appointment on a weekday between ``lead_days`` from now, on the slot grid."""
    today = clock.local_date(now)
    for _ in range(20):
        day = today + timedelta(days=rng.randint(int(lead_days[0]), max(int(lead_days[0]), int(lead_days[1]))))
        if day.weekday() < 5:
            return _office_start(rng, day, slot_minutes, clock)
    return _office_start(rng, today + timedelta(days=int(lead_days[1]) + 1), slot_minutes, clock)


def build_supply(
    draws: Draws,
    *,
    sites: list[str],
    site_weights: dict[str, float],
    accounts: int,
    start: int,
    end: int,
    rng: random.Random,
    clock: ParisClock,
) -> list[ServiceSupply]:
    """Draw services, schedules and batch sizes per site, and list the openings inside the period.

    The world's daily supply is ``slots_per_account_day x accounts``, split between sites by their
    weights and between services by lognormal weights; a service's batch size is its daily share
    times 7 divided by its openings per week. Schedule kinds follow the world's weights; a site
    releases everything at random hours with probability ``all_random_site_share``, otherwise its
    first service has a fixed-time schedule.
    """
    daily_total = draws.slots_per_account_day * accounts
    weight_sum = sum(site_weights.values())
    out: list[ServiceSupply] = []
    for site in sites:
        services = rng.sample(SERVICES, rng.randint(2, 4))
        service_weights = [rng.lognormvariate(0, 0.5) for _ in services]
        site_daily = daily_total * site_weights[site] / weight_sum
        all_random = rng.random() < draws.all_random_site_share
        for index, service in enumerate(services):
            kind = "random" if all_random else rng.choices(SCHEDULE_KINDS, weights=draws.schedule_weights)[0]
            if index == 0 and kind == "random" and not all_random:
                kind = "weekdays"
            hour = rng.choice((8, 9, 10, 14)) if kind == "weekdays" else rng.choice((9, 10, 14, 16))
            weekday = rng.randint(0, 4)
            per_week = {"weekdays": 5.0, "weekly": 1.0, "midnight": 7.0}.get(kind, float(rng.randint(3, 10)))
            daily = site_daily * service_weights[index] / sum(service_weights)
            supply = ServiceSupply(
                site=site,
                service=service,
                kind=kind,
                hour=hour,
                weekday=weekday,
                per_week=per_week,
                batch_mean=max(1.0, daily * 7 / per_week),
                slot_minutes=rng.choice((15, 20, 30)),
            )
            supply.openings = _openings(supply, rng, start, end, clock)
            out.append(supply)
    return out


def _openings(supply: ServiceSupply, rng: random.Random, start: int, end: int, clock: ParisClock) -> list[int]:
    """The opening instants of one schedule inside [start, end)."""
    times: list[int] = []
    day = clock.local_date(start)
    last = clock.local_date(end - 1)
    while day <= last:
        weekday = day.weekday()
        if (supply.kind == "weekdays" and weekday < 5) or (supply.kind == "weekly" and weekday == supply.weekday):
            times.append(clock.at(day, supply.hour))
        elif supply.kind == "midnight":
            times.append(clock.at(day, 0))
        elif supply.kind == "random":
            for _ in range(poisson(rng, supply.per_week / 7)):
                times.append(clock.at(day, rng.randint(7, 22), rng.randrange(60), rng.randrange(60)))
        day += timedelta(days=1)
    return sorted(t for t in times if start <= t < end)


def poisson(rng: random.Random, mean: float) -> int:
    """A Poisson draw (Knuth's method; the means used here are small)."""
    limit = math.exp(-mean)
    count, product = 0, rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count
