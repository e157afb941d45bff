"""Scalping operations: how bots, human operators and farms grab slots, hold them and resell them.

An operation (``op-...``) is a group of accounts run by one organisation at one site. It keeps an
inventory of slots booked under placeholder applicants (fresh ids, or a small pool of fake
identities), sells them to buyers who contacted it (handoff: cancel + the buyer books the same
slot seconds later; or modification: the booking's applicant becomes the buyer), and either
dumps unsold slots shortly before the appointment or lets them end as no-shows.

Styles:
- ``bot_datacenter`` / ``bot_residential``: a poller account (rotating in shifts) searches every
  few seconds, day and night with pauses; when slots show up, it and a fleet of striker accounts
  search and book within a second or two.
- ``scalper_human``: operators search by hand around known opening times, switching accounts.
- ``farm``: many accounts created in bursts; a few log in around each opening, book 1-2 slots.
"""

from __future__ import annotations

import bisect
import logging
import math
import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from simulator.legit import lognormal_ms
from simulator.model import Account, Booking
from simulator.timefmt import DAY, HOUR, MINUTE, SECOND
from simulator.world import Process, World

logger = logging.getLogger(__name__)

#: a scalper only books slots at least this far ahead when it can (time to find a buyer)
RESALE_LEAD_MS = DAY
#: a held slot closer than this to its appointment can no longer be sold
UNSELLABLE_MS = 12 * HOUR


@dataclass(eq=False)
class Operation:
    """One scalping organisation: its accounts, inventory of held bookings and waiting buyers."""

    op_id: str
    style: str
    site: str
    services: list[str]
    rng: random.Random
    accounts: list[Account] = field(default_factory=list)
    #: per-operation draws, recorded in world.json
    traits: dict[str, Any] = field(default_factory=dict)
    inventory: list[Booking] = field(default_factory=list)
    buyers: list[Account] = field(default_factory=list)
    placeholder_pool: list[str] = field(default_factory=list)
    held_by: Counter[str] = field(default_factory=Counter)
    in_flight: int = 0
    busy: set[str] = field(default_factory=set)
    #: slots being handed to a buyer: the operation's own bots must not take them back
    handing_off: set[str] = field(default_factory=set)
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
        """How many more slots the operation wants right now."""
        return int(self.traits["inventory_cap"]) - self.held(now) - self.in_flight

    def account_room(self, account: Account) -> int:
        """How many more slots this account may hold (spreading holds avoids per-account limits)."""
        return int(account.traits["holds"]) - self.held_by[account.account_id]

    def strikers(self, count: int, now: int) -> list[Account]:
        """Up to ``count`` idle accounts with room, round-robin."""
        chosen: list[Account] = []
        pool = [a for a in self.accounts if a.traits.get("striker")]
        for step in range(len(pool)):
            if len(chosen) >= count:
                break
            account = pool[(self._turn + step) % len(pool)]
            if (
                account.account_id not in self.busy
                and account.traits.get("ready_at", 0) <= now
                and self.account_room(account) > 0
            ):
                chosen.append(account)
        self._turn += len(chosen) + 1
        return chosen

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
            **self.traits,
        }


def scalper_book(world: World, op: Operation, account: Account, service: str, seen: int) -> Booking | None:
    """Book a seen slot under a placeholder applicant, add it to the inventory, plan its fate."""
    booking = world.book(
        account,
        service,
        seen,
        op.placeholder(world),
        placeholder=True,
        attend_prob=0.0,
        prefer="latest",
        min_lead_ms=RESALE_LEAD_MS,
        site=op.site,
        exclude=op.handing_off,
    )
    if booking is None:
        return None
    op.inventory.append(booking)
    op.held_by[account.account_id] += 1
    _plan_dump(world, op, booking)
    return booking


def _plan_dump(world: World, op: Operation, booking: Booking) -> None:
    """Unsold slots are dumped (cancelled) shortly before the appointment, or left as no-shows."""
    rng = op.rng
    if rng.random() >= op.traits["dump_share"]:
        return
    when = booking.slot.start - int(rng.uniform(*op.traits["dump_lead_h"]) * HOUR)
    if when <= world.now or when >= world.end:
        return

    def dump() -> Process:
        yield when
        if booking.active and not booking.sold:
            yield from world.ensure_session(booking.account)
            world.cancel(booking)
            world.figures["held_slots_dumped"] += 1

    world.at(when, dump())


