"""Scalping operations: how watchers spot free slots, how bookers grab them, how holds end.

An operation (``op-...``) is a group of accounts run by one organisation at one site. Its
structure is drawn per operation (``structure``): who *watches* (searches) and who *books*
(``all_search``: every active account does both; ``split``: a few watchers search and pass slot
ids to bookers who never search; ``mixed``), at what pace (``watch``: polling bots, slower
watching scripts, human operators at their desk, paid clickers by day, farm teams at openings,
farm accounts spread out), on which infrastructure (see ``infra``).

Bookings go to the operation's inventory under **placeholder** applicants (fresh ids, or a pool
of fake identities), except for book-to-order, where the buyer's own applicant is used from the
start (see ``resale``). Unsold holds end as cancellations shortly before the day (often 1-2 days
before) or as no-shows, in a proportion drawn per operation.
"""

from __future__ import annotations

import bisect
import logging
import math
import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from simulator.legit import day_start, human_time, lognormal_ms
from simulator.model import Account, Booking, Kit
from simulator.timefmt import DAY, HOUR, MINUTE, SECOND
from simulator.world import Process, World

logger = logging.getLogger(__name__)

#: a scalper only books slots at least this far ahead when it can (time to find a buyer)
RESALE_LEAD_MS = DAY
#: a held slot closer than this to its appointment can no longer be sold
UNSELLABLE_MS = 12 * HOUR
#: relays slower than this (s) come from people, who log out after booking and sleep at night
HUMAN_RELAY_S = 10.0


@dataclass(eq=False)
class Order:
    """A book-to-order purchase: the buyer's identity, collected before any slot is booked."""

    buyer: Account
    applicant: str
    service: str


@dataclass(eq=False)
class Operation:
    """One scalping organisation: its accounts, structure, inventory of holds, buyers and orders."""

    op_id: str
    style: str
    site: str
    services: list[str]
    rng: random.Random
    size: int = 0
    accounts: list[Account] = field(default_factory=list)
    #: per-operation categorical draws (recorded in world.json)
    structure: dict[str, Any] = field(default_factory=dict)
    #: per-operation timings and sizes (recorded in world.json)
    traits: dict[str, Any] = field(default_factory=dict)
    inventory: list[Booking] = field(default_factory=list)
    #: buyers waiting for a held slot, with the delivery mechanism chosen for them
    buyers: list[tuple[Account, str]] = field(default_factory=list)
    orders: list[Order] = field(default_factory=list)
    placeholder_pool: list[str] = field(default_factory=list)
    held_by: Counter[str] = field(default_factory=Counter)
    in_flight: int = 0
    busy: set[str] = field(default_factory=set)
    busy_units: set[str] = field(default_factory=set)
    #: slots being handed to a buyer: the operation's own bots must not take them back
    handing_off: set[str] = field(default_factory=set)
    #: the seller's own phone or PC for seller-operated handoffs (None: the holder's usual kit)
    seller_kit: Kit | None = None
    #: scams: buyers promised a slot (booking id) that was or will be sold to someone else too
    promised: dict[str, list[Account]] = field(default_factory=dict)
    #: bookings sold recently (a scammer may sell them once more)
    recent_sales: list[Booking] = field(default_factory=list)
    figures: Counter[str] = field(default_factory=Counter)
    _turn: int = 0

    def placeholder(self, world: World) -> str:
        """A placeholder applicant id: a fresh one, or one of the operation's fake identities."""
        if self.placeholder_pool:
            return self.placeholder_pool[self.rng.randrange(len(self.placeholder_pool))]
        return world.ids.make("app")

    def held(self, now: int) -> int:
        """Unsold bookings still worth holding (drops cancelled, sold and too-close ones)."""
        keep = []
        for booking in self.inventory:
            if booking.active and not booking.sold and booking.slot.start - now > UNSELLABLE_MS:
                keep.append(booking)
            else:
                self.held_by[booking.account.account_id] -= 1
        self.inventory = keep
        return len(keep)

    def room(self, now: int) -> int:
        """How many more slots the operation wants right now (holds under its cap, plus open orders)."""
        return int(self.traits["inventory_cap"]) - self.held(now) - self.in_flight + len(self.orders)

    def account_room(self, account: Account) -> int:
        """How many more slots this account may hold (spreading holds avoids per-account limits)."""
        return int(account.traits["holds"]) - self.held_by[account.account_id]

    def bookers_for(self, count: int, now: int, human: bool) -> list[Account]:
        """Up to ``count`` idle bookers with room, round-robin (people: one account per person at a time)."""
        chosen: list[Account] = []
        pool = [a for a in self.accounts if a.traits.get("booker")]
        units: set[str] = set()
        for step in range(len(pool)):
            if len(chosen) >= count:
                break
            account = pool[(self._turn + step) % len(pool)]
            if (
                account.account_id in self.busy
                or account.traits.get("ready_at", 0) > now
                or self.account_room(account) <= 0
                or (human and (account.group in self.busy_units or account.group in units))
            ):
                continue
            chosen.append(account)
            units.add(account.group)
        self._turn += len(chosen) + 1
        return chosen

    def take_order(self, service: str) -> Order | None:
        """The oldest open order for ``service``, removed from the queue."""
        for index, order in enumerate(self.orders):
            if order.service == service and order.buyer.bought_from is None:
                return self.orders.pop(index)
        return None

    def sellable(self, service: str, now: int) -> Booking | None:
        """The held booking to sell for ``service``: old enough, far enough from its appointment."""
        min_age = int(self.traits["resale_min_age_h"] * HOUR)
        for booking in self.inventory:
            if (
                booking.active
                and not booking.sold
                and booking.slot.service == service
                and now - booking.created >= min_age
                and booking.slot.start - now > UNSELLABLE_MS
            ):
                return booking
        return None

    def describe(self) -> dict[str, Any]:
        """The operation as recorded in world.json."""
        return {
            "op_id": self.op_id,
            "style": self.style,
            "site": self.site,
            "services": self.services,
            "accounts": len(self.accounts),
            "structure": self.structure,
            "traits": self.traits,
            "figures": {key: self.figures[key] for key in sorted(self.figures)},
        }


