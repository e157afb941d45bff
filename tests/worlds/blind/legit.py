"""Legitimate behaviour: everyone in the catalogue's "who must never be flagged" list."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from .acts import (
    COMMUTE,
    DAYTIME,
    EVENING,
    RESTLESS,
    Person,
    Proc,
    Profile,
    booked,
    hand_searches,
    human_latency,
    open_session,
    sample_minute,
    sign_in,
    try_book,
)
from .clock import HOUR, MINUTE, SECOND
from .engine import Account, Applicant, Booking, Session, Sim, next_in
from .ids import lognormal_ms, weighted
from .netinfra import Device, FixedNet, Net


def _session_times(sim: Sim, p: Person, day: int, n: int, profile: Profile, releases: list[int]) -> list[int]:
    times = [sim.at_local(day, sample_minute(p.rng, profile)) for _ in range(n)]
    if p.knows_release:
        p_rel = p.params.get("p_release", 0.6)
        for r in releases:
            if sim.day_index(r) == day and p.rng.random() < p_rel:
                times.append(r - p.rng.randint(15, 420) * SECOND)
    return sorted(times)


def ordinary(sim: Sim, p: Person, releases: list[int]) -> Proc:
    """Looks a few times a day on some days, books the first slot seen; mobile users run this on a phone."""
    rng = p.rng
    prm = p.params
    profile: Profile = prm.get("profile", DAYTIME)
    for day in range(p.start_day, sim.days):
        if day > p.start_day and rng.random() > prm["p_day"]:
            continue
        n = 1 + int(rng.random() < prm["p_more"]) + int(rng.random() < prm["p_more"] / 3)
        for t in _session_times(sim, p, day, n, profile, releases):
            if t < sim.now:
                continue
            yield t
            if p.served:
                return
            if p.buying:
                continue
            sess = yield from open_session(sim, p, ttl_min=60)
            near = any(abs(t - r) < 15 * MINUTE for r in releases)
            if near:
                count, gap = rng.randint(4, 30), rng.uniform(4, 15)
            else:
                lo, hi = prm["searches"]
                count, gap = rng.randint(lo, hi), prm["gap"]
            yield from hand_searches(sim, p, sess, count, gap, pause_p=0.03)


def anxious(sim: Sim, p: Person, releases: list[int]) -> Proc:
    """Refreshes for hours, day and night, by hand or with an auto-refresh extension in one or more tabs."""
    rng = p.rng
    prm = p.params
    for day in range(p.start_day, sim.days):
        if day > p.start_day and rng.random() > prm["p_day"]:
            continue
        n = rng.choice(prm["sessions"])
        for t in _session_times(sim, p, day, n, RESTLESS, releases):
            if t < sim.now:
                continue
            yield t
            if p.served:
                return
            if p.buying:
                continue
            if prm["mode"] == "auto":
                length = lognormal_ms(rng, prm["hours"] * 3600, 0.6, 1200, 14 * 3600)
            else:
                length = lognormal_ms(rng, prm["hours"] * 3600 * 0.5, 0.7, 600, 8 * 3600)
            sess = yield from open_session(sim, p, ttl_min=length // MINUTE + 30)
            if prm["mode"] == "auto":
                yield from auto_refresh(sim, p, sess, sim.now + length)
            else:
                yield from hand_searches(
                    sim, p, sess, 1 << 30, prm["gap"], sigma=0.65, stop_at=sim.now + length, pause_p=0.04
                )


def _awake(sim: Sim, t: int) -> bool:
    from .clock import local_minute

    m = local_minute(t)
    return 7 * 60 <= m < 23 * 60 + 30


def auto_refresh(sim: Sim, p: Person, sess: Session, until: int) -> Proc:
    """A browser extension reloading the results page at a fixed period in ``tabs`` tabs."""
    rng = p.rng
    period = int(p.params["period_s"] * SECOND)
    tabs = p.params["tabs"]
    after_load = p.params["after_load"]
    nexts = [sim.now + rng.randint(0, period) for _ in range(tabs)]
    while True:
        i = min(range(tabs), key=nexts.__getitem__)
        t = nexts[i]
        if t >= until:
            return
        yield t
        if p.done:
            return
        shown = sim.search(p.account, sess, p.service)
        p.searches += 1
        attentive = 0.7 if _awake(sim, sim.now) else 0.1
        if shown > 0 and rng.random() < attentive:
            booking = yield from try_book(sim, p, sess, shown, latency_median_s=25)
            if booking is not None:
                booked(sim, p, booking)
                if p.served:
                    return
        jitter = rng.randint(180, 950) if after_load else int(rng.gauss(0, 12))
        nexts[i] = max(t + period + jitter, sim.now)


@dataclass(eq=False)
class Place:
    """A public PC room: cyber-café, library or social centre (one address, a few shared PCs)."""

    kind: str
    pcs: list[Device]
    net: FixedNet
    open_by_day: list[list[tuple[int, int]]]
    users: int = 0


def public_pc_user(sim: Sim, p: Person, place: Place, releases: list[int]) -> Proc:
    """Comes to a public PC a few times, books their own appointment there; sometimes also looks from a phone."""
    rng = p.rng
    open_days = [d for d in range(p.start_day, sim.days) if place.open_by_day[d]]
    visits = sorted(rng.sample(open_days, k=min(len(open_days), rng.choice((1, 1, 2, 2, 3)))))
    plan: list[tuple[int, str]] = []
    for d in visits:
        a, b = rng.choice(place.open_by_day[d])
        plan.append((rng.randint(a, max(a, b - 20 * MINUTE)), "pc"))
    if rng.random() < p.params.get("p_phone", 0.0):
        for _ in range(rng.randint(1, 3)):
            d = rng.randrange(p.start_day, sim.days)
            plan.append((sim.at_local(d, sample_minute(rng, COMMUTE)), "phone"))
    for t, where in sorted(plan):
        if t < sim.now:
            continue
        yield t
        if p.served:
            return
        if p.buying:
            continue
        if where == "pc":
            sess = yield from open_session(sim, p, (rng.choice(place.pcs), place.net), ttl_min=40)
            yield from hand_searches(sim, p, sess, rng.randint(1, 8), 25, pause_p=0.05)
        else:
            sess = yield from open_session(sim, p, ttl_min=30)
            yield from hand_searches(sim, p, sess, rng.randint(1, 4), 15)


def family(sim: Sim, p: Person, relatives: list[Applicant], accounts: list[Account], releases: list[int]) -> Proc:
    """One household on one computer books for several relatives, from one or two accounts."""
    rng = p.rng
    remaining = list(relatives)
    for day in range(p.start_day, sim.days):
        if day > p.start_day and rng.random() > p.params["p_day"]:
            continue
        for t in _session_times(sim, p, day, rng.choice((1, 1, 2)), EVENING, releases):
            if t < sim.now or not remaining:
                continue
            yield t
            p.account = accounts[0] if len(accounts) == 1 or rng.random() < 0.7 else accounts[1]
            sess = yield from open_session(sim, p, ttl_min=60)
            for _ in range(rng.randint(2, 12)):
                shown = sim.search(p.account, sess, p.service)
                p.searches += 1
                if shown > 0:
                    take = min(shown, len(remaining)) if rng.random() < 0.7 else 1
                    for _ in range(take):
                        options = sim.free_slots(p.account.site, p.service, 1, rng, spread=2)
                        if not options:
                            break
                        yield sim.now + human_latency(rng, 55)
                        b = sim.book(p.account, sess, options[0], remaining[0])
                        if b is None:
                            break
                        remaining.pop(0)
                        if rng.random() < p.p_typo:
                            sim.spawn(
                                _modify_later(sim, sess, b, _relative(sim, relatives, b.applicant)),
                                sim.now + human_latency(rng, 200),
                            )
                    if not remaining:
                        p.served = True
                        return
                yield sim.now + lognormal_ms(rng, 18, 0.6, 2, 300)


def _relative(sim: Sim, relatives: list[Applicant], current: Applicant) -> Applicant:
    """A family's applicant swap (booked under the wrong relative, then corrected)."""
    others = [a for a in relatives if a is not current]
    return others[0] if others else Applicant(sim.mint.hex(32), current.attend_p)