# --------------------------------------------------------------------------- bots
def _next_tick(op: Operation, tick_start: int) -> int:
    """When the next poll round starts: machine-regular (ms jitter) or jittered (lognormal)."""
    period = op.traits["poll_period_s"] * SECOND
    if op.traits["timing"] == "regular":
        return tick_start + int(period + op.rng.gauss(0.0, op.traits["jitter_ms"]))
    return tick_start + int(period * math.exp(op.rng.gauss(0.0, op.traits["jitter_sigma"])))


def bot_operation(world: World, op: Operation) -> Process:
    """Poll in shifts (one poller account at a time), day and night, pausing now and then."""
    rng = op.rng
    pollers = [a for a in op.accounts if a.traits.get("poller")]
    shift_min, shift_max = op.traits["shift_minutes"]
    duty = op.traits["duty_cycle"]
    yield world.start + rng.randrange(30 * MINUTE)
    turn = tick = 0
    while True:
        account = pollers[turn % len(pollers)]
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
                strike(world, op, account, service, results)
            yield max(world.now + 200, _next_tick(op, tick_start))
        world.logout(account)
        yield world.now + int(rng.expovariate(duty / ((1 - duty) * shift)))


def strike(world: World, op: Operation, poller: Account, service: str, results: int) -> None:
    """Slots are free: the poller books a few itself and sends idle strikers after the rest."""
    room = op.room(world.now)
    if room <= 0:
        return
    own = min(results, room, op.rng.randint(1, 3), max(0, op.account_room(poller)))
    if own > 0 and poller.account_id not in op.busy:
        op.in_flight += own
        op.busy.add(poller.account_id)
        world.at(world.now, _burst(world, op, poller, service, seen=world.now, count=own))
    for striker in op.strikers(min(results - own, room - own), world.now):
        op.in_flight += 1
        op.busy.add(striker.account_id)
        world.at(world.now, _striker(world, op, striker, service))


def _book_delay(op: Operation) -> int:
    low, high = op.traits["book_delay_s"]
    return int(op.rng.uniform(low, high) * SECOND)


def _burst(world: World, op: Operation, account: Account, service: str, *, seen: int, count: int) -> Process:
    """The poller books ``count`` slots it just saw, each a fraction of a second after the last."""
    yield seen + _book_delay(op)
    for index in range(count):
        op.in_flight -= 1
        if scalper_book(world, op, account, service, seen) is None:
            op.in_flight -= count - index - 1
            break
        yield world.now + op.rng.randint(150, 700)
    op.busy.discard(account.account_id)


def _striker(world: World, op: Operation, account: Account, service: str) -> Process:
    """A fleet account: search within a second (logging in first if needed), book at once."""
    rng = op.rng
    yield world.now + rng.randint(100, 900)
    if account.session is None:
        yield from world.login(account, retry_ms=(1 * SECOND, 5 * SECOND))
        yield world.now + rng.randint(100, 600)
    results = world.search(account, service, op.site)
    if results:
        seen = world.now
        yield seen + _book_delay(op)
        scalper_book(world, op, account, service, seen)
    op.in_flight -= 1
    op.busy.discard(account.account_id)


# --------------------------------------------------------------------------- human operators
def _next_ready(accounts: list[Account], turn: int, now: int) -> tuple[Account | None, int]:
    """The operator's next account in rotation that already exists (None if all are created later)."""
    for step in range(len(accounts)):
        account = accounts[(turn + step) % len(accounts)]
        if account.traits.get("ready_at", 0) <= now:
            return account, turn + step + 1
    return None, turn


def operator(world: World, op: Operation, accounts: list[Account], openings: list[int]) -> Process:
    """One person driving several accounts by hand: there at opening times, and at random hours."""
    rng = op.rng
    low, high = op.traits["reaction_s"]
    interval = float(op.traits["interval_s"])
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
            if results and op.room(world.now) > 0 and op.account_room(account) > 0:
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


# --------------------------------------------------------------------------- farms
def farm_operation(world: World, op: Operation, openings: list[tuple[int, str]]) -> Process:
    """Create the accounts in a burst, then send a few accounts at each opening of the target services."""
    rng = op.rng
    ready = world.start
    created_at = op.traits.get("created_at")
    if created_at is not None:
        burst = int(op.traits["burst_minutes"] * MINUTE)
        for account in op.accounts:
            when = int(created_at) + rng.randrange(burst)
            account.traits["ready_at"] = when
            world.at(when, _create(world, account))
        ready = int(created_at) + burst + rng.randint(10 * MINUTE, 6 * HOUR)
    yield ready
    upcoming = [(t, s) for t, s in openings if t > world.now + 5 * MINUTE]
    queue = list(op.accounts)
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