def scalper_book(world: World, op: Operation, account: Account, service: str, seen: int) -> Booking | None:
    """Book a seen slot: for an open order in the buyer's name, else under a placeholder to hold."""
    order = op.take_order(service)
    if order is None and op.held(world.now) >= int(op.traits["inventory_cap"]):
        return None
    booking = world.book(
        account,
        service,
        seen,
        op.placeholder(world) if order is None else order.applicant,
        placeholder=order is None,
        attend_prob=0.0 if order is None else world.draws.buyer_attend_rate,
        prefer="latest" if order is None else "any",
        min_lead_ms=RESALE_LEAD_MS,
        site=op.site,
        exclude=op.handing_off,
    )
    if booking is None:
        if order is not None:
            op.orders.insert(0, order)
        return None
    if order is not None:
        booking.sold = True
        deliver(world, op, order.buyer, account, "book_to_order")
        return booking
    op.inventory.append(booking)
    op.held_by[account.account_id] += 1
    op.figures["holds"] += 1
    _plan_release(world, op, booking)
    return booking


def deliver(world: World, op: Operation, buyer: Account, seller: Account, mechanism: str) -> None:
    """Record that ``buyer`` got a slot from ``op`` by ``mechanism``, through ``seller``'s account."""
    if seller.account_id not in buyer.sellers:
        buyer.sellers.append(seller.account_id)
    buyer.bought_from = op.op_id
    buyer.delivered_by = mechanism
    buyer.scam = None
    buyer.pending.clear()
    op.figures[f"delivered_{mechanism}"] += 1
    world.figures[f"delivered_{mechanism}"] += 1


def _plan_release(world: World, op: Operation, booking: Booking) -> None:
    """An unsold hold is cancelled shortly before the day (often 1-2 days before) or left as a no-show."""
    rng, release = op.rng, op.structure["hold_release"]
    if rng.random() >= release["cancel_share"]:
        return
    day_before = rng.random() < release["day_before_share"]
    lead = rng.uniform(22.0, 50.0) if day_before else rng.uniform(*release["lead_h"])
    when = booking.slot.start - int(lead * HOUR)
    if when <= world.now or when >= world.end:
        return

    def cancel_hold() -> Process:
        yield when
        if booking.active and not booking.sold:
            session = yield from world.open_session(booking.account)
            yield world.now + rng.randint(3 * SECOND, 40 * SECOND)
            if booking.active and not booking.sold:
                world.cancel(booking, session=session)
                world.figures["held_slots_released"] += 1
                op.figures["holds_cancelled"] += 1

    world.at(when, cancel_hold())


