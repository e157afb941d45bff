"""Slot supply: when each site opens new appointments, how many, and for which days."""

from __future__ import annotations

import random
from dataclasses import dataclass

from .clock import HOUR, MINUTE
from .engine import Sim
from .ids import weighted
from .scenarios import SiteSpec


@dataclass
class Batch:
    """Appointments of one service opened at one instant."""

    t: int
    service: str
    size: int
    scheduled: bool


def plan_batches(sim: Sim, site: SiteSpec, weekly: int, rng: random.Random) -> tuple[list[Batch], list[int]]:
    """Batches inside the period, and the instants the public knows in advance (fixed schedules)."""
    d = site.release_detail
    days = sim.days
    batches: list[Batch] = []
    known: list[int] = []
    services = site.services

    def split(t: int, total: int, scheduled: bool) -> None:
        norm = sum(services.values())
        for s, w in services.items():
            n = round(total * w / norm * rng.uniform(0.7, 1.3))
            if n > 0:
                batches.append(Batch(t + rng.randint(0, 1500), s, n, scheduled))

    def trickle(total: int) -> None:
        left = total
        while left > 0:
            day = rng.randrange(days)
            if sim.weekday(day) >= 5 and rng.random() < 0.8:
                continue
            n = min(left, rng.choice((1, 1, 1, 2, 2, 3, 4, 6)))
            t = sim.at_local(day, rng.uniform(7 * 60 + 30, 18 * 60 + 30))
            batches.append(Batch(t, weighted(rng, services), n, False))
            left -= n

    period_supply = weekly * days / 7
    if site.release == "fixed_weekly":
        moments = list(d["moments"])
        covered = {sim.weekday(day) for day in range(days)}
        if not any(wd in covered for wd, _ in moments):
            moments[0] = (rng.choice(sorted(covered)), moments[0][1])
        per_moment = weekly * (1 - d["trickle_share"]) / len(moments)
        for day in range(days):
            for wd, minute in moments:
                if sim.weekday(day) == wd:
                    t = sim.at_local(day, minute)
                    known.append(t)
                    split(t, round(per_moment), True)
        trickle(round(period_supply * d["trickle_share"]))
    elif site.release == "fixed_daily":
        wds = d["weekdays"]
        per_day = weekly * (1 - d["trickle_share"]) / len(wds)
        for day in range(days):
            if sim.weekday(day) in wds:
                t = sim.at_local(day, d["minute"])
                known.append(t)
                split(t, round(per_day * rng.uniform(0.6, 1.4)), True)
        trickle(round(period_supply * d["trickle_share"]))
    elif site.release == "random_times":
        n = max(1, round(d["per_week"] * days / 7 * rng.uniform(0.8, 1.2)))
        each = period_supply * (1 - d["trickle_share"]) / n
        for _ in range(n):
            day = rng.randrange(days)
            minute = rng.uniform(0, 1440) if d["night_ok"] else rng.uniform(7 * 60, 22 * 60)
            t = sim.at_local(day, minute)
            batches.append(Batch(t, weighted(rng, services), max(1, round(each * rng.uniform(0.4, 1.6))), False))
        trickle(round(period_supply * d["trickle_share"]))
    else:
        trickle(round(period_supply))
    batches = [b for b in batches if sim.start <= b.t < sim.end - 5 * MINUTE]
    batches.sort(key=lambda b: b.t)
    return batches, sorted(t for t in known if sim.start <= t < sim.end)


def open_batch(sim: Sim, site: SiteSpec, batch: Batch, rng: random.Random) -> None:
    """Create the batch's slots (a few consecutive working days, on the site's time grid) and release them one
    after another within a fraction of a second."""
    today = sim.day_index(batch.t)
    lead = rng.randint(1, 6) if rng.random() < site.p_short else rng.randint(7, 42)
    span = rng.randint(1, 4)
    per_day = max(1, (16 * 60 - 8 * 60 - 30) // site.grid_min)
    starts = []
    for _ in range(batch.size):
        day = today + lead + rng.randrange(span)
        wd = sim.weekday(day)
        if wd >= 5:
            day += 7 - wd
        minute = 8 * 60 + 30 + site.grid_min * rng.randrange(per_day)
        starts.append(sim.at_local(day, minute))
    starts.sort()
    t = batch.t
    for start in starts:
        if start - batch.t < 3 * HOUR:
            continue
        slot = sim.new_slot(site.name, batch.service, start)
        sim.at(t, lambda s=slot: sim.release(s, "opening"))
        t += rng.randint(2, 25)


def weekly_supply(seekers: float, ratio: float, days: int, floor: float) -> int:
    """Slots a week at a site, scaled to the simulated population so that demand stays above supply
    (``floor``: the least a prefecture site opens in a week, scaled to the world's size)."""
    return max(20, round(floor), round(seekers * ratio * 7 / max(days, 5)))
