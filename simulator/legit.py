"""Legitimate behaviours: ordinary and mobile applicants, anxious searchers, families, associations, buyers.

Each function is a process (a generator yielding wake-up times) driving one account. They share
a few human traits: activity follows a daily rhythm, reactions take seconds to a minute
(lognormal), and people stop searching once they have what they need. What differs is the pace
(visits a day vs. hours-long sessions vs. an auto-refresh period), the number of applicants,
and the network (see ``population``).
"""

from __future__ import annotations

import logging
import math
import random
from collections.abc import Callable

from simulator.model import Account, Booking, Kit
from simulator.supply import poisson
from simulator.timefmt import DAY, HOUR, MINUTE, SECOND
from simulator.world import Process, World

logger = logging.getLogger(__name__)

#: relative activity of people at each Paris hour (0-23): low at night, peaks mid-morning and evening
HUMAN_HOURS = (
    0.25, 0.12, 0.06, 0.04, 0.04, 0.08, 0.3, 0.8, 1.4, 1.7, 1.6, 1.4,
    1.4, 1.5, 1.5, 1.4, 1.3, 1.3, 1.4, 1.6, 1.7, 1.5, 1.1, 0.6,
)  # fmt: skip
#: hours at which night sessions of anxious applicants start
NIGHT_HOURS = (22, 23, 0, 1, 2, 3)


def lognormal_ms(rng: random.Random, median_s: float, sigma: float, low_s: float, high_s: float) -> int:
    """A lognormal duration in ms around ``median_s``, clipped to [low_s, high_s]."""
    value = median_s * math.exp(rng.gauss(0.0, sigma))
    return int(min(max(value, low_s), high_s) * SECOND)


def reaction_ms(account: Account) -> int:
    """How long a person takes from seeing a free slot to submitting the booking form."""
    return lognormal_ms(account.rng, account.traits["reaction_s"], 0.6, 2.0, 180.0)


def day_start(world: World, when: int) -> int:
    """Paris midnight of the day containing ``when``."""
    return when - world.clock.local_ms(when) % DAY


def human_time(rng: random.Random, midnight: int, hours: tuple[float, ...] = HUMAN_HOURS) -> int:
    """A random moment of a day, following the human daily rhythm."""
    hour = rng.choices(range(24), weights=hours)[0]
    return midnight + hour * HOUR + rng.randrange(HOUR)


def campaign(world: World, account: Account) -> tuple[int, int]:
    """When this applicant searches: from a start (often already under way) for some days."""
    rng, draws = account.rng, world.draws
    span = world.end - world.start
    if rng.random() < draws.searching_at_start_share:
        start = world.start + rng.randrange(6 * HOUR)
    else:
        start = world.start + rng.randrange(span)
    length = int(rng.uniform(*draws.campaign_days) * DAY)
    return start, min(start + length, world.end)


def begin(world: World, account: Account, start: int) -> Process:
    """Wait for the campaign; new applicants sign up first."""
    yield start
    if account.traits.get("new"):
        world.create_account(account)
        yield world.now + account.rng.randint(5 * SECOND, 90 * SECOND)


def book_next(world: World, account: Account, seen_at: int, attend_prob: float) -> Booking | None:
    """Book for the next waiting applicant, if a slot seen at ``seen_at`` is still free."""
    applicant, service = account.pending[0]
    booking = world.book(account, service, seen_at, applicant, placeholder=False, attend_prob=attend_prob)
    if booking is not None:
        account.pending.pop(0)
        maybe_cancel_later(world, account, booking, world.draws.legit_cancel_rate)
    return booking


def maybe_cancel_later(world: World, account: Account, booking: Booking, rate: float) -> None:
    """Plans change: some applicants cancel days later (the slot goes back to the pool)."""
    rng = account.rng
    latest = booking.slot.start - 2 * HOUR
    if rng.random() >= rate or latest <= world.now + HOUR:
        return
    when = rng.randint(world.now + HOUR, latest)

    def cancel_later() -> Process:
        yield when
        if booking.active:
            yield from world.login(account)
            yield world.now + rng.randint(10 * SECOND, 60 * SECOND)
            world.cancel(booking)
            world.logout(account)

    world.at(when, cancel_later())