# --------------------------------------------------------------------------- accounts over time
def schedule_creation(world: World, op: Operation) -> None:
    """Sign-ups inside the period, by the operation's creation pattern (``ready_at``: when usable)."""
    creation, rng = op.structure["creation"], op.rng
    pattern = creation["pattern"]
    if pattern == "long_before":
        return
    span = world.end - world.start
    accounts = list(op.accounts)
    if pattern == "mixed":
        keep = round(len(accounts) * float(creation["pre_existing_share"]))
        accounts = accounts[keep:]
    if pattern == "trickle":
        times = [world.start + rng.randrange(max(1, int(span * 0.6))) for _ in accounts]
    else:
        burst = int(float(creation["burst_minutes"]) * MINUTE)
        starts = sorted(world.start + rng.randrange(max(1, int(span * 0.4))) for _ in range(int(creation["bursts"])))
        times = [starts[index % len(starts)] + rng.randrange(burst) for index in range(len(accounts))]
    for account, when in zip(accounts, times, strict=True):
        account.traits["ready_at"] = float(when + 2 * MINUTE)
        world.at(when, _create(world, account))


def _create(world: World, account: Account) -> Process:
    world.create_account(account)
    yield world.now + account.rng.randint(2 * SECOND, 40 * SECOND)
    yield from world.login(account, retry_ms=(2 * SECOND, 20 * SECOND))
    world.logout(account)


def _idle(world: World, op: Operation, account: Account) -> Process:
    """A spare account: signed up (maybe in the period), logged into once or twice, never used."""
    rng = account.rng
    ready = int(account.traits.get("ready_at", world.start))
    for _ in range(rng.randint(0, 2)):
        when = ready + rng.randrange(max(1, world.end - ready))
        if when < world.now:
            continue
        yield when
        yield from world.login(account)
        yield world.now + rng.randint(5 * SECOND, 60 * SECOND)
        world.logout(account)


def start_operation(
    world: World, op: Operation, fixed_openings: list[int], openings_by_service: list[tuple[int, str]]
) -> None:
    """Schedule the operation's sign-ups, watchers, and idle accounts (sales are started by ``resale``)."""
    schedule_creation(world, op)
    watch = op.structure["watch"]
    watchers = [a for a in op.accounts if a.traits.get("watcher")]
    books_self = bool(op.structure["watcher_books"])
    if watch in ("bot", "script"):
        lanes = max(1, min(int(op.traits.get("lanes", 1)), len(watchers)))
        for lane in range(lanes):
            world.at(world.start, bot_watch(world, op, watchers[lane::lanes]))
    elif watch in ("operator", "clickers"):
        by_unit: dict[str, list[Account]] = {}
        for account in watchers:
            by_unit.setdefault(account.group, []).append(account)
        for members in by_unit.values():
            if watch == "operator":
                world.at(world.start, operator(world, op, members, fixed_openings, books_self))
            else:
                world.at(world.start, clicker(world, op, members, books_self))
    elif watch == "openings":
        world.at(world.start, farm_operation(world, op, openings_by_service))
    elif watch == "spread":
        for account in watchers:
            world.at(world.start, farm_spread(world, op, account))
    for account in op.accounts:
        if account.traits.get("idle"):
            world.at(world.start, _idle(world, op, account))


# --------------------------------------------------------------------------- sightings and bookers
def dispatch(
    world: World, op: Operation, watcher: Account, service: str, seen: int, results: int, *, own_burst: bool = True
) -> None:
    """A watcher sees free slots: it books some itself (if it books) and passes the rest to bookers.

    ``own_burst`` False: the watcher books by hand itself (human operators), only pass the rest on.
    """
    room = op.room(world.now)
    if room <= 0:
        return
    human = float(op.traits["relay_s"][1]) > HUMAN_RELAY_S
    own = 0
    if not own_burst:
        own = 1 if watcher.traits.get("books") else 0
    elif watcher.traits.get("books") and watcher.account_id not in op.busy:
        own = min(results, room, op.rng.randint(1, 3), max(0, op.account_room(watcher)))
        if own > 0:
            op.in_flight += own
            op.busy.add(watcher.account_id)
            world.at(world.now, _burst(world, op, watcher, service, seen=seen, count=own))
    rest = min(results - own, room - own)
    if rest <= 0:
        return
    if human and not 8.0 <= world.clock.hour(world.now) < 22.0:
        return  # the people who book are asleep; the tip is lost
    for booker in op.bookers_for(rest, world.now, human):
        op.in_flight += 1
        op.busy.add(booker.account_id)
        if human:
            op.busy_units.add(booker.group)
        world.at(world.now, _booker(world, op, booker, service, seen, human))


