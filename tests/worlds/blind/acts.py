"""Building blocks shared by legitimate people and operations: daily rhythms, logging in, searching
by hand, trying to book what a search showed, and the people who need an appointment."""

from __future__ import annotations

import random
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any

from .clock import MINUTE
from .engine import Account, Applicant, Booking, Session, Sim
from .ids import lognormal_ms
from .netinfra import Device, Net

Proc = Generator[int, None, Any]
Profile = list[tuple[float, float, float]]  # (from minute, to minute, probability mass)

# when people look for an appointment (Paris wall clock)
DAYTIME: Profile = [
    (0, 420, 0.25),
    (420, 540, 1.0),
    (540, 720, 2.2),
    (720, 840, 1.4),
    (840, 1080, 2.2),
    (1080, 1320, 2.6),
    (1320, 1440, 0.7),
]
EVENING: Profile = [(420, 540, 0.5), (540, 1080, 1.0), (1080, 1380, 3.0), (1380, 1440, 0.6)]
RESTLESS: Profile = [
    (0, 240, 2.0),
    (240, 420, 0.6),
    (420, 720, 1.4),
    (720, 1080, 1.6),
    (1080, 1320, 1.8),
    (1320, 1440, 1.8),
]
COMMUTE: Profile = [
    (360, 540, 2.0),
    (540, 720, 1.2),
    (720, 840, 1.6),
    (840, 1020, 1.0),
    (1020, 1200, 2.2),
    (1200, 1410, 1.6),
    (1410, 1440, 0.3),
    (0, 360, 0.2),
]


def sample_minute(rng: random.Random, profile: Profile) -> float:
    """A wall-clock minute drawn from a daily profile."""
    lo, hi, _ = rng.choices(profile, weights=[w for _, _, w in profile], k=1)[0]
    return rng.uniform(lo, hi)


def sign_in(sim: Sim, sess: Session, rng: random.Random, fail_p: float, human: bool = True) -> Proc:
    """Log in, sometimes after failed attempts (mistyped password, wrong account)."""
    if rng.random() < fail_p:
        for _ in range(rng.choice((1, 1, 1, 2, 3))):
            sim.login(sess, False)
            yield sim.now + (lognormal_ms(rng, 9, 0.6, 2, 120) if human else rng.randint(150, 2500))
    sim.login(sess, True)
    yield sim.now + (lognormal_ms(rng, 3, 0.5, 0.8, 30) if human else rng.randint(80, 900))


@dataclass(eq=False)
class Person:
    """Someone who needs an appointment for themself (``applicant``) at one site for one service."""

    role: str
    account: Account
    service: str
    setups: list[tuple[Device, Net]]
    setup_weights: list[float]
    applicant: Applicant
    rng: random.Random
    start_day: int = 0
    creates_account: bool = False
    willing: bool = False
    served: bool = False
    buying: bool = False
    searches: int = 0
    booking: Booking | None = None
    fail_p: float = 0.04
    p_login: float = 0.85
    p_cancel: float = 0.04
    p_typo: float = 0.03
    p_earlier: float = 0.05
    knows_release: bool = False
    group: str | None = None
    params: dict[str, Any] = field(default_factory=dict)

    def setup(self) -> tuple[Device, Net]:
        """The device and network used for the next session."""
        return self.rng.choices(self.setups, weights=self.setup_weights, k=1)[0]

    @property
    def done(self) -> bool:
        """No more searching: booked for good, or a purchase is being arranged."""
        return self.served or self.buying


def open_session(sim: Sim, p: Person, setup: tuple[Device, Net] | None = None, ttl_min: int = 90) -> Proc:
    """A new session for ``p`` (creating the account first if it is new); returns the session."""
    device, net = setup or p.setup()
    sess = sim.new_session(p.account, device, net, ttl_min * MINUTE)
    if p.creates_account:
        p.creates_account = False
        sim.create_account(sess)
        yield sim.now + lognormal_ms(p.rng, 20, 0.6, 4, 300)
        if p.rng.random() < 0.6:
            sim.login(sess, True)
            yield sim.now + lognormal_ms(p.rng, 3, 0.5, 1, 20)
    elif p.rng.random() < p.p_login:
        yield from sign_in(sim, sess, p.rng, p.fail_p)
    return sess