def _create(world: World, account: Account) -> Process:
    world.create_account(account)
    yield world.now + account.rng.randint(2 * SECOND, 40 * SECOND)
    yield from world.login(account, retry_ms=(2 * SECOND, 20 * SECOND))
    world.logout(account)


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


# --------------------------------------------------------------------------- resale
class Market:
    """Buyers contact an operation at their site that covers their service; operations sell to them."""

    def __init__(self, world: World, operations: list[Operation]) -> None:
        self.world = world
        self.operations = operations

    def contact(self, buyer: Account) -> None:
        """A buyer pays an operation (chosen by size) and joins its queue of buyers."""
        service = buyer.pending[0][1] if buyer.pending else buyer.service
        options = [op for op in self.operations if op.site == buyer.site and service in op.services]
        if not options:
            self.world.figures["buyers_without_seller"] += 1
            return
        op = buyer.rng.choices(options, weights=[len(op.accounts) for op in options])[0]
        buyer.paid_op = op.op_id
        op.buyers.append(buyer)
        self.world.figures["buyers_paid"] += 1


def sales(world: World, op: Operation) -> Process:
    """Every so often, in waking hours, deliver held slots to waiting buyers."""
    rng = op.rng
    while True:
        yield world.now + rng.randint(10 * MINUTE, 60 * MINUTE)
        if not op.buyers or not 8.0 <= world.clock.hour(world.now) < 22.0:
            continue
        for buyer in list(op.buyers):
            service = buyer.pending[0][1] if buyer.pending else buyer.service
            booking = op.sellable(service, world.now)
            if booking is None:
                continue
            op.buyers.remove(buyer)
            booking.sold = True
            if rng.random() < op.traits["handoff_share"]:
                world.at(world.now + rng.randint(0, 20 * MINUTE), handoff(world, op, booking, buyer))
            else:
                world.at(world.now + rng.randint(0, 60 * MINUTE), modification(world, op, booking, buyer))


def handoff(world: World, op: Operation, booking: Booking, buyer: Account) -> Process:
    """Coordinated by phone: the holder cancels, the buyer searches and books the same slot seconds later."""
    rng = op.rng
    slot, seller = booking.slot, booking.account
    applicant, service = buyer.pending[0] if buyer.pending else (buyer.applicants[0], slot.service)
    yield from world.ensure_session(buyer)
    yield world.now + rng.randint(5 * SECOND, 90 * SECOND)
    yield from world.ensure_session(seller)
    if not booking.active:
        op.buyers.insert(0, buyer)
        return
    op.handing_off.add(slot.slot_id)
    world.cancel(booking)
    world.figures["handoffs_attempted"] += 1
    low, high = op.traits["handoff_gap_s"]
    yield world.now + int(max(1.0, rng.uniform(low, high)) * SECOND)
    world.search(buyer, service, slot.site)
    seen = world.now
    yield seen + rng.randint(500, 2500)
    bought = world.book(
        buyer,
        service,
        seen,
        applicant,
        placeholder=False,
        attend_prob=world.draws.buyer_attend_rate,
        slot=slot,
        site=slot.site,
    )
    op.handing_off.discard(slot.slot_id)
    if bought is None:
        world.figures["handoffs_sniped"] += 1
        op.buyers.insert(0, buyer)
        return
    world.figures["handoffs_completed"] += 1
    buyer.bought_from = op.op_id
    buyer.pending.clear()


def modification(world: World, op: Operation, booking: Booking, buyer: Account) -> Process:
    """The holder changes the booking's applicant to the buyer's; the buyer attends on the day."""
    yield world.now
    if not booking.active or booking.slot.start - world.now < UNSELLABLE_MS // 2:
        op.buyers.insert(0, buyer)
        return
    applicant = buyer.pending[0][0] if buyer.pending else buyer.applicants[0]
    yield from world.ensure_session(booking.account)
    world.modify(booking, applicant)
    booking.placeholder = False
    booking.attend_prob = world.draws.buyer_attend_rate
    world.figures["modifications_sold"] += 1
    buyer.bought_from = op.op_id
    buyer.pending.clear()