def _book_delay(op: Operation) -> int:
    low, high = op.traits["book_delay_s"]
    return int(op.rng.uniform(low, high) * SECOND)


def _burst(world: World, op: Operation, account: Account, service: str, *, seen: int, count: int) -> Process:
    """The watcher books ``count`` slots it just saw, each a fraction of a second after the last."""
    yield seen + _book_delay(op)
    for index in range(count):
        op.in_flight -= 1
        if account.session is None or scalper_book(world, op, account, service, seen) is None:
            op.in_flight -= count - index - 1
            break
        yield world.now + op.rng.randint(150, 700)
    op.busy.discard(account.account_id)


def _booker(world: World, op: Operation, account: Account, service: str, seen: int, human: bool) -> Process:
    """A booker gets a slot tip: logs in if needed and books it (searching first only if it does so)."""
    rng = op.rng
    low, high = op.traits["relay_s"]
    yield world.now + int(rng.uniform(low, high) * SECOND)
    if account.session is None:
        yield from world.login(account, retry_ms=(1 * SECOND, 5 * SECOND))
        yield world.now + (rng.randint(2 * SECOND, 12 * SECOND) if human else rng.randint(100, 600))
    seen_at = seen
    found = True
    if account.traits.get("search_first"):
        found = world.search(account, service, op.site) > 0
        seen_at = world.now
        if found:
            yield seen_at + (rng.randint(2 * SECOND, 15 * SECOND) if human else _book_delay(op))
    if found:
        booking = scalper_book(world, op, account, service, seen_at)
        op.figures["booked_on_tip" if booking is not None else "tips_too_late"] += 1
    op.in_flight -= 1
    op.busy.discard(account.account_id)
    op.busy_units.discard(account.group)
    if human:
        yield world.now + rng.randint(10 * SECOND, 60 * SECOND)
        world.logout(account)


# --------------------------------------------------------------------------- polling watchers
def _next_tick(op: Operation, tick_start: int) -> int:
    """When the next poll round starts: machine-regular (ms jitter) or jittered (lognormal)."""
    period = op.traits["poll_period_s"] * SECOND
    if op.traits["timing"] == "regular":
        return tick_start + int(period + op.rng.gauss(0.0, op.traits["jitter_ms"]))
    return tick_start + int(period * math.exp(op.rng.gauss(0.0, op.traits["jitter_sigma"])))


def bot_watch(world: World, op: Operation, pollers: list[Account]) -> Process:
    """Poll in shifts (one poller account at a time), with pauses; scripts of ``hours == day`` sleep at night."""
    rng = op.rng
    shift_min, shift_max = op.traits["shift_minutes"]
    duty = op.traits["duty_cycle"]
    by_day = op.traits.get("hours") == "day"
    yield world.start + rng.randrange(30 * MINUTE)
    turn = tick = 0
    while True:
        if by_day:
            hour = world.clock.hour(world.now)
            if not 7.0 <= hour < 22.5:
                wake = day_start(world, world.now) + (DAY if hour >= 22.5 else 0) + 7 * HOUR
                yield wake + rng.randrange(90 * MINUTE)
        ready = [a for a in pollers if a.traits.get("ready_at", 0) <= world.now]
        if not ready:
            yield int(min(a.traits.get("ready_at", 0) for a in pollers)) + rng.randint(1 * MINUTE, 30 * MINUTE)
            continue
        account = ready[turn % len(ready)]
        turn += 1
        yield from world.login(account, retry_ms=(1 * SECOND, 8 * SECOND))
        shift = int(rng.uniform(shift_min, shift_max) * MINUTE)
        shift_end = world.now + shift
        while world.now < shift_end:
            service = op.services[tick % len(op.services)]
            tick += 1
            tick_start = world.now
            results = world.search(account, service, op.site)
            if results:
                dispatch(world, op, account, service, world.now, results)
            yield max(world.now + 200, _next_tick(op, tick_start))
        world.logout(account)
        yield world.now + int(rng.expovariate(duty / ((1 - duty) * shift)))