def _modify_later(sim: Sim, sess: Session, booking: Booking, applicant: Applicant) -> Proc:
    yield sim.now
    sim.modify(booking, sess, applicant)


@dataclass(eq=False)
class Office:
    """An association, social-work office or law firm booking for the people it helps."""

    kind: str
    staff: list[tuple[Account, Device]]
    net: Net
    services: dict[str, float]
    rng: random.Random
    hours: list[list[tuple[int, int]]]
    queue: list[tuple[str, Applicant]] = field(default_factory=list)
    arrivals: list[tuple[int, str, Applicant]] = field(default_factory=list)
    booked: int = 0
    gap_s: float = 180.0
    burst: int = 3
    p_cancel: float = 0.04
    p_modify: float = 0.03


def office_worker(sim: Sim, office: Office, index: int) -> Proc:
    """A staff member: in office hours, checks for slots every few minutes and books the next people waiting."""
    acct, device = office.staff[index]
    rng = random.Random(office.rng.getrandbits(64))
    intervals = office.hours[index]
    while True:
        t = next_in(intervals, sim.now)
        if t is None:
            return
        yield t
        stop = next(b for a, b in intervals if a <= sim.now < b)
        while office.arrivals and office.arrivals[0][0] <= sim.now:
            _, service, applicant = office.arrivals.pop(0)
            office.queue.append((service, applicant))
        sess = sim.new_session(acct, device, office.net, (stop - sim.now) + 10 * MINUTE)
        yield from sign_in(sim, sess, rng, 0.03)
        while sim.now < stop - 2 * MINUTE:
            waiting = [s for s, _ in office.queue]
            services = [s for s in office.services if s in waiting] or list(office.services)
            service = weighted(rng, {s: office.services[s] for s in services})
            shown = sim.search(acct, sess, service)
            if shown > 0:
                for _ in range(min(shown, office.burst)):
                    item = next(((s, a) for s, a in office.queue if s == service), None)
                    if item is None:
                        break
                    options = sim.free_slots(acct.site, service, 1, rng, spread=3)
                    if not options:
                        break
                    office.queue.remove(item)
                    yield sim.now + human_latency(rng, 75)
                    b = sim.book(acct, sess, options[0], item[1])
                    if b is None:
                        office.queue.insert(0, item)
                        break
                    office.booked += 1
                    if rng.random() < office.p_modify:
                        fixed = Applicant(sim.mint.hex(32), item[1].attend_p)
                        sim.spawn(_modify_later(sim, sess, b, fixed), sim.now + human_latency(rng, 300))
                    elif rng.random() < office.p_cancel:
                        sim.spawn(
                            _office_cancel(sim, office, index, b, service),
                            sim.now + lognormal_ms(rng, 86400, 0.8, 3600, 4 * 86400),
                        )
            yield sim.now + lognormal_ms(rng, office.gap_s, 0.6, 20, 3600)


