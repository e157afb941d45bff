"""Resale operations: grabbing, holding, selling and handing off slots, on several kinds of infrastructure.

An operation is a set of *cells* (a server, a proxy controller, a phone, a paid clicker, a farm
account, a shop or cyber-café PC). Each cell has devices, a network and active hours. Watcher
accounts poll for free slots from their cell; bookers take the slots the watchers found, under
placeholder applicants, and the operation later sells them to desperate applicants drawn from the
buyer pool, handing them over by one of the catalogue's mechanisms.
"""

from __future__ import annotations

import bisect
import random
from dataclasses import dataclass, field
from typing import Any

from .acts import BuyerPool, Person, Proc, open_session, sign_in
from .clock import HOUR, MINUTE, SECOND, local_minute
from .engine import Account, Applicant, Booking, Sim, inside, next_in
from .ids import lognormal_ms, weighted
from .netinfra import Device, Infra, Net

STYLES = (
    "datacenter_bot",
    "residential_proxy_bot",
    "mobile_phones",
    "slow_human",
    "distributed_farm",
    "book_to_order",
    "cybercafe_reseller",
)
HANDOFFS = ("cancel_rebook_buyer", "cancel_rebook_seller", "change_applicant")


@dataclass
class OpPlan:
    """What was drawn for one operation (reported in world.json)."""

    op_id: str
    style: str
    site: str
    services: list[str]
    n_accounts: int
    split: bool
    n_watchers: int
    idle_share: float
    poll_s: float
    timing: str
    focus: bool
    bg_factor: float
    latency_ms: tuple[int, int]
    capacity: int
    per_account: int
    lifetime: int
    placeholder: str
    handoffs: dict[str, float]
    p_sell: float
    sale_delay_h: float
    p_multi: float
    p_cancel_unsold: float
    cancel_lead_h: tuple[float, float]
    emails: dict[str, float]
    phones: str
    new_share: float
    bursts: int
    spread: int
    infra: dict[str, Any] = field(default_factory=dict)


@dataclass(eq=False)
class Cell:
    """One place an operation acts from."""

    name: str
    kind: str
    devices: list[Device]
    net: Net
    intervals: list[tuple[int, int]]
    human: bool
    device_policy: str = "fixed"
    accounts: list[OpAccount] = field(default_factory=list)
    current: int = -1
    switch_at: int = 0
    poll_s: float = 10.0


@dataclass(eq=False)
class OpAccount:
    """An operation's account and its part in the operation."""

    acct: Account
    cell: Cell
    kind: str
    ready: int = 0
    create: bool = False
    device: Device | None = None
    pending: int = 0


@dataclass(eq=False)
class Order:
    """A book-to-order customer waiting for a slot in their own name (``buyer`` is None when the customer
    has no account of their own and only sent their documents)."""

    buyer: Person | None
    applicant: Applicant
    service: str
    placed: int

    @property
    def open(self) -> bool:
        """Still waiting (an account holder may meanwhile have found a slot alone)."""
        return self.buyer is None or not self.buyer.done