# --------------------------------------------------------------------------- human watchers
def _next_ready(accounts: list[Account], turn: int, now: int) -> tuple[Account | None, int]:
    """The next account in rotation that already exists (None if all are created later)."""
    for step in range(len(accounts)):
        account = accounts[(turn + step) % len(accounts)]
        if account.traits.get("ready_at", 0) <= now:
            return account, turn + step + 1
    return None, turn


def operator(world: World, op: Operation, accounts: list[Account], openings: list[int], books_self: bool) -> Process:
    """One person driving several accounts by hand: there at opening times, and at random hours.

    ``books_self``: books what they see (switching account after a booking), else passes it on.
    """
    rng = op.rng
    low, high = op.traits["reaction_s"]
    interval = float(op.traits["interval_s"])
    has_bookers = int(op.structure["bookers"]) > 0
    yield world.start + rng.randrange(3 * HOUR)
    turn = rng.randrange(len(accounts))
    while world.now < world.end:
        index = bisect.bisect_right(openings, world.now + 2 * MINUTE)
        upcoming = openings[index] if index < len(openings) else None
        if upcoming is not None and upcoming - world.now < 20 * HOUR and rng.random() < 0.85:
            start = upcoming - rng.randint(1 * MINUTE, 8 * MINUTE)
            session_end = upcoming + rng.randint(5 * MINUTE, 25 * MINUTE)
        else:
            start = world.now + rng.randint(20 * MINUTE, 4 * HOUR)
            hour = world.clock.hour(start)
            if hour < 8:
                start += int((8 - hour) * HOUR)
            session_end = start + rng.randint(10 * MINUTE, 50 * MINUTE)
        yield start
        ready, turn = _next_ready(accounts, turn, world.now)
        if ready is None:
            continue
        account = ready
        yield from world.login(account)
        while world.now < session_end:
            service = op.services[rng.randrange(len(op.services))]
            results = world.search(account, service, op.site)
            if results and (not books_self or has_bookers):
                dispatch(world, op, account, service, world.now, results, own_burst=False)
            if results and books_self and op.room(world.now) > 0 and op.account_room(account) > 0:
                seen = world.now
                yield seen + int(rng.uniform(low, high) * SECOND)
                if scalper_book(world, op, account, service, seen) is not None and rng.random() < 0.6:
                    world.logout(account)
                    ready, turn = _next_ready(accounts, turn, world.now)
                    account = ready or account
                    yield world.now + rng.randint(8 * SECOND, 40 * SECOND)
                    yield from world.login(account)
                    continue
            yield world.now + lognormal_ms(rng, interval, 0.5, 5.0, interval * 5)
        world.logout(account)
        yield world.now + rng.randint(20 * MINUTE, 3 * HOUR)


def clicker(world: World, op: Operation, accounts: list[Account], books_self: bool) -> Process:
    """A person paid to click: a few short sessions a day in working hours, at human speed, few bookings."""
    rng = op.rng
    low, high = op.traits["reaction_s"]
    interval = float(op.traits["interval_s"])
    session_low, session_high = op.traits["session_minutes"]
    per_day = op.traits["sessions_per_day"]
    has_bookers = int(op.structure["bookers"]) > 0
    midnight = day_start(world, world.start)
    turn = rng.randrange(len(accounts))
    while midnight < world.end:
        if world.clock.weekday(midnight + 12 * HOUR) < 6:
            times = sorted(
                midnight + int(rng.uniform(9.0, 19.0) * HOUR) for _ in range(rng.randint(per_day[0], per_day[1]))
            )
            for when in times:
                if when < world.now:
                    continue
                yield when
                account, turn = _next_ready(accounts, turn, world.now)
                if account is None:
                    continue
                yield from world.login(account)
                session_end = world.now + rng.randint(session_low, session_high) * MINUTE
                while world.now < session_end:
                    service = op.services[rng.randrange(len(op.services))]
                    results = world.search(account, service, op.site)
                    if results and (not books_self or has_bookers):
                        dispatch(world, op, account, service, world.now, results, own_burst=False)
                    if results and books_self and op.room(world.now) > 0 and op.account_room(account) > 0:
                        seen = world.now
                        yield seen + int(rng.uniform(low, high) * SECOND)
                        scalper_book(world, op, account, service, seen)
                    yield world.now + lognormal_ms(rng, interval, 0.5, 10.0, interval * 4)
                world.logout(account)
        midnight += DAY
        if world.now < midnight:
            yield midnight


