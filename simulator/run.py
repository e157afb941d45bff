"""Running a world: the in-memory form (``generate``) and the three output files (``simulate``)."""

from __future__ import annotations

import json
import logging
import statistics
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

from tqdm import tqdm

from simulator.population import Population
from simulator.roles import BUYER, PUBLIC_PC, SCALPER_ROLES, role_counts
from simulator.structure import MECHANISMS
from simulator.timefmt import HOUR
from simulator.world import World

logger = logging.getLogger(__name__)

GENERATOR_VERSION = 2


class WorldRun:
    """A world being generated.

    Iterate ``events`` (contract-v1 JSON lines as ``bytes``, no newline, sorted by ts then event_id)
    to run the simulation; once it is exhausted, ``labels()`` and ``summary()`` are available.
    """

    def __init__(self, world: World, population: Population, on_progress: Callable[[int], None] | None) -> None:
        self.world = world
        self.population = population
        self._finished = False
        self.events: Iterator[bytes] = self._stream(on_progress)

    def _stream(self, on_progress: Callable[[int], None] | None) -> Iterator[bytes]:
        yield from self.world.run(on_progress)
        self._finished = True

    def _require_finished(self) -> None:
        if not self._finished:
            raise RuntimeError("consume run.events to the end before asking for labels or the summary")

    def labels(self) -> list[dict[str, Any]]:
        """One label per account that appears in the events, sorted by account_id."""
        self._require_finished()
        out = []
        for account in sorted((a for a in self.world.accounts if a.seen), key=lambda a: a.account_id):
            scalper = account.role in SCALPER_ROLES and account.op is not None
            label: dict[str, Any] = {
                "account_id": account.account_id,
                "role": account.role,
                "scalper": account.role in SCALPER_ROLES,
                "operation": account.op.op_id if scalper and account.op is not None else None,
                "style": account.op.style if scalper and account.op is not None else None,
                "site": account.site,
            }
            if account.role == BUYER:
                delivered = account.bought_from is not None
                label["bought_from"] = account.bought_from
                label["sellers"] = list(account.sellers) if delivered else []
                label["delivered_by"] = account.delivered_by if delivered else "none"
                label["paid_to"] = account.paid_op
                label["scam"] = account.scam
            out.append(label)
        return out

    def summary(self) -> dict[str, Any]:
        """Everything world.json records: parameters, draws, structure, volumes, supply and demand."""
        self._require_finished()
        return _summary(self.world, self.population)


def generate(params: Any, on_progress: Callable[[int], None] | None = None) -> WorldRun:
    """Build a world from ``WorldParams`` and return it ready to run (nothing is written to disk).

    ``on_progress`` is called with the simulated time (epoch ms) about once per simulated hour.
    """
    world = World(params)
    population = Population(world)
    population.build()
    return WorldRun(world, population, on_progress)