def visit(world: World, account: Account, may_book: bool = True) -> Process:
    """One visit to the booking site: log in, search a few times, book if something shows up."""
    rng = account.rng
    yield from world.login(account)
    yield world.now + rng.randint(3 * SECOND, 25 * SECOND)
    searches = rng.randint(1, 4)
    attend = account.traits.get("attend_rate", world.draws.attend_rate)
    for index in range(searches):
        if not account.pending:
            break
        results = world.search(account, account.pending[0][1])
        if results and may_book:
            seen = world.now
            yield seen + reaction_ms(account)
            if book_next(world, account, seen, attend) is not None and account.pending:
                yield world.now + rng.randint(5 * SECOND, 40 * SECOND)
                continue
        if index < searches - 1:
            yield world.now + rng.randint(8 * SECOND, 90 * SECOND)
    world.logout(account)


def _daily_visits(world: World, account: Account, end: int, may_book: bool, done: Callable[[], bool]) -> Process:
    """Visits on each day until ``end`` or ``done()``; the number per day is Poisson."""
    rng = account.rng
    midnight = day_start(world, world.now)
    first = True
    while world.now < end and not done():
        count = poisson(rng, account.traits["visits_per_day"])
        times = sorted(human_time(rng, midnight) for _ in range(count))
        if first:
            times.insert(0, world.now)
            first = False
        for when in times:
            if when < world.now:
                continue
            if when >= end or done():
                return
            yield when
            yield from visit(world, account, may_book)
        midnight += DAY
        if world.now < midnight:
            yield midnight


def ordinary(world: World, account: Account) -> Process:
    """Ordinary, mobile and family accounts: a few visits a day until every applicant is booked."""
    start, end = campaign(world, account)
    yield from begin(world, account, start)
    yield from _daily_visits(world, account, end, True, lambda: not account.pending)


def _session_starts(rng: random.Random, midnight: int, per_day: float, night_share: float) -> list[int]:
    """Start times of today's long sessions; some begin at night."""
    starts = []
    for _ in range(poisson(rng, per_day)):
        if rng.random() < night_share:
            hour = rng.choice(NIGHT_HOURS)
            starts.append(midnight + hour * HOUR + rng.randrange(HOUR))
        else:
            starts.append(human_time(rng, midnight))
    return sorted(starts)


def anxious_manual(
    world: World, account: Account, may_book: bool = True, window: tuple[int, int] | None = None
) -> Process:
    """Hours-long sessions of searching by hand every ~20 s to 3 min, some at night.

    ``window`` overrides the campaign (buyers search until the end of the period).
    """
    rng, draws = account.rng, world.draws
    start, end = campaign(world, account) if window is None else window
    yield from begin(world, account, start)
    midnight = day_start(world, world.now)
    starts = [world.now]
    while world.now < end and account.pending and account.bought_from is None:
        for when in starts:
            if when < world.now:
                continue
            if when >= end or not account.pending or account.bought_from is not None:
                return
            yield when
            hours = rng.uniform(*draws.manual_session_hours)
            session_end = min(world.now + int(hours * HOUR), end)
            yield from world.login(account)
            while world.now < session_end and account.pending:
                results = world.search(account, account.pending[0][1])
                if results and may_book:
                    seen = world.now
                    yield seen + lognormal_ms(rng, account.traits["reaction_s"] * 0.5, 0.5, 2.0, 60.0)
                    book_next(world, account, seen, draws.attend_rate)
                median = account.traits["interval_s"]
                yield world.now + lognormal_ms(rng, median, 0.55, 4.0, median * 6)
            world.logout(account)
        midnight += DAY
        starts = _session_starts(rng, midnight, draws.manual_sessions_per_day, draws.night_session_share)
        if world.now < midnight:
            yield midnight


def _awake(world: World, account: Account) -> bool:
    """Whether the person behind an auto-refreshing tab is there to notice results."""
    hour = world.clock.hour(world.now)
    return 7.0 <= hour < 23.5 and account.rng.random() < 0.75