def _office_cancel(sim: Sim, office: Office, index: int, booking: Booking, service: str) -> Proc:
    """The person helped cannot come: cancel, put them back in the queue."""
    yield sim.now
    acct, device = office.staff[index]
    hours = office.hours[index]
    t = next_in(hours, sim.now)
    if t is None:
        return
    yield t
    sess = sim.new_session(acct, device, office.net, 30 * MINUTE)
    yield from sign_in(sim, sess, office.rng, 0.02)
    if sim.cancel(booking, sess):
        office.queue.append((service, booking.applicant))


@dataclass(eq=False)
class Agency:
    """A legal paid intermediary that books for customers with the customers' own accounts."""

    devices: list[Device]
    net: Net
    customers: list[Person]
    hours: list[list[tuple[int, int]]]
    rng: random.Random
    gap_s: float = 25.0


def agency_worker(sim: Sim, agency: Agency, index: int) -> Proc:
    """Works through the customers: logs into each one's account from the office and looks for a while."""
    rng = random.Random(agency.rng.getrandbits(64))
    device = agency.devices[index % len(agency.devices)]
    intervals = agency.hours[index]
    turn = index
    while True:
        t = next_in(intervals, sim.now)
        if t is None:
            return
        yield t
        stop = next(b for a, b in intervals if a <= sim.now < b)
        waiting = [c for c in agency.customers if not c.done and c.start_day <= sim.day_index(sim.now)]
        if not waiting:
            yield sim.now + HOUR
            continue
        cust = waiting[turn % len(waiting)]
        turn += 1
        sess = sim.new_session(cust.account, device, agency.net, 45 * MINUTE)
        if cust.creates_account:
            cust.creates_account = False
            sim.create_account(sess)
            yield sim.now + lognormal_ms(rng, 15, 0.5, 3, 120)
        yield from sign_in(sim, sess, rng, 0.1)
        before = sim.now
        yield from hand_searches(sim, cust, sess, rng.randint(4, 30), agency.gap_s, stop_at=stop)
        yield sim.now + lognormal_ms(rng, 120, 0.7, 20, 1800) + (sim.now - before) // 10


def agency_customer(sim: Sim, p: Person) -> Proc:
    """The customer now and then checks their own account from home or phone."""
    rng = p.rng
    for _ in range(rng.choice((0, 1, 1, 2, 3))):
        day = rng.randrange(p.start_day, sim.days)
        t = sim.at_local(day, sample_minute(rng, EVENING))
        if t < sim.now:
            continue
        yield t
        if p.creates_account:
            continue
        sess = sim.new_session(p.account, *p.setup(), 30 * MINUTE)
        yield from sign_in(sim, sess, rng, 0.08)
        if rng.random() < 0.5 and not p.done:
            yield from hand_searches(sim, p, sess, rng.randint(1, 3), 12)