def simulate(params: Any, out_dir: Path, progress: bool = False) -> dict[str, Any]:
    """Write events.jsonl, labels.jsonl and world.json under ``out_dir``; return the world.json content."""
    out_dir.mkdir(parents=True, exist_ok=True)
    bar = None
    on_progress: Callable[[int], None] | None = None
    if progress:
        bar = tqdm(total=params.days * 24, unit="h", desc="simulating", leave=False, dynamic_ncols=True)
        start_holder: list[int] = []

        def on_progress(now: int) -> None:
            if not start_holder:
                start_holder.append(now - HOUR)
            assert bar is not None
            bar.update(min(bar.total, (now - start_holder[0]) // HOUR) - bar.n)

    run = generate(params, on_progress)
    try:
        with (out_dir / "events.jsonl").open("wb", buffering=1 << 20) as events_file:
            write = events_file.write
            for line in run.events:
                write(line)
                write(b"\n")
    finally:
        if bar is not None:
            bar.close()
    with (out_dir / "labels.jsonl").open("w", encoding="utf-8") as labels_file:
        for label in run.labels():
            labels_file.write(json.dumps(label, separators=(",", ":")) + "\n")
    summary = run.summary()
    (out_dir / "world.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    logger.info("wrote %s events to %s", summary["events"]["total"], out_dir)
    return summary


def _sorted_counts(counter: Counter[str]) -> dict[str, int]:
    return {key: counter[key] for key in sorted(counter)}


def _summary(world: World, population: Population) -> dict[str, Any]:
    params, figures, clock = world.params, world.figures, world.clock
    seen = Counter(a.role for a in world.accounts if a.seen)
    planned = Counter(a.role for a in world.accounts)
    released_opening = figures["slots_released_opening"]
    taken_scalper = figures["opening_slots_taken_by_scalper"]
    taken_legit = figures["opening_slots_taken_by_legit"]
    searches = figures["searches_empty"] + figures["searches_with_results"]
    buyers = [a for a in world.accounts if a.role == BUYER]
    venue_accounts = Counter(a.group.split("/")[0] for a in world.accounts if a.role == PUBLIC_PC)
    delivered = Counter(a.delivered_by for a in buyers if a.bought_from is not None)

    def median_delay(group: str) -> float | None:
        delays = world.release_delays[group]
        return round(statistics.median(delays) / 1000, 3) if delays else None

    return {
        "generator": "slotguard-simulator",
        "generator_version": GENERATOR_VERSION,
        "contract_version": 1,
        "params": {
            "seed": params.seed,
            "accounts": params.accounts,
            "days": params.days,
            "mix": params.mix,
            "mix_shares": {role: round(share, 5) for role, share in params.shares.items()},
            "mix_variants": params.variants.describe(),
            "sites": params.sites,
            "start": params.start.isoformat(),
        },
        "period": {"start": clock.format(world.start), "end": clock.format(world.end)},
        "draws": asdict(world.draws),
        "structure": population.describe_structure(),
        "sites": [
            {
                "site": site,
                "weight": world.site_weights[site],
                "services": [s.describe(clock) for s in world.services_of(site)],
            }
            for site in world.sites
        ],
        "cgnat_pool_sizes": {str(asn): len(pool) for asn, pool in world.internet.cgnat_pools.items()},
        "operations": [op.describe() for op in population.operations],
        "offices": population.offices,
        "venues": [
            {"venue": v.name, "kind": v.kind, "site": v.site, "pcs": len(v.pcs), "accounts": venue_accounts[v.name]}
            for v in population.venues
        ],
        "households": population.households,
        "accounts": {
            "total": len(world.accounts),
            "planned_by_role": dict(role_counts(params.shares, params.accounts)),
            "by_role": {role: planned[role] for role in params.shares if planned[role]},
            "seen_by_role": {role: seen[role] for role in params.shares if seen[role]},
            "seen": sum(seen.values()),
            "scalpers_seen": sum(seen[r] for r in SCALPER_ROLES),
            "created_in_period": world.event_counts["account_created"],
        },
        "events": {
            "total": sum(world.event_counts.values()),
            "by_type": _sorted_counts(world.event_counts),
            "by_role": _sorted_counts(world.role_events),
        },
        "supply": {
            "slots_released_opening": released_opening,
            "slots_released_cancellation": figures["slots_released_cancellation"],
            "of_which_background_cancellations": figures["background_cancellations"],
            "opening_slots_taken_by_scalpers": taken_scalper,
            "opening_slots_taken_by_legit": taken_legit,
            "opening_slots_never_booked": released_opening - taken_scalper - taken_legit,
            "share_of_opening_slots_taken_by_scalpers": round(taken_scalper / released_opening, 4)
            if released_opening
            else None,
            "median_release_to_booking_s": {
                "scalper": median_delay("scalper"),
                "legit": median_delay("legit"),
            },
            "slots_expired_unbooked": sum(pool.expired for pool in world.pools.values()),
        },
        "demand": {
            "searches": searches,
            "searches_with_results": figures["searches_with_results"],
            "searches_empty": figures["searches_empty"],
            "share_of_searches_with_results": round(figures["searches_with_results"] / searches, 4)
            if searches
            else None,
            "bookings_by_role": {
                role: figures[f"booked_by_{role}"] for role in params.shares if figures[f"booked_by_{role}"]
            },
            "bookings_legit": figures["bookings_legit"],
            "bookings_scalper": figures["bookings_scalper"],
            "booking_attempts_too_late": figures["booking_attempts_too_late"],
            "logins_failed": figures["logins_failed"],
        },
        "resale": {
            "buyers": len(buyers),
            "buyers_paid": figures["buyers_paid"],
            "buyers_served": sum(1 for a in buyers if a.bought_from is not None),
            "buyers_served_by": {m: delivered[m] for m in MECHANISMS},
            "buyers_scammed": {
                "double_sold": sum(1 for a in buyers if a.scam == "double_sold"),
                "nonexistent_slot": sum(1 for a in buyers if a.scam == "nonexistent_slot"),
            },
            "buyers_without_seller": figures["buyers_without_seller"],
            "handoffs_attempted": figures["handoffs_attempted"],
            "handoffs_completed": figures["handoffs_completed"],
            "handoffs_sniped": figures["handoffs_sniped"],
            "modifications_sold": figures["modifications_sold"],
            "modifications_legit": figures["modifications_legit"],
            "office_rebooks": figures["office_rebooks"],
            "intermediary_bookings": figures["intermediary_bookings"],
            "held_slots_released": figures["held_slots_released"],
            "cancellations_scalper": figures["cancellations_scalper"],
            "cancellations_legit": figures["cancellations_legit"],
        },
        "outcomes": {
            kind: {"attended": figures[f"attended_{kind}"], "no_show": figures[f"no_show_{kind}"]}
            for kind in ("legit", "sold", "placeholder")
        },
    }


def describe(summary: dict[str, Any]) -> str:
    """One human paragraph about a finished world (printed by ``slotguard simulate``)."""
    accounts, events = summary["accounts"], summary["events"]
    supply, demand, resale = summary["supply"], summary["demand"], summary["resale"]
    share = supply["share_of_opening_slots_taken_by_scalpers"]
    with_results = demand["share_of_searches_with_results"]
    return (
        f"Simulated {summary['params']['days']} days at {summary['params']['sites']} site(s) from "
        f"{summary['params']['start']} (seed {summary['params']['seed']}, mix {summary['params']['mix']}): "
        f"{accounts['seen']} accounts appear ({accounts['scalpers_seen']} scalpers in "
        f"{len(summary['operations'])} operations), {events['total']:,} events. "
        f"{supply['slots_released_opening']} slots opened, "
        f"{'n/a' if share is None else f'{share:.0%}'} of them taken by scalpers; "
        f"{'n/a' if with_results is None else f'{with_results:.1%}'} of {demand['searches']:,} searches "
        f"showed a free slot. Resale: {resale['handoffs_completed']} handoffs "
        f"({resale['handoffs_sniped']} sniped), {resale['modifications_sold']} applicant changes, "
        f"{resale['buyers_served_by']['book_to_order']} booked to order, "
        f"{resale['buyers_served']}/{resale['buyers']} buyers served, "
        f"{sum(resale['buyers_scammed'].values())} scammed."
    )