def anxious_autorefresh(world: World, account: Account) -> Process:
    """A browser extension reloads the search every N s (tens of ms jitter), for hours, even all night.

    Some applicants keep several tabs open (``tabs`` trait): each tab reloads on its own phase, all
    in the same session.
    """
    rng, draws = account.rng, world.draws
    start, end = campaign(world, account)
    yield from begin(world, account, start)
    period = int(account.traits["period_s"] * SECOND)
    jitter = account.traits["jitter_ms"]
    tabs = int(account.traits.get("tabs", 1))
    midnight = day_start(world, world.now)
    starts = [world.now]
    while world.now < end and account.pending:
        for when in starts:
            if when < world.now:
                continue
            if when >= end or not account.pending:
                return
            yield when
            median, longest = draws.autorefresh_session_hours
            hours = min(longest, max(0.5, median * math.exp(rng.gauss(0.0, 0.7))))
            session_end = min(world.now + int(hours * HOUR), end)
            yield from world.login(account)
            # the next reload of each tab (tabs are opened a few seconds to a minute apart)
            due = [world.now]
            for _ in range(tabs - 1):
                due.append(due[-1] + rng.randint(3 * SECOND, 60 * SECOND))
            while account.pending:
                tab = min(range(tabs), key=due.__getitem__)
                if due[tab] >= session_end:
                    break
                if due[tab] > world.now:
                    yield due[tab]
                results = world.search(account, account.pending[0][1])
                if results and _awake(world, account):
                    seen = world.now
                    yield seen + reaction_ms(account)
                    book_next(world, account, seen, draws.attend_rate)
                    if not account.pending:
                        break
                due[tab] = max(world.now + 200, due[tab] + max(1000, period + round(rng.gauss(0.0, jitter))))
            world.logout(account)
        midnight += DAY
        # later sessions are rarer, and often started in the evening to run through the night
        starts = _session_starts(rng, midnight, draws.autorefresh_sessions_per_day, 0.0)
        starts = sorted(t if rng.random() < 0.5 else midnight + rng.randint(19, 22) * HOUR for t in starts)
        if world.now < midnight:
            yield midnight


def buyer(world: World, account: Account, contact: Callable[[Account], None]) -> Process:
    """A victim: searches (by visits or anxiously) without success, then pays an operation.

    Until the deal is delivered the buyer keeps looking; a buyer's own booking attempts in this
    phase always come too late (a simplification: in the worlds simulated here they nearly always do).
    """
    rng, draws = account.rng, world.draws
    start, _ = campaign(world, account)
    start = min(start, world.start + int((world.end - world.start) * 0.6))
    decide = start + int(rng.uniform(*draws.buyer_patience_days) * DAY)
    decide = min(decide, world.end - 2 * HOUR)

    def decide_to_buy() -> None:
        if account.bought_from is None:
            contact(account)

    world.at(decide, decide_to_buy)
    if account.traits.get("anxious"):
        yield from anxious_manual(world, account, may_book=False, window=(start, world.end))
        return
    yield from begin(world, account, start)
    yield from _daily_visits(world, account, world.end, False, lambda: account.bought_from is not None)


def family(world: World, account: Account) -> Process:
    """One account booking for several relatives at human speed (same code as ordinary visits)."""
    yield from ordinary(world, account)


def office_staff(world: World, account: Account) -> Process:
    """Association or law-office staff: searches in office hours for a queue of distinct clients who attend.

    Some bookings are cancelled and rebooked for the same client when schedules change; rarely a
    client who cannot come is replaced by another (``booking_modified``).
    """
    rng = account.rng
    services = [s.service for s in world.services_of(account.site)]
    yield world.start + rng.randrange(2 * HOUR)
    midnight = day_start(world, world.now)
    while midnight < world.end:
        if world.clock.weekday(midnight + 12 * HOUR) < 5:
            for _ in range(poisson(rng, account.traits["clients_per_day"])):
                client = world.ids.make("app")
                account.applicants.append(client)
                account.pending.append((client, rng.choice(services)))
            sessions = sorted(
                midnight + rng.choice((9, 10, 11, 14, 15, 16)) * HOUR + rng.randrange(40 * MINUTE)
                for _ in range(rng.randint(1, 3))
            )
            for when in sessions:
                if when < world.now or not account.pending:
                    continue
                yield when
                yield from _office_session(world, account, when + rng.randint(20, 90) * MINUTE)
        midnight += DAY
        if world.now < midnight:
            yield midnight