class Operation:
    """Runs one operation inside the simulation."""

    def __init__(
        self,
        sim: Sim,
        infra: Infra,
        pool: BuyerPool,
        plan: OpPlan,
        rng: random.Random,
        releases: list[int],
        places: dict[str, Any],
    ) -> None:
        self.sim = sim
        self.infra = infra
        self.pool = pool
        self.plan = plan
        self.rng = rng
        self.releases = releases
        self.places = places
        self.cells: list[Cell] = []
        self.accounts: list[OpAccount] = []
        self.bookers: list[OpAccount] = []
        self.inventory: list[Booking] = []
        self.pending = 0
        self.orders: list[Order] = []
        self.borrowed: list[Applicant] = []
        self.front: Cell | None = None
        self.stats: dict[str, int] = {
            "grabbed": 0,
            "sold": 0,
            "delivered": 0,
            "handoff_failed": 0,
            "unsold_cancelled": 0,
            "unsold_kept": 0,
            "orders": 0,
            "orders_booked": 0,
        }
        self.handoff_counts: dict[str, int] = {}
        self.fresh_domains: list[str] = []
        self.phone_pool: list[str] = []
        self.phone_uses = 0

    # ---- construction --------------------------------------------------------------------------
    def build(self) -> None:
        """Draw cells and accounts for the style."""
        from . import opbuild

        opbuild.build(self)
        self.bookers = [oa for oa in self.accounts if oa.kind in ("booker", "both")]
        watching = [c for c in self.cells if not c.human and any(oa.kind in ("watcher", "both") for oa in c.accounts)]
        rate = sum(len(self.plan.services) / c.poll_s for c in watching)
        cap = self.plan.infra.get("max_rate", 0.2) * min(max(len(self.accounts) / 25, 0.3), 1.3)
        if rate > cap:
            for c in watching:
                c.poll_s *= rate / cap
        if self.plan.capacity <= 0:
            per = min(self.plan.per_account, self.plan.lifetime)
            self.plan.capacity = max(3, round(len(self.bookers) * per * self.rng.uniform(0.6, 1.0)))

    def new_account(self, cell: Cell, kind: str, device: Device | None = None) -> OpAccount:
        """An account of this operation with its e-mail and phone per the operation's habits."""
        from .netinfra import COMMON_MAIL, DISPOSABLE_MAIL, fresh_domain

        sim, rng, plan = self.sim, self.rng, self.plan
        acct = sim.new_account(plan.site, "scalper")
        acct.scalper = True
        acct.operation = plan.op_id
        acct.style = plan.style
        how = weighted(rng, plan.emails)
        if how == "disposable":
            acct.email_domain = rng.choice(DISPOSABLE_MAIL)
        elif how == "fresh":
            if not self.fresh_domains:
                self.fresh_domains = [fresh_domain(rng) for _ in range(rng.randint(1, 3))]
            acct.email_domain = rng.choice(self.fresh_domains)
        else:
            acct.email_domain = weighted(rng, COMMON_MAIL)
        if plan.phones == "shared":
            if not self.phone_pool or self.phone_uses >= rng.randint(2, 3):
                self.phone_pool.append(sim.mint.hex(64))
                self.phone_uses = 0
            acct.phone_hash = self.phone_pool[-1]
            self.phone_uses += 1
        elif plan.phones == "unique" or (plan.phones == "some" and rng.random() < 0.5):
            acct.phone_hash = sim.mint.hex(64)
        oa = OpAccount(acct, cell, kind, device=device)
        cell.accounts.append(oa)
        self.accounts.append(oa)
        return oa

    def start(self) -> None:
        """Schedule account creation, watching and idle-account activity."""
        sim, rng, plan = self.sim, self.rng, self.plan
        # watchers are established accounts; some accounts of every other part exist before the period
        fresh = [oa for oa in self.accounts if oa.kind != "watcher" and rng.random() < plan.new_share]
        both = [oa for oa in fresh if oa.kind == "both"]
        keep = len([oa for oa in self.accounts if oa.kind == "both"]) - len(both)
        if both and keep < 2:
            fresh = [oa for oa in fresh if oa not in both[: 2 - keep]]
        for oa in self.accounts:
            oa.ready = sim.start
        if fresh:
            span = max(sim.end - sim.start - 12 * HOUR, HOUR)
            bursts = sorted(sim.start + int(rng.random() ** 1.3 * span) for _ in range(max(1, plan.bursts)))
            rng.shuffle(fresh)
            groups: list[list[OpAccount]] = [[] for _ in bursts]
            for i, oa in enumerate(fresh):
                groups[i % len(bursts)].append(oa)
            for t, group in zip(bursts, groups, strict=True):
                for oa in group:
                    oa.create = True
                    oa.ready = 1 << 62
                sim.spawn(self._create_burst(group), t)
        for cell in self.cells:
            if any(oa.kind in ("watcher", "both") for oa in cell.accounts):
                sim.spawn(self._watch(cell), sim.start + rng.randint(0, 20 * MINUTE))
        for oa in self.accounts:
            if oa.kind == "idle":
                sim.spawn(self._idle(oa), oa.ready)
        if plan.style == "book_to_order":
            sim.spawn(self._take_orders(), sim.start + rng.randint(0, 6 * HOUR))

    # ---- sessions -----------------------------------------------------------------------------
    def _client(self, oa: OpAccount, cell: Cell | None = None) -> tuple[Device, Net]:
        """Device and network for a new session of ``oa`` from ``cell``."""
        cell = cell or oa.cell
        if cell.device_policy == "per_session":
            base = cell.devices[0]
            if base.kind == "script":
                return self.infra.device("script", base.ua), cell.net
            if self.rng.random() < self.plan.infra.get("mobile_ua", 0.0):
                return self.infra.device("phone"), cell.net
            return self.infra.device("desktop"), cell.net
        if cell is oa.cell and oa.device is not None:
            return oa.device, cell.net
        if oa in cell.accounts:
            return cell.devices[cell.accounts.index(oa) % len(cell.devices)], cell.net
        return cell.devices[0], cell.net

    def session(self, oa: OpAccount, cell: Cell | None = None) -> Proc:
        """The account's live session from ``cell`` (its own by default), logging in when needed."""
        sim = self.sim
        cell = cell or oa.cell
        sess = oa.acct.session
        if sess is not None and sess.expires > sim.now and sess.net is cell.net:
            return sess
        device, net = self._client(oa, cell)
        ttl = lognormal_ms(self.rng, 3600 if cell.human else 4 * 3600, 0.7, 600, 20 * 3600)
        sess = sim.new_session(oa.acct, device, net, ttl)
        yield from sign_in(sim, sess, self.rng, 0.05 if cell.human else 0.02, human=cell.human)
        return sess

    def _create_burst(self, group: list[OpAccount]) -> Proc:
        """Accounts created one after another from the operation's machines."""
        sim, rng = self.sim, self.rng
        for oa in group:
            creator = oa.cell
            if creator.human or creator.kind == "farm":
                t = next_in(creator.intervals, sim.now)
                if t is None:
                    continue
                if t > sim.now:
                    yield t
            device, net = self._client(oa, creator)
            sess = sim.new_session(oa.acct, device, net, 30 * MINUTE)
            sim.create_account(sess)
            oa.ready = sim.now + rng.randint(5, 60) * SECOND
            if rng.random() < 0.5:
                yield sim.now + rng.randint(800, 9000)
                sim.login(sess, True)
            gap = lognormal_ms(rng, 90 if creator.human else 12, 0.7, 1, 1800)
            yield sim.now + gap

    def _idle(self, oa: OpAccount) -> Proc:
        """Spare accounts: created, logged into now and then, never used to book."""
        sim, rng = self.sim, self.rng
        times = sorted(rng.randint(oa.ready, sim.end) for _ in range(rng.choice((0, 1, 1, 2, 3))))
        for t in times:
            yield t
            sess = yield from self.session(oa)
            if rng.random() < 0.35:
                sim.search(oa.acct, sess, rng.choice(self.plan.services))

    # ---- watching and grabbing ------------------------------------------------------------------
    def _watcher(self, cell: Cell) -> OpAccount | None:
        sim = self.sim
        cands = [oa for oa in cell.accounts if oa.kind in ("watcher", "both") and oa.ready <= sim.now]
        if not cands:
            return None
        if cell.current < 0 or sim.now >= cell.switch_at or cell.current >= len(cands):
            cell.current = (cell.current + 1) % len(cands)
            rot = self.plan.infra.get("rotate_min", (20, 180))
            cell.switch_at = sim.now + self.rng.randint(*rot) * MINUTE
        return cands[cell.current]

    def _gap(self, cell: Cell) -> int:
        rng, plan = self.rng, self.plan
        base = cell.poll_s * SECOND
        if plan.focus and self.releases:
            i = bisect.bisect_left(self.releases, self.sim.now - 25 * MINUTE)
            near = i < len(self.releases) and self.releases[i] - 4 * MINUTE <= self.sim.now
            if near:
                base = min(base, rng.uniform(0.8, 2.5) * SECOND)
            else:
                base *= plan.bg_factor
        if cell.human:
            return lognormal_ms(rng, base / SECOND, 0.6, 2, 3600)
        if plan.timing == "machine":
            return max(200, int(base + rng.gauss(0, 8)))
        if plan.timing == "poisson":
            return max(250, int(rng.expovariate(1.0 / base)))
        return max(250, int(base * rng.uniform(0.55, 1.45)))

    def _watch(self, cell: Cell) -> Proc:
        """Poll the target services from this cell for as long as it is active."""
        sim, rng = self.sim, self.rng
        t = sim.now
        while True:
            nt = next_in(cell.intervals, t)
            if nt is None:
                return
            yield nt
            oa = self._watcher(cell)
            if oa is None:
                t = sim.now + 10 * MINUTE
                continue
            sess = yield from self.session(oa)
            for k, service in enumerate(self._targets()):
                if k:
                    yield sim.now + (lognormal_ms(rng, 6, 0.5, 1, 60) if cell.human else rng.randint(120, 1500))
                shown = sim.search(oa.acct, sess, service)
                if shown > 0:
                    self._grab(oa, service, shown)
            t = sim.now + self._gap(cell)

    def _targets(self) -> list[str]:
        if self.plan.style == "book_to_order" and not self.plan.infra.get("speculative"):
            wanted = [o.service for o in self.orders]
            return [s for s in self.plan.services if s in wanted] or self.plan.services[:1]
        return self.plan.services

    def _room(self, service: str) -> int:
        held = len(self.inventory)
        room = self.plan.capacity - held - self.pending
        if self.plan.style == "book_to_order":
            waiting = sum(1 for o in self.orders if o.service == service and o.open)
            spec = self.plan.infra.get("speculative", 0) - held - self.pending
            return max(0, waiting - self.pending) + max(0, spec)
        return room

    def _grab(self, finder: OpAccount, service: str, shown: int) -> None:
        sim, rng, plan = self.sim, self.rng, self.plan
        k = min(shown, self._room(service), plan.infra.get("burst", 40))
        if k <= 0:
            return
        slots = sim.free_slots(plan.site, service, k, rng, spread=plan.spread, exclude=plan.op_id)
        used: dict[int, int] = {}
        for slot in slots:
            booker = self._booker(finder)
            if booker is None:
                break
            booker.pending += 1
            self.pending += 1
            n = used.get(id(booker), 0)
            used[id(booker)] = n + 1
            if booker.cell.human:
                delay = lognormal_ms(rng, 25 if booker is finder else 45, 0.6, 5, 600) * (n + 1)
            else:
                lo, hi = plan.latency_ms
                delay = rng.randint(lo, hi) + n * rng.randint(lo, hi)
            sim.spawn(self._book(booker, slot, service), sim.now + delay)

    def _booker(self, finder: OpAccount) -> OpAccount | None:
        sim, plan = self.sim, self.plan
        lifetime = plan.lifetime

        def ok(oa: OpAccount) -> bool:
            return (
                oa.kind in ("booker", "both")
                and oa.ready <= sim.now
                and oa.acct.holds + oa.pending < plan.per_account
                and oa.acct.booked_total + oa.pending < lifetime
                and (not oa.cell.human or inside(oa.cell.intervals, sim.now))
            )

        if finder.kind == "both" and ok(finder) and (finder.cell.human or self.rng.random() < 0.5):
            return finder
        local = [oa for oa in finder.cell.accounts if ok(oa)] if plan.infra.get("book_local") else []
        pool = local if (local and plan.infra.get("book_local")) else [oa for oa in self.bookers if ok(oa)]
        if not pool:
            return None
        least = min(oa.acct.holds + oa.pending for oa in pool)
        pool = [oa for oa in pool if oa.acct.holds + oa.pending == least]
        return pool[self.rng.randrange(len(pool))]

    def _placeholder(self) -> Applicant:
        sim, rng, plan = self.sim, self.rng, self.plan
        borrowed = plan.placeholder == "borrowed" or (plan.placeholder == "mixed" and rng.random() < 0.5)
        if borrowed:
            if len(self.borrowed) < plan.infra.get("borrowed_pool", 6) and (not self.borrowed or rng.random() < 0.4):
                self.borrowed.append(Applicant(sim.mint.hex(32), 0.0))
            return rng.choice(self.borrowed)
        return Applicant(sim.mint.hex(32), 0.0)

    def _book(self, oa: OpAccount, slot: Any, service: str) -> Proc:
        sim = self.sim
        try:
            sess = yield from self.session(oa)
            if not slot.free:
                return
            order = None
            if self.plan.style == "book_to_order":
                order = next((o for o in self.orders if o.service == service and o.open), None)
            applicant = order.applicant if order else self._placeholder()
            b = sim.book(oa.acct, sess, slot, applicant)
        finally:
            oa.pending -= 1
            self.pending -= 1
        if b is None:
            return
        self.stats["grabbed"] += 1
        if order is not None:
            self.orders.remove(order)
            self.stats["orders_booked"] += 1
            b.note = "order"
            self.handoff_counts["book_to_order"] = self.handoff_counts.get("book_to_order", 0) + 1
            if order.buyer is not None:
                self._deliver(order.buyer, b, oa.acct, "book_to_order")
            return
        self.inventory.append(b)
        self._plan_hold(b)

    # ---- holds and sales --------------------------------------------------------------------------
    def _plan_hold(self, b: Booking) -> None:
        sim, rng, plan = self.sim, self.rng, self.plan
        lead = int(rng.uniform(*plan.cancel_lead_h) * HOUR)
        deadline = b.slot.start - lead
        latest = b.slot.start - 70 * MINUTE
        if deadline <= sim.now + 20 * MINUTE:
            deadline = min(latest, sim.now + rng.randint(20, 240) * MINUTE)
        if rng.random() < plan.p_sell and self.plan.handoffs:
            sale = sim.now + lognormal_ms(rng, plan.sale_delay_h * 3600, 0.8, 600, 20 * 86400)
            if sale < deadline - 30 * MINUTE:
                sim.at(sale, lambda: self._sell(b))
        if deadline > sim.now:
            sim.at(deadline, lambda: self._unsold(b))

    def _unsold(self, b: Booking) -> None:
        if not b.active or b.note:
            return
        b.note = "unsold"
        self._forget(b)
        if self.rng.random() < self.plan.p_cancel_unsold:
            self.stats["unsold_cancelled"] += 1
            self.sim.spawn(self._drop(b))
        else:
            self.stats["unsold_kept"] += 1

    def _drop(self, b: Booking) -> Proc:
        oa = self._oa(b.account)
        if oa.cell.human:
            t = next_in(oa.cell.intervals, self.sim.now)
            if t is None or t >= b.slot.start - 70 * MINUTE:
                return
            yield t
        sess = yield from self.session(oa)
        self.sim.cancel(b, sess, reserve_for=self.plan.op_id)

    def _forget(self, b: Booking) -> None:
        """The hold no longer counts as stock for sale."""
        if b in self.inventory:
            self.inventory.remove(b)

    def _oa(self, acct: Account) -> OpAccount:
        return next(oa for oa in self.accounts if oa.acct is acct)

    def _offline(self) -> Applicant:
        """A customer who has no account of their own: only their identity reaches the booking."""
        return Applicant(self.sim.mint.hex(32), self.rng.uniform(0.8, 0.97))

    def _sell(self, b: Booking) -> None:
        sim, rng, plan = self.sim, self.rng, self.plan
        if not b.active or b.note:
            return
        how = weighted(rng, plan.handoffs)
        if how == "change_applicant" and rng.random() < plan.infra.get("p_offline", 0.3):
            b.note = "sold"
            self._forget(b)
            self.stats["sold"] += 1
            self.handoff_counts[how] = self.handoff_counts.get(how, 0) + 1
            when = self._handoff_time(b)
            sim.spawn(self._handoff_change(b, None, self._offline(), when), when)
            return
        n = 1
        if how == "cancel_rebook_buyer" and rng.random() < plan.p_multi:
            n += rng.randint(1, 2)
        buyers: list[Person] = []
        for _ in range(n):
            by = self.pool.take(plan.site, b.slot.service, rng, plan.op_id)
            if by is None:
                break
            by.buying = True
            buyers.append(by)
        if not buyers:
            return
        b.note = "sold"
        self._forget(b)
        self.stats["sold"] += 1
        if len(buyers) > 1:
            self.stats["sold_twice"] = self.stats.get("sold_twice", 0) + 1
        self.handoff_counts[how] = self.handoff_counts.get(how, 0) + 1
        for by in buyers:
            self._mark_buyer(by, b.account)
        when = self._handoff_time(b)
        if how == "cancel_rebook_buyer":
            sim.spawn(self._handoff_buyer_rebooks(b, buyers, when), when)
        elif how == "cancel_rebook_seller":
            sim.spawn(self._handoff_seller_rebooks(b, buyers[0], when), when)
        else:
            sim.spawn(self._handoff_change(b, buyers[0], buyers[0].applicant, when), when)

    def _handoff_time(self, b: Booking) -> int:
        """Agreed with the customer: soon, at a waking hour, well before the appointment."""
        sim, rng = self.sim, self.rng
        t = sim.now + lognormal_ms(rng, 3 * 3600, 1.0, 300, 2 * 86400)
        m = local_minute(t)
        if m < 8 * 60 or m > 22 * 60:
            t += int(((8 * 60 + rng.uniform(0, 180) - m) % 1440) * MINUTE)
        return min(t, b.slot.start - 3 * HOUR)

    def _mark_buyer(self, by: Person, seller: Account) -> None:
        acct = by.account
        acct.role = "buyer"
        acct.operation = self.plan.op_id
        acct.bought_from.append(seller.account_id)

    def _deliver(self, by: Person, nb: Booking, seller: Account, how: str) -> None:
        """The buyer now has the appointment; an earlier own booking of theirs gets dropped."""
        sim = self.sim
        old = by.booking
        by.booking = nb
        by.served = True
        by.buying = False
        self.stats["delivered"] += 1
        if how == "book_to_order":
            self._mark_buyer(by, seller)
        if old is not None and old.active and old is not nb:
            sim.spawn(self._buyer_drops_old(by, old), sim.now + lognormal_ms(self.rng, 4 * 3600, 1.0, 300, 3 * 86400))

    def _buyer_drops_old(self, by: Person, old: Booking) -> Proc:
        yield self.sim.now
        sess = yield from open_session(self.sim, by, ttl_min=20)
        yield self.sim.now + lognormal_ms(by.rng, 20, 0.5, 3, 200)
        self.sim.cancel(old, sess)

    def _failed(self, buyers: list[Person]) -> None:
        self.stats["handoff_failed"] += 1
        for by in buyers:
            if not by.served:
                by.buying = False

    def _handoff_buyer_rebooks(self, b: Booking, buyers: list[Person], when: int) -> Proc:
        """Holder cancels at the agreed minute; each buyer (several, if the slot was sold twice) is waiting
        on their own device and books it the moment it shows up."""
        sim, rng = self.sim, self.rng
        for by in buyers:
            sim.spawn(self._buyer_waits(by, b.slot, when, b.account), when - rng.randint(40, 600) * SECOND)
        yield when
        oa = self._oa(b.account)
        sess = yield from self.session(oa)
        if not sim.cancel(b, sess, reserve_for=self.plan.op_id):
            self._failed(buyers)

    def _buyer_waits(self, by: Person, slot: Any, when: int, seller: Account) -> Proc:
        sim = self.sim
        yield sim.now
        sess = yield from open_session(sim, by, ttl_min=45)
        stop = when + by.rng.randint(4, 25) * MINUTE
        while sim.now < stop:
            if by.served:
                return
            shown = sim.search(by.account, sess, slot.service)
            by.searches += 1
            if shown > 0 and slot.free:
                yield sim.now + lognormal_ms(by.rng, 4, 0.6, 1.0, 60)
                nb = sim.book(by.account, sess, slot, by.applicant)
                if nb is not None:
                    self._deliver(by, nb, seller, "cancel_rebook_buyer")
                    return
            yield sim.now + lognormal_ms(by.rng, 2.5, 0.6, 0.6, 60)
        if not by.served:
            self._failed([by])

    def _handoff_seller_rebooks(self, b: Booking, by: Person, when: int) -> Proc:
        """The seller logs into the buyer's account with the buyer's password, from his own machine, cancels
        the hold and books the slot again under the buyer's account."""
        sim, rng = self.sim, self.rng
        yield when
        front = self.front or self._oa(b.account).cell
        if front.human:
            t = next_in(front.intervals, sim.now)
            if t is not None and t < b.slot.start - 3 * HOUR:
                yield t
        device = front.devices[0] if front.device_policy != "per_session" else self._client(self.accounts[0], front)[0]
        bs = sim.new_session(by.account, device, front.net, 30 * MINUTE)
        yield from sign_in(sim, bs, rng, 0.3, human=True)
        if rng.random() < 0.5:
            sim.search(by.account, bs, b.slot.service)
            yield sim.now + lognormal_ms(rng, 5, 0.5, 1, 40)
        holder = self._oa(b.account)
        hs = yield from self.session(holder, front)
        release = rng.randint(40, 1200)
        slot = b.slot
        if not sim.cancel(b, hs, release_after_ms=release, reserve_for=self.plan.op_id):
            self._failed([by])
            return
        fast = not front.human and rng.random() < 0.6
        yield sim.now + release + (rng.randint(150, 2500) if fast else lognormal_ms(rng, 6, 0.6, 1.5, 60))
        nb = sim.book(by.account, bs, slot, by.applicant)
        if nb is None:
            self._failed([by])
            return
        self._deliver(by, nb, b.account, "cancel_rebook_seller")
        if rng.random() < 0.6:
            sim.spawn(self._buyer_checks(by), sim.now + lognormal_ms(rng, 6 * 3600, 1.0, 600, 3 * 86400))

    def _buyer_checks(self, by: Person) -> Proc:
        yield self.sim.now
        yield from open_session(self.sim, by, ttl_min=15)

    def _handoff_change(self, b: Booking, by: Person | None, applicant: Applicant, when: int) -> Proc:
        """The holder edits the booking: the applicant becomes the buyer (sometimes after a typo)."""
        sim, rng = self.sim, self.rng
        yield when
        oa = self._oa(b.account)
        if oa.cell.human:
            t = next_in(oa.cell.intervals, sim.now)
            if t is not None and t < b.slot.start - 3 * HOUR:
                yield t
        sess = yield from self.session(oa)
        if rng.random() < 0.12:
            sim.modify(b, sess, Applicant(sim.mint.hex(32), applicant.attend_p))
            yield sim.now + lognormal_ms(rng, 240, 0.8, 20, 3600)
        if sim.modify(b, sess, applicant):
            if by is not None:
                self._deliver(by, b, b.account, "change_applicant")
            else:
                self.stats["delivered"] += 1
        elif by is not None:
            self._failed([by])

    # ---- book to order -------------------------------------------------------------------------
    def _take_orders(self) -> Proc:
        """Customers send their documents (some have an account and were searching, some never had one);
        each order waits until a slot is grabbed in their name."""
        sim, rng, plan = self.sim, self.rng, self.plan
        rate_h = plan.infra.get("orders_per_day", 6) / 24.0
        spec_sold = plan.infra.get("speculative", 0) > 0
        while True:
            yield sim.now + int(rng.expovariate(rate_h) * HOUR)
            service = rng.choice(plan.services)
            by = (
                None
                if rng.random() < plan.infra.get("p_offline", 0.3)
                else self.pool.take(plan.site, service, rng, plan.op_id, min_searches=1)
            )
            applicant = by.applicant if by is not None else self._offline()
            self.stats["orders"] += 1
            held = [b for b in self.inventory if b.active and b.slot.service == service]
            if spec_sold and held:
                b = held[0]
                b.note = "sold"
                self._forget(b)
                if by is not None:
                    by.buying = True
                    self._mark_buyer(by, b.account)
                self.handoff_counts["change_applicant"] = self.handoff_counts.get("change_applicant", 0) + 1
                when = sim.now + rng.randint(5, 120) * MINUTE
                sim.spawn(self._handoff_change(b, by, applicant, when), when)
                continue
            self.orders.append(Order(by, applicant, service, sim.now))

    def report(self) -> dict[str, Any]:
        """Summary for world.json."""
        kinds: dict[str, int] = {}
        for oa in self.accounts:
            if oa.acct.seen:
                kinds[oa.kind] = kinds.get(oa.kind, 0) + 1
        return {
            "id": self.plan.op_id,
            "style": self.plan.style,
            "site": self.plan.site,
            "accounts_by_part": kinds,
            "cells": [
                {
                    "name": c.name,
                    "kind": c.kind,
                    "network": c.net.kind,
                    "devices": c.device_policy,
                    "human": c.human,
                    "accounts": len(c.accounts),
                }
                for c in self.cells
            ],
            "handoffs_used": dict(sorted(self.handoff_counts.items())),
            "stats": self.stats,
        }