# --------------------------------------------------------------------------- farms
def farm_operation(world: World, op: Operation, openings: list[tuple[int, str]]) -> Process:
    """Send a few accounts at each opening of the target services (after their sign-up, if any)."""
    rng = op.rng
    members = [a for a in op.accounts if a.traits.get("watcher")]
    ready = max([world.start] + [int(a.traits.get("ready_at", 0)) for a in members])
    if ready > world.start:
        yield min(ready + rng.randint(10 * MINUTE, 6 * HOUR), world.end)
    upcoming = [(t, s) for t, s in openings if t > world.now + 5 * MINUTE]
    queue = list(members)
    rng.shuffle(queue)
    attempts: Counter[str] = Counter()
    for index, (when, service) in enumerate(upcoming):
        if not queue:
            break
        left = len(upcoming) - index
        count = min(len(queue), max(1, math.ceil(len(queue) / left * rng.uniform(0.8, 1.8))))
        team, queue = queue[:count], queue[count:]
        for account in team:
            attempts[account.account_id] += 1
            world.at(
                when - 6 * MINUTE,
                _farm_account(world, op, account, service, opening=when, queue=queue, attempts=attempts),
            )
        yield when


def _farm_account(
    world: World,
    op: Operation,
    account: Account,
    service: str,
    *,
    opening: int,
    queue: list[Account],
    attempts: Counter[str],
) -> Process:
    """Log in minutes before the opening, poll a few times, book 1-2 slots fast, leave."""
    rng = op.rng
    yield opening - rng.randint(30 * SECOND, 5 * MINUTE)
    yield from world.login(account, retry_ms=(2 * SECOND, 15 * SECOND))
    yield max(world.now + 500, opening - rng.randint(0, 20 * SECOND))
    target = int(account.traits["bookings"]) - op.held_by[account.account_id]
    for _ in range(rng.randint(4, 25)):
        results = world.search(account, service, op.site)
        if results and op.room(world.now) > 0:
            seen = world.now
            yield seen + int(rng.uniform(0.3, 3.0) * SECOND)
            for _ in range(max(1, target)):
                if scalper_book(world, op, account, service, seen) is None:
                    break
                yield world.now + rng.randint(300, 1500)
            break
        yield world.now + rng.randint(2 * SECOND, 10 * SECOND)
    world.logout(account)
    if op.held_by[account.account_id] == 0 and attempts[account.account_id] < 3:
        queue.append(account)


def farm_spread(world: World, op: Operation, account: Account) -> Process:
    """A farm account that looks like a person: one to a few visits at human hours, books once or twice."""
    rng = account.rng
    ready = max(world.start, int(account.traits.get("ready_at", 0)))
    low, high = op.traits["visits"]
    days = max(1, (world.end - ready) // DAY)
    times = sorted(
        max(ready, human_time(rng, day_start(world, ready) + rng.randrange(days) * DAY))
        for _ in range(rng.randint(low, high))
    )
    booked = 0
    for when in times:
        if when < world.now or when >= world.end or booked >= int(account.traits["bookings"]):
            continue
        yield when
        yield from world.login(account)
        yield world.now + rng.randint(3 * SECOND, 20 * SECOND)
        for _ in range(rng.randint(1, 4)):
            service = op.services[rng.randrange(len(op.services))]
            results = world.search(account, service, op.site)
            if results and op.room(world.now) > 0:
                seen = world.now
                yield seen + rng.randint(3 * SECOND, 25 * SECOND)
                if scalper_book(world, op, account, service, seen) is not None:
                    booked += 1
                    break
            yield world.now + rng.randint(10 * SECOND, 90 * SECOND)
        world.logout(account)