def _office_session(world: World, account: Account, session_end: int) -> Process:
    """One stretch of searching at the office for the clients in the queue."""
    rng = account.rng
    yield from world.login(account)
    while world.now < session_end and account.pending:
        client, service = account.pending[0]
        results = world.search(account, service)
        if results:
            seen = world.now
            yield seen + reaction_ms(account)
            booking = world.book(
                account, service, seen, client, placeholder=False, attend_prob=account.traits["attend_rate"]
            )
            if booking is not None:
                account.pending.pop(0)
                _schedule_office_changes(world, account, booking)
                continue
        median = account.traits["interval_s"]
        yield world.now + lognormal_ms(rng, median, 0.6, 20.0, median * 5)
    world.logout(account)


def _schedule_office_changes(world: World, account: Account, booking: Booking) -> None:
    """Cancel-and-rebook for the same client, or replace a client who cannot come."""
    rng, traits = account.rng, account.traits
    latest = booking.slot.start - DAY
    if latest <= world.now + 2 * HOUR:
        return
    roll = rng.random()
    if roll < traits["rebook_rate"]:
        when = rng.randint(world.now + 2 * HOUR, latest)

        def rebook() -> Process:
            yield when
            if booking.active:
                yield from world.login(account)
                yield world.now + rng.randint(10 * SECOND, 60 * SECOND)
                world.cancel(booking)
                account.pending.insert(0, (booking.applicant, booking.slot.service))
                world.figures["office_rebooks"] += 1
                world.logout(account)

        world.at(when, rebook())
    elif roll < traits["rebook_rate"] + traits["modify_rate"]:
        when = rng.randint(world.now + 2 * HOUR, latest)

        def replace_client() -> Process:
            yield when
            if booking.active:
                yield from world.login(account)
                yield world.now + rng.randint(20 * SECOND, 120 * SECOND)
                client = world.ids.make("app")
                account.applicants.append(client)
                world.modify(booking, client)
                world.figures["modifications_legit"] += 1
                world.logout(account)

        world.at(when, replace_client())


# --------------------------------------------------------------------------- public PCs
#: opening hours of venues with public PCs: kind -> (weekdays open, (from hour, to hour) blocks)
VENUE_HOURS: dict[str, tuple[tuple[int, ...], tuple[tuple[float, float], ...]]] = {
    "cyber_cafe": ((0, 1, 2, 3, 4, 5, 6), ((9.5, 22.0),)),
    "library": ((1, 2, 3, 4, 5), ((10.0, 18.0),)),
    "social_centre": ((0, 1, 2, 3, 4), ((9.0, 12.0), (13.5, 17.0))),
}


def venue_time(world: World, kind: str, after: int, rng: random.Random) -> int:
    """A random moment when the venue is open, on the first opening day at or after ``after``."""
    weekdays, blocks = VENUE_HOURS[kind]
    midnight = day_start(world, after)
    for _ in range(14):
        if world.clock.weekday(midnight + 12 * HOUR) in weekdays:
            choices = [
                midnight + int(low * HOUR) + rng.randrange(int((high - low) * HOUR) - 30 * MINUTE)
                for low, high in blocks
            ]
            later = [t for t in choices if t >= after]
            if later:
                return later[rng.randrange(len(later))]
        midnight += DAY
    return after + DAY


def public_pc_user(world: World, account: Account, kind: str, pc: Kit) -> Process:
    """A stranger on a cyber-café / library / social-centre PC: a visit now and then, books their own slot.

    New users sign up at the PC. A share also use their own phone for some visits (see
    ``population``: the venue PC and a phone on the carrier).
    """
    rng = account.rng
    start, end = campaign(world, account)
    per_day = account.traits["visits_per_week"] / 7
    when = venue_time(world, kind, start, rng)
    if when >= world.end:
        when = venue_time(world, kind, world.start, rng)
    first = True
    while when < end and account.pending:
        yield when
        if first and account.traits.get("new"):
            world.create_account(account, kit=pc)
            yield world.now + rng.randint(20 * SECOND, 3 * MINUTE)
        first = False
        yield from visit(world, account)
        when = venue_time(world, kind, world.now + int(rng.expovariate(per_day) * DAY) + HOUR, rng)