def try_book(
    sim: Sim, p: Person, sess: Session, shown: int, latency_median_s: float = 35.0, applicant: Applicant | None = None
) -> Proc:
    """Pick one of the slots a search showed, fill in the form, submit; one retry if it was taken."""
    rng = p.rng
    for attempt in range(2):
        options = sim.free_slots(p.account.site, p.service, 1, rng, spread=min(max(shown, 1), 4))
        if p.booking is not None:
            options = [s for s in options if s.start < p.booking.slot.start]
        if not options:
            return None
        slot = options[0]
        yield sim.now + lognormal_ms(rng, latency_median_s / (attempt + 1), 0.5, 4, 400)
        who = applicant or p.applicant
        typo = applicant is None and rng.random() < p.p_typo
        if typo:
            who = Applicant(sim.mint.hex(32), p.applicant.attend_p)
        booking = sim.book(p.account, sess, slot, who)
        if booking is not None:
            if typo:
                sim.spawn(_fix_typo(sim, p, sess, booking), sim.now + lognormal_ms(rng, 240, 0.8, 20, 4000))
            return booking
        yield sim.now + lognormal_ms(rng, 4, 0.5, 1, 20)
        shown = sim.search(p.account, sess, p.service)
        p.searches += 1
        if shown == 0:
            return None
    return None


def _fix_typo(sim: Sim, p: Person, sess: Session, booking: Booking) -> Proc:
    yield sim.now
    sim.modify(booking, sess, p.applicant)


def booked(sim: Sim, p: Person, booking: Booking) -> None:
    """Bookkeeping after a person got their own slot; may plan a later cancellation or a re-booking."""
    old = p.booking
    p.booking = booking
    p.served = p.rng.random() >= p.p_earlier
    if old is not None and old.active:
        sim.spawn(_drop_old(sim, p, old), sim.now + lognormal_ms(p.rng, 50, 0.6, 8, 900))
    elif p.rng.random() < p.p_cancel:
        sim.spawn(_cancel_later(sim, p, booking), sim.now + lognormal_ms(p.rng, 20 * 3600, 1.0, 1800, 5 * 86400))


def _drop_old(sim: Sim, p: Person, old: Booking) -> Proc:
    yield sim.now
    sess = p.account.session
    if sess is None or sess.expires < sim.now:
        sess = yield from open_session(sim, p)
    sim.cancel(old, sess)
    p.served = True


def _cancel_later(sim: Sim, p: Person, booking: Booking) -> Proc:
    """Plans changed: log in again and cancel (the person does not look again)."""
    yield sim.now
    if not booking.active:
        return
    sess = yield from open_session(sim, p)
    yield sim.now + lognormal_ms(p.rng, 25, 0.6, 5, 300)
    sim.cancel(booking, sess)


def hand_searches(
    sim: Sim,
    p: Person,
    sess: Session,
    n: int,
    gap_median_s: float,
    sigma: float = 0.7,
    attentive: float = 1.0,
    stop_at: int | None = None,
    pause_p: float = 0.0,
) -> Proc:
    """``n`` searches by hand (or until ``stop_at``); books the first time one shows something."""
    rng = p.rng
    for i in range(n):
        if p.done or (stop_at is not None and sim.now >= stop_at):
            return None
        shown = sim.search(p.account, sess, p.service)
        p.searches += 1
        if shown > 0 and rng.random() < attentive:
            booking = yield from try_book(sim, p, sess, shown)
            if booking is not None:
                booked(sim, p, booking)
                if p.served:
                    return booking
        if i + 1 < n:
            gap = lognormal_ms(rng, gap_median_s, sigma, 1.5, 3600)
            if pause_p and rng.random() < pause_p:
                gap += lognormal_ms(rng, 300, 0.8, 30, 3600)
            yield sim.now + gap
    return None


class BuyerPool:
    """Desperate applicants who would pay for a slot, by (site, service); operations draw their customers here."""

    def __init__(self) -> None:
        self.by_need: dict[tuple[str, str], list[Person]] = {}

    def add(self, p: Person) -> None:
        """Register a person willing to buy."""
        self.by_need.setdefault((p.account.site, p.service), []).append(p)

    def take(self, site: str, service: str, rng: random.Random, seller: str, min_searches: int = 3) -> Person | None:
        """A willing person who has been searching, has no appointment, no pending purchase, and has not already
        paid another operation."""
        ready = [
            p
            for p in self.by_need.get((site, service), [])
            if not p.done and p.searches >= min_searches and p.account.operation in (None, seller)
        ]
        if not ready:
            return None
        ready.sort(key=lambda p: -p.searches)
        top = ready[: max(3, len(ready) // 2)]
        return top[rng.randrange(len(top))]


def human_latency(rng: random.Random, median_s: float) -> int:
    """Time a person takes to read a page and act on it."""
    return lognormal_ms(rng, median_s, 0.6, 1.0, 600)
