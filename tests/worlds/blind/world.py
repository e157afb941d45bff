"""Assembles a world from its drawn structure, runs it and writes events, labels and world.json."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import pathlib
import random
from collections import Counter
from collections.abc import Callable
from typing import Any

from . import legit as lg
from .acts import BuyerPool, Person, Proc
from .clock import local_to_utc, rfc3339
from .engine import Account, Applicant, Sim
from .ids import Mint, derive, weighted
from .netinfra import COMMON_MAIL, RESIDENTIAL_FR, RESIDENTIAL_WEIGHTS, FixedNet, Infra, org_domain, v4_in
from .ops import Operation, OpPlan
from .releases import Batch, open_batch, plan_batches, weekly_supply
from .scenarios import STYLE_MIN, STYLE_WEIGHT, SiteSpec, WorldSpec, draw_op, plan_world

CANDIDATE_ROLES = ("ordinary", "anxious", "mobile_user", "cybercafe_user")


class World:
    """One simulated world: its people, operations, slot supply and output files."""

    def __init__(self, spec: WorldSpec) -> None:
        self.spec = spec
        self.rng = derive(spec.seed, "world", spec.scenario)
        self.start = local_to_utc(spec.start, 0)
        self.end = local_to_utc(spec.start + dt.timedelta(days=spec.days), 0)
        self.sites = {s.name: s for s in spec.sites}
        self.pool = BuyerPool()
        self.persons: list[Person] = []
        self.procs: list[Proc] = []
        self.places: dict[str, lg.Place] = {}
        self.place_site: dict[str, str] = {}
        self.groups: dict[str, list[dict[str, Any]]] = {
            "public_pcs": [],
            "offices": [],
            "agencies": [],
            "households": [],
        }
        self.need: Counter[str] = Counter()
        self.ops: list[Operation] = []
        self.known: dict[str, list[int]] = {}
        self.supply: dict[str, int] = {}
        self.batches: dict[str, int] = {}
        self._n = 0

    # ---- helpers ----------------------------------------------------------------------------------
    def _prng(self) -> random.Random:
        self._n += 1
        return derive(self.spec.seed, "person", self.spec.scenario, self._n)

    def _site(self) -> SiteSpec:
        return self.sites[weighted(self.rng, {s.name: s.demand for s in self.spec.sites})]

    def _account(self, sim: Sim, site: str, role: str, rng: random.Random, phone: str | None = None) -> Account:
        acct = sim.new_account(site, role)
        acct.email_domain = weighted(rng, COMMON_MAIL)
        acct.phone_hash = phone if phone is not None else (sim.mint.hex(64) if rng.random() < 0.8 else None)
        return acct

    def _person(self, sim: Sim, infra: Infra, role: str, site: SiteSpec, label: str | None = None) -> Person:
        rng = self._prng()
        acct = self._account(sim, site.name, label or role, rng)
        setups, weights = lg.own_setups(infra, rng, role)
        service = weighted(rng, site.services)
        p = Person(role, acct, service, setups, weights, Applicant(sim.mint.hex(32), rng.uniform(0.8, 0.97)), rng)
        if rng.random() < 0.25:
            p.start_day = rng.randrange(sim.days)
            p.creates_account = rng.random() < 0.8
        p.fail_p = rng.uniform(0.01, 0.1)
        p.p_login = rng.uniform(0.6, 0.98)
        p.p_cancel = rng.uniform(0.01, 0.08)
        p.p_typo = rng.uniform(0.0, 0.05)
        p.p_earlier = rng.uniform(0.0, 0.12)
        p.knows_release = rng.random() < rng.uniform(0.2, 0.6)
        self.need[site.name] += 1
        self.persons.append(p)
        return p

    def _willing(self, p: Person, role: str) -> None:
        if self.spec.buyers_enabled and (
            role == "buyer"
            or (role in CANDIDATE_ROLES and not self.spec.custom and p.rng.random() < self.spec.p_willing)
        ):
            p.willing = True
            self.pool.add(p)

    # ---- legitimate population --------------------------------------------------------------------
    def _people(self, sim: Sim, infra: Infra) -> None:
        legit = self.spec.legit
        releases = self.known
        for role in ("ordinary", "mobile_user", "anxious", "buyer"):
            for _ in range(legit.get(role, 0)):
                site = self._site()
                base = "ordinary" if role == "buyer" else role
                p = self._person(sim, infra, base, site)
                self._willing(p, role)
                if base == "anxious":
                    p.params = lg.anxious_params(p.rng)
                    p.p_earlier = p.rng.uniform(0.05, 0.25)
                    self.procs.append(lg.anxious(sim, p, releases.setdefault(site.name, [])))
                else:
                    p.params = lg.ordinary_params(p.rng, base, p.willing)
                    self.procs.append(lg.ordinary(sim, p, releases.setdefault(site.name, [])))
        self._public_pcs(sim, infra, legit.get("cybercafe_user", 0))
        self._families(sim, infra, legit.get("family", 0))
        self._offices(sim, infra, "association", legit.get("association", 0))
        self._offices(sim, infra, "lawyer", legit.get("lawyer", 0))
        self._agencies(sim, infra, legit.get("intermediary_customer", 0))

    def _new_place(self, sim: Sim, infra: Infra, site: str, kind: str) -> lg.Place:
        rng = self.rng
        if kind == "cybercafe":
            asn = weighted(rng, RESIDENTIAL_WEIGHTS)
            net = FixedNet(v4_in(rng, RESIDENTIAL_FR[asn][1]), asn)
        else:
            net = infra.office_net()
        ua = infra.desktop_ua()
        pcs = [infra.device("desktop", ua if rng.random() < 0.8 else None) for _ in range(rng.randint(1, 8))]
        place = lg.Place(kind, pcs, net, lg.place_opening(sim, kind, rng))
        pid = "place-" + sim.mint.hex(8)
        self.places[pid] = place
        self.place_site[pid] = site
        return place

    def _public_pcs(self, sim: Sim, infra: Infra, n: int) -> None:
        rng = self.rng
        by_site: Counter[str] = Counter(self._site().name for _ in range(n))
        for site_name, count in sorted(by_site.items()):
            site = self.sites[site_name]
            n_places = max(1, round(count / rng.uniform(8, 30)))
            places = [
                self._new_place(
                    sim, infra, site_name, weighted(rng, {"cybercafe": 0.5, "library": 0.25, "social_centre": 0.25})
                )
                for _ in range(n_places)
            ]
            for _ in range(count):
                place = rng.choice(places)
                p = self._person(sim, infra, "cybercafe_user", site)
                has_phone = rng.random() < 0.5
                if has_phone:
                    p.setups, p.setup_weights = [(infra.device("phone"), infra.mobile_net())], [1.0]
                else:
                    p.setups, p.setup_weights = [(pc, place.net) for pc in place.pcs], [1.0] * len(place.pcs)
                p.creates_account = p.creates_account or rng.random() < 0.3
                p.fail_p = rng.uniform(0.05, 0.2)
                p.p_login = 1.0
                p.params = {"p_phone": rng.uniform(0.1, 0.5) if has_phone else 0.0}
                place.users += 1
                self._willing(p, "cybercafe_user")
                self.procs.append(lg.public_pc_user(sim, p, place, self.known.setdefault(site_name, [])))

    def _families(self, sim: Sim, infra: Infra, n_accounts: int) -> None:
        left = n_accounts
        while left > 0:
            rng = self._prng()
            site = self._site()
            k = 2 if left >= 2 and rng.random() < 0.3 else 1
            left -= k
            phone = sim.mint.hex(64)
            accounts = [
                self._account(sim, site.name, "family", rng, phone if rng.random() < 0.5 else None) for _ in range(k)
            ]
            home = infra.home_net()
            device = infra.device("desktop" if rng.random() < 0.7 else "phone")
            relatives = [Applicant(sim.mint.hex(32), rng.uniform(0.82, 0.97)) for _ in range(rng.randint(2, 5))]
            p = Person("family", accounts[0], weighted(rng, site.services), [(device, home)], [1.0], relatives[0], rng)
            p.p_typo = rng.uniform(0.0, 0.08)
            p.p_login = rng.uniform(0.7, 1.0)
            p.params = {"p_day": rng.uniform(0.4, 0.95)}
            p.knows_release = rng.random() < 0.4
            self.need[site.name] += len(relatives)
            self.groups["households"].append({"accounts": k, "relatives": len(relatives), "site": site.name})
            self.procs.append(lg.family(sim, p, relatives, accounts, self.known.setdefault(site.name, [])))

    def _offices(self, sim: Sim, infra: Infra, kind: str, n_accounts: int) -> None:
        left = n_accounts
        while left > 0:
            rng = self._prng()
            site = self._site()
            k = min(
                left, weighted(rng, {1: 4, 2: 3, 3: 2, 4: 1}) if kind == "association" else weighted(rng, {1: 3, 2: 1})
            )
            left -= k
            net = infra.office_net()
            domain = org_domain(rng) if rng.random() < 0.6 else ""
            phone = sim.mint.hex(64) if rng.random() < 0.6 else None
            staff = []
            for _ in range(k):
                acct = self._account(sim, site.name, kind, rng, phone)
                if domain:
                    acct.email_domain = domain
                staff.append((acct, infra.device("desktop")))
            services = {s: w for s, w in site.services.items() if rng.random() < 0.7} or dict(site.services)
            if kind == "lawyer":
                hours = [
                    lg.office_hours(
                        sim,
                        rng,
                        (8 * 60 + 30, 10 * 60),
                        (18 * 60, 20 * 60),
                        (0, 1, 2, 3, 4, 5),
                        0.85,
                        lunch=rng.random() < 0.5,
                    )
                    for _ in staff
                ]
                backlog = rng.randint(2, 8)
                rate = rng.uniform(0.5, 3)
            else:
                hours = [
                    lg.office_hours(
                        sim,
                        rng,
                        (8 * 60 + 45, 9 * 60 + 45),
                        (16 * 60 + 30, 18 * 60),
                        (0, 1, 2, 3, 4),
                        rng.uniform(0.7, 0.95),
                        lunch=True,
                    )
                    for _ in staff
                ]
                backlog = rng.randint(5, 30) * k
                rate = rng.uniform(1, 8) * k
            office = lg.Office(
                kind,
                staff,
                net,
                services,
                rng,
                hours,
                gap_s=rng.uniform(60, 420),
                burst=rng.randint(1, 4),
                p_cancel=rng.uniform(0.0, 0.08),
                p_modify=rng.uniform(0.0, 0.06),
            )
            attend = rng.uniform(0.88, 0.98)
            for _ in range(backlog):
                office.queue.append((weighted(rng, services), Applicant(sim.mint.hex(32), attend)))
            for day in range(sim.days):
                for _ in range(round(rate * rng.uniform(0.5, 1.5))):
                    t = sim.at_local(day, rng.uniform(8 * 60, 18 * 60))
                    office.arrivals.append((t, weighted(rng, services), Applicant(sim.mint.hex(32), attend)))
            office.arrivals.sort(key=lambda a: a[0])
            self.need[site.name] += backlog + len(office.arrivals)
            self.groups["offices"].append(
                {
                    "kind": kind,
                    "site": site.name,
                    "staff": k,
                    "backlog": backlog,
                    "arrivals": len(office.arrivals),
                    "network": net.kind,
                }
            )
            for i in range(k):
                self.procs.append(lg.office_worker(sim, office, i))

    def _agencies(self, sim: Sim, infra: Infra, n_customers: int) -> None:
        left = n_customers
        while left > 0:
            rng = self._prng()
            site = self._site()
            k = min(left, rng.randint(4, 25))
            left -= k
            devices = [infra.device("desktop") for _ in range(rng.randint(1, 2))]
            net = infra.office_net() if rng.random() < 0.6 else infra.home_net()
            agency_phone = sim.mint.hex(64)
            customers = []
            for _ in range(k):
                p = self._person(sim, infra, "intermediary_customer", site)
                if rng.random() < 0.3:
                    p.account.phone_hash = agency_phone
                p.creates_account = rng.random() < 0.4
                customers.append(p)
            hours = [
                lg.office_hours(
                    sim,
                    rng,
                    (9 * 60, 10 * 60 + 30),
                    (17 * 60, 19 * 60 + 30),
                    (0, 1, 2, 3, 4, 5),
                    0.9,
                    lunch=rng.random() < 0.7,
                )
                for _ in devices
            ]
            agency = lg.Agency(devices, net, customers, hours, rng, gap_s=rng.uniform(10, 50))
            self.groups["agencies"].append(
                {"site": site.name, "customers": k, "devices": len(devices), "network": net.kind}
            )
            for i in range(len(devices)):
                self.procs.append(lg.agency_worker(sim, agency, i))
            for c in customers:
                self.procs.append(lg.agency_customer(sim, c))

    # ---- supply ---------------------------------------------------------------------------------
    def _supply(self, sim: Sim) -> None:
        rng = derive(self.spec.seed, "supply", self.spec.scenario)
        for site in self.spec.sites:
            floor = (
                rng.uniform(150, 260)
                * min(1.0, self.spec.accounts / 1000)
                * site.demand
                / max(s.demand for s in self.spec.sites)
            )
            weekly = weekly_supply(
                self.need[site.name], self.spec.supply_ratio * rng.uniform(0.8, 1.25), sim.days, floor
            )
            batches, known = plan_batches(sim, site, weekly, rng)
            self.known.setdefault(site.name, []).extend(known)
            self.supply[site.name] = weekly
            self.batches[site.name] = len(batches)
            for b in batches:
                sim.at(b.t, _opener(sim, site, b, random.Random(rng.getrandbits(64))))

    # ---- operations ------------------------------------------------------------------------------
    def _operations(self, sim: Sim, infra: Infra) -> None:
        spec = self.spec
        if not spec.styles:
            return
        rng = derive(spec.seed, "operations", spec.scenario)
        mint = Mint(derive(spec.seed, "op-ids", spec.scenario))
        weights = [STYLE_WEIGHT[s] * rng.uniform(0.6, 1.5) for s, _ in spec.styles]
        spare = spec.scalper_accounts - sum(STYLE_MIN[s] for s, _ in spec.styles)
        sizes = [
            STYLE_MIN[s] + round(max(spare, 0) * w / sum(weights))
            for (s, _), w in zip(spec.styles, weights, strict=True)
        ]
        for i, ((style, site_name), n) in enumerate(zip(spec.styles, sizes, strict=True)):
            site = self.sites[site_name]
            place = None
            if style == "cybercafe_reseller":
                cafes = [
                    pid
                    for pid, pl in self.places.items()
                    if pl.kind == "cybercafe" and self.place_site[pid] == site_name
                ]
                place = cafes[0] if cafes else None
                if place is None:
                    self._new_place(sim, infra, site_name, "cybercafe")
                    place = list(self.places)[-1]
            plan = draw_op(rng, mint, style, site, n, spec.buyers_enabled, bool(self.known.get(site_name)), place)
            op = Operation(
                sim,
                infra,
                self.pool,
                plan,
                derive(spec.seed, "op", spec.scenario, i),
                self.known.get(site_name, []),
                self.places,
            )
            op.build()
            self.ops.append(op)

    # ---- run ------------------------------------------------------------------------------------
    def run(self, out: pathlib.Path) -> dict[str, Any]:
        """Simulate and write ``events.jsonl``, ``labels.jsonl`` and ``world.json`` into ``out``."""
        spec = self.spec
        out.mkdir(parents=True, exist_ok=True)
        with (out / "events.jsonl").open("w", encoding="utf-8", newline="\n") as fh:
            sim = Sim(
                derive(spec.seed, "sim", spec.scenario),
                self.start,
                self.end,
                {s.name: s.policy for s in spec.sites},
                fh,
            )
            sim.late_p = spec.late_p
            infra = Infra(
                derive(spec.seed, "infra", spec.scenario),
                Mint(derive(spec.seed, "devices", spec.scenario)),
                spec.start.year,
                spec.start.month,
            )
            for s in spec.sites:
                self.known[s.name] = []
            self._people(sim, infra)
            self._supply(sim)
            self._operations(sim, infra)
            for proc in self.procs:
                sim.spawn(proc, self.start)
            for op in self.ops:
                op.start()
            sim.run()
        labelled = sorted((a for a in sim.accounts if a.seen), key=lambda a: a.account_id)
        with (out / "labels.jsonl").open("w", encoding="utf-8", newline="\n") as fh:
            for a in labelled:
                fh.write(json.dumps(a.label(), separators=(",", ":")) + "\n")
        summary = self._summary(sim, labelled)
        world = self._world_json(sim, infra, summary)
        (out / "world.json").write_text(json.dumps(world, indent=2, default=str) + "\n", encoding="utf-8")
        return summary

    def _summary(self, sim: Sim, labelled: list[Account]) -> dict[str, Any]:
        by_role = Counter(a.role for a in labelled)
        ops = []
        for op in self.ops:
            seen = sum(1 for oa in op.accounts if oa.acct.seen)
            ops.append({"id": op.plan.op_id, "style": op.plan.style, "site": op.plan.site, "accounts": seen})
        return {
            "scenario": self.spec.scenario,
            "seed": self.spec.seed,
            "start": self.spec.start.isoformat(),
            "days": self.spec.days,
            "sites": [s.name for s in self.spec.sites],
            "accounts": len(labelled),
            "accounts_by_role": dict(sorted(by_role.items())),
            "scalper_accounts": sum(1 for a in labelled if a.scalper),
            "events": dict(sorted(sim.counts.items())),
            "events_total": sum(sim.counts.values()),
            "late_events": sim.late_written,
            "operations": ops,
            "styles": dict(sorted(Counter(op.plan.style for op in self.ops).items())),
        }

    def _world_json(self, sim: Sim, infra: Infra, summary: dict[str, Any]) -> dict[str, Any]:
        spec = self.spec
        sites = []
        for s in spec.sites:
            sites.append(
                {
                    "name": s.name,
                    "services": {k: round(v, 2) for k, v in s.services.items()},
                    "release_schedule": s.release,
                    "release_detail": s.release_detail,
                    "weekly_supply": self.supply.get(s.name),
                    "batches_in_period": self.batches.get(s.name),
                    "known_release_instants": [rfc3339(t) for t in self.known.get(s.name, [])],
                    "short_notice_share": round(s.p_short, 3),
                    "time_grid_min": s.grid_min,
                    "front_end": {
                        k: round(v, 3) if isinstance(v, float) else v
                        for k, v in dataclasses.asdict(s.policy).items()
                        if k != "site_json"
                    },
                }
            )
        ops = []
        for op in self.ops:
            entry = op.report()
            entry["plan"] = _plain(op.plan)
            mechanisms = set(op.plan.handoffs)
            if op.plan.style == "book_to_order":
                mechanisms.add("book_to_order")
                if op.plan.infra.get("speculative"):
                    mechanisms.add("change_applicant")
            entry["handoff_mechanisms"] = sorted(mechanisms)
            entry["hold_release"] = {
                "cancel_share": round(op.plan.p_cancel_unsold, 3),
                "no_show_share": round(1 - op.plan.p_cancel_unsold, 3),
                "cancel_lead_hours": op.plan.cancel_lead_h,
            }
            ops.append(entry)
        for pid, place in self.places.items():
            self.groups["public_pcs"].append(
                {
                    "id": pid,
                    "kind": place.kind,
                    "site": self.place_site[pid],
                    "pcs": len(place.pcs),
                    "users": place.users,
                    "address": place.net.ip,
                }
            )
        return {
            "scenario": spec.scenario,
            "seed": spec.seed,
            "period": {"start": rfc3339(self.start), "end": rfc3339(self.end), "days": spec.days},
            "sites": sites,
            "operations": ops,
            "legitimate_groups": self.groups,
            "legitimate_accounts_planned": spec.legit,
            "carrier_nat_pools": {str(asn): len(pool.addresses) for asn, pool in sorted(infra.carriers.items())},
            "parameters": {
                "willing_to_buy_share": round(spec.p_willing, 3),
                "supply_ratio": round(spec.supply_ratio, 3),
                "late_arrival_p": spec.late_p,
                "buyers_enabled": spec.buyers_enabled,
            },
            "summary": summary,
        }


def _opener(sim: Sim, site: SiteSpec, batch: Batch, rng: random.Random) -> Callable[[], None]:
    """The callback that opens one batch (bound now, run at the batch's instant)."""
    return lambda: open_batch(sim, site, batch, rng)


def _plain(plan: OpPlan) -> dict[str, Any]:
    d = dataclasses.asdict(plan)
    for k, v in list(d.items()):
        if isinstance(v, float):
            d[k] = round(v, 3)
    return d


def generate(
    seed: int, scenario: str, out: pathlib.Path, accounts: int | None = None, days: int | None = None
) -> dict[str, Any]:
    """Generate one world into directory ``out`` and return its summary (counts by role, type, operation)."""
    spec = plan_world(seed, scenario, accounts, days)
    return World(spec).run(pathlib.Path(out))