# --------------------------------------------------------------------------- legal intermediaries
def intermediary_staff(world: World, office: Office, member: int) -> Process:
    """A legal intermediary's employee: in office hours, logs into each waiting customer's own account
    from the office PC and searches and books for that customer (whose applicant then attends).
    """
    rng = random.Random(f"{world.params.seed}/intermediary/{office.name}/{member}")
    midnight = day_start(world, world.start)
    while midnight < world.end:
        if world.clock.weekday(midnight + 12 * HOUR) < 5:
            sessions = sorted(
                midnight + rng.choice((9, 10, 11, 14, 15, 16)) * HOUR + rng.randrange(45 * MINUTE)
                for _ in range(rng.randint(2, 4))
            )
            for when in sessions:
                if when < world.now:
                    continue
                yield when
                stop = world.now + rng.randint(45, 150) * MINUTE
                while world.now < stop:
                    customer = office.next_customer(world.now)
                    if customer is None:
                        break
                    yield from _serve_customer(world, office, customer, rng)
                    office.busy.discard(customer.account_id)
                    yield world.now + rng.randint(15 * SECOND, 2 * MINUTE)
        midnight += DAY
        if world.now < midnight:
            yield midnight


def _serve_customer(world: World, office: Office, customer: Account, rng: random.Random) -> Process:
    """Searches a few times on the customer's account from the office, and books if a slot shows."""
    if customer.created is None and customer.traits.get("created_by_office"):
        world.create_account(customer, kit=office.kit)
        yield world.now + rng.randint(30 * SECOND, 3 * MINUTE)
    session = yield from world.open_session(customer, kit=office.kit)
    applicant, service = customer.pending[0]
    for index in range(rng.randint(2, office.searches_per_customer)):
        results = world.search(customer, service, session=session)
        if results:
            seen = world.now
            yield seen + lognormal_ms(rng, office.reaction_s, 0.5, 3.0, 90.0)
            booking = world.book(
                customer, service, seen, applicant, placeholder=False, attend_prob=office.attend_rate, session=session
            )
            if booking is not None:
                customer.pending.pop(0)
                office.served += 1
                world.figures["intermediary_bookings"] += 1
                if customer.traits.get("checks"):
                    world.at(world.now + rng.randint(1 * HOUR, 2 * DAY), _check_booking(world, customer))
                return
        if index:
            yield world.now + rng.randint(20 * SECOND, 100 * SECOND)


def _check_booking(world: World, customer: Account) -> Process:
    """The customer logs in from home to look at the booking the intermediary made."""
    yield world.now
    yield from world.login(customer)
    yield world.now + customer.rng.randint(20 * SECOND, 3 * MINUTE)
    world.logout(customer)


def intermediary_customer(world: World, account: Account, office: Office) -> Process:
    """A customer: maybe tries alone for a while (own device), then hands the search to the intermediary."""
    rng = account.rng
    joins = int(account.traits["joins_at"])
    if account.traits.get("tries_alone") and joins > world.start + HOUR:
        if account.traits.get("new"):
            yield world.start + rng.randrange(joins - world.start)
            world.create_account(account)
        yield from _daily_visits(world, account, joins, True, lambda: not account.pending)
    elif account.traits.get("new") and not account.traits.get("created_by_office"):
        yield max(world.start, joins - rng.randint(1 * HOUR, 1 * DAY))
        world.create_account(account)
    yield joins
    office.waiting.append(account)


class Office:
    """A legal intermediary's office: its network and PCs, its staff, and its queue of customers."""

    def __init__(
        self,
        name: str,
        kit: Kit,
        *,
        attend_rate: float,
        reaction_s: float,
        searches_per_customer: int,
        staff: int,
    ) -> None:
        self.name = name
        self.staff = staff
        self.kit = kit
        self.attend_rate = attend_rate
        self.reaction_s = reaction_s
        self.searches_per_customer = searches_per_customer
        self.waiting: list[Account] = []
        self.busy: set[str] = set()
        self.served = 0
        self._turn = 0

    def next_customer(self, now: int) -> Account | None:
        """The next customer still waiting for a slot that no colleague is serving (round-robin)."""
        self.waiting = [a for a in self.waiting if a.pending]
        for step in range(len(self.waiting)):
            customer = self.waiting[(self._turn + step) % len(self.waiting)]
            if customer.account_id not in self.busy:
                self._turn += step + 1
                self.busy.add(customer.account_id)
                return customer
        return None