def ordinary_params(rng: random.Random, role: str, willing: bool) -> dict[str, object]:
    """Per-person rhythm for ``ordinary`` and ``mobile_user`` (a desperate buyer-to-be looks more)."""
    prm: dict[str, object] = {
        "p_day": rng.uniform(0.25, 0.85),
        "p_more": rng.uniform(0.1, 0.6),
        "searches": (1, rng.randint(3, 8)),
        "gap": rng.uniform(6, 45),
        "profile": COMMUTE if role == "mobile_user" else DAYTIME,
    }
    if willing:
        prm.update(
            {
                "p_day": rng.uniform(0.7, 1.0),
                "p_more": rng.uniform(0.6, 1.0),
                "searches": (3, rng.randint(8, 25)),
                "gap": rng.uniform(5, 25),
            }
        )
    return prm


def anxious_params(rng: random.Random) -> dict[str, object]:
    """Per-person rhythm for ``anxious``: by hand or auto-refresh; period, tabs, session length."""
    mode = "auto" if rng.random() < 0.35 else "hand"
    period = weighted(rng, {5: 1, 10: 3, 15: 3, 20: 3, 30: 4, 45: 1, 60: 3, 120: 1})
    tabs = weighted(rng, {1: 6, 2: 3, 3: 2, 4: 1})
    while tabs > 1 and tabs / period > 0.2:  # a 5 s extension in four tabs would lock the site out
        tabs -= 1
    return {
        "mode": mode,
        "p_day": rng.uniform(0.6, 1.0),
        "sessions": rng.choice(((1, 1, 2), (1, 2, 2, 3), (1, 2, 3, 3))),
        "hours": rng.uniform(0.6, 3.5),
        "gap": rng.uniform(5, 40),
        "period_s": period,
        "tabs": tabs,
        "after_load": rng.random() < 0.5,
    }


def office_hours(
    sim: Sim,
    rng: random.Random,
    start_min: tuple[int, int],
    end_min: tuple[int, int],
    weekdays: tuple[int, ...],
    presence: float,
    lunch: bool,
) -> list[tuple[int, int]]:
    """Working intervals of one person over the period (UTC), with absences and a lunch break."""
    out: list[tuple[int, int]] = []
    for day in range(sim.days):
        if sim.weekday(day) not in weekdays or rng.random() > presence:
            continue
        a = rng.uniform(*start_min)
        b = rng.uniform(*end_min)
        if lunch and b - a > 300:
            mid = rng.uniform(12 * 60, 13 * 60 + 30)
            out.append((sim.at_local(day, a), sim.at_local(day, mid)))
            out.append((sim.at_local(day, mid + rng.uniform(40, 90)), sim.at_local(day, b)))
        else:
            out.append((sim.at_local(day, a), sim.at_local(day, b)))
    return out


def place_opening(sim: Sim, kind: str, rng: random.Random) -> list[list[tuple[int, int]]]:
    """Opening hours by simulated day for a public PC room."""
    if kind == "cybercafe":
        days, a, b = (0, 1, 2, 3, 4, 5, 6), (9 * 60, 11 * 60), (20 * 60, 23 * 60)
    elif kind == "library":
        days, a, b = (1, 2, 3, 4, 5), (9 * 60 + 30, 10 * 60 + 30), (17 * 60 + 30, 19 * 60)
    else:
        days, a, b = (0, 1, 2, 3, 4), (8 * 60 + 30, 9 * 60 + 30), (16 * 60 + 30, 17 * 60 + 30)
    opens, closes = rng.uniform(*a), rng.uniform(*b)
    if kind == "cybercafe" and rng.random() < 0.3:
        days = (0, 1, 2, 3, 4, 5)
    return [
        [(sim.at_local(d, opens), sim.at_local(d, closes))] if sim.weekday(d) in days else [] for d in range(sim.days)
    ]


def own_setups(infra: object, rng: random.Random, role: str) -> tuple[list[tuple[Device, Net]], list[float]]:
    """A person's usual clients: home computer, phone on home wi-fi, phone on the mobile network, a VPN."""
    from .netinfra import Infra

    assert isinstance(infra, Infra)
    setups: list[tuple[Device, Net]] = []
    weights: list[float] = []
    home = infra.home_net()
    phone = infra.device("phone")
    mobile = infra.mobile_net()
    if role == "mobile_user":
        setups += [(phone, mobile)]
        weights += [1.0]
        if rng.random() < 0.35:
            setups.append((phone, home))
            weights.append(0.3)
    else:
        if rng.random() < 0.6:
            setups.append((infra.device("desktop"), home))
            weights.append(1.0)
        setups.append((phone, home))
        weights.append(0.6)
        if rng.random() < 0.4:
            setups.append((phone, mobile))
            weights.append(0.3)
    if rng.random() < 0.07:
        setups.append((setups[0][0], infra.vpn_net()))
        weights.append(rng.uniform(0.2, 3.0))
    return setups, weights
