"""The discrete-event world: an event-time clock, a heap of processes, the booking system's rules.

Agents are generator processes: each ``yield`` hands back the absolute time (epoch ms) at which
the process wants to run again. Plain callables can be scheduled too (a slot release, an
appointment outcome). The world owns the booking system's state (pools of free slots, bookings)
and is the only place that writes events, so every rule of the contract is enforced here:
a booking takes a free slot that was seen in a search (by the account, or by its operation's
watcher), a cancellation is followed by a ``slot_released`` of the same slot a few hundred ms
later, outcomes come on the appointment day. Events are ``ingest.contract`` structs encoded by
``ingest.contract.encode``, so the simulator cannot drift from the contract.

Events are staged in an output heap keyed by (ts, event_id) and flushed as soon as the clock has
passed them, so the stream comes out sorted while the simulation runs, in bounded memory.
"""

from __future__ import annotations

import heapq
import logging
import random
from collections import Counter
from collections.abc import Callable, Generator, Iterator
from datetime import timedelta
from typing import Literal

from ingest.contract import (
    AccountCreated,
    AnyEvent,
    BookingAttended,
    BookingCancelled,
    BookingCreated,
    BookingModified,
    BookingNoShow,
    Login,
    SlotReleased,
    SlotSearch,
    encode,
)
from simulator.ids import IdMint
from simulator.model import Account, Booking, Device, Kit, Session, Slot
from simulator.network import Internet
from simulator.params import Draws, WorldParams, draw_world
from simulator.roles import SCALPER_ROLES
from simulator.supply import Pool, ServiceSupply, appointment_start, build_supply, choose_sites
from simulator.timefmt import DAY, HOUR, MINUTE, SECOND, ParisClock

logger = logging.getLogger(__name__)

#: a process: yields the absolute time (epoch ms) at which it next wants to run
Process = Generator[int, None, None]

#: (session_id, ip, asn, user_agent, device_id) of a request
Origin = tuple[str | None, str | None, int | None, str | None, str | None]
_NO_ORIGIN: Origin = (None, None, None, None, None)


class World:
    """Clock, scheduler, booking-system state and event writer of one simulated world."""

    def __init__(self, params: WorldParams) -> None:
        self.params = params
        seed = params.seed
        self.rng = random.Random(f"{seed}/world")
        self.ids = IdMint(seed)
        self.clock = ParisClock()
        self.start = self.clock.at(params.start, 0)
        self.end = self.clock.at(params.start + timedelta(days=params.days), 0)
        self.now = self.start
        self.draws: Draws = draw_world(random.Random(f"{seed}/draws"), params.variants)
        self.internet = Internet(random.Random(f"{seed}/internet"), self.draws.cgnat_pool_size)
        supply_rng = random.Random(f"{seed}/supply")
        self.sites, self.site_weights = choose_sites(params, supply_rng)
        self.supply: list[ServiceSupply] = build_supply(
            self.draws,
            sites=self.sites,
            site_weights=self.site_weights,
            accounts=params.accounts,
            start=self.start,
            end=self.end,
            rng=supply_rng,
            clock=self.clock,
        )
        notice = self.draws.min_notice_hours * HOUR
        self.pools: dict[tuple[str, str], Pool] = {(s.site, s.service): Pool(notice) for s in self.supply}
        self.accounts: list[Account] = []
        self._heap: list[tuple[int, int, Process | Callable[[], None]]] = []
        self._seq = 0
        self._out: list[tuple[int, str, bytes]] = []
        self.event_counts: Counter[str] = Counter()
        self.role_events: Counter[str] = Counter()
        self.figures: Counter[str] = Counter()
        #: ms from an opening slot's release to its first booking, by taker ("scalper"/"legit")
        self.release_delays: dict[str, list[int]] = {"scalper": [], "legit": []}
        #: outcome callbacks for bookings whose appointment falls inside the period
        self._supply_rng = supply_rng

    # ----------------------------------------------------------------- scheduling
    def at(self, when: int, action: Process | Callable[[], None]) -> None:
        """Run ``action`` (a process to start/resume, or a callable) at ``when``."""
        self._seq += 1
        heapq.heappush(self._heap, (max(when, self.now), self._seq, action))

    def services_of(self, site: str) -> list[ServiceSupply]:
        """The services offered at a site."""
        return [s for s in self.supply if s.site == site]

    def run(self, on_progress: Callable[[int], None] | None = None) -> Iterator[bytes]:
        """Run the world to its end, yielding event lines (sorted by ts, event_id) as they become final."""
        self._schedule_supply()
        heap, out = self._heap, self._out
        end = self.end
        next_tick = self.start + HOUR
        while heap and heap[0][0] < end:
            when, _, action = heapq.heappop(heap)
            while out and out[0][0] < when:
                yield heapq.heappop(out)[2]
            self.now = when
            if on_progress is not None and when >= next_tick:
                on_progress(when)
                next_tick = when + HOUR
            if isinstance(action, Generator):
                try:
                    wake = next(action)
                except StopIteration:
                    continue
                self._seq += 1
                heapq.heappush(heap, (wake if wake > when else when, self._seq, action))
            else:
                action()
        while out:
            yield heapq.heappop(out)[2]
        if on_progress is not None:
            on_progress(end)

    # ----------------------------------------------------------------- writing events
    def _stage(self, etype: str, when: int, event: AnyEvent) -> None:
        """Queue one contract event for output (encoded by the contract's own encoder)."""
        self.event_counts[etype] += 1
        heapq.heappush(self._out, (when, event.event_id, encode(event)))

    def _touch(self, account: Account) -> None:
        account.seen = True
        self.role_events[account.role] += 1

    @staticmethod
    def _origin(account: Account, session: Session | None) -> Origin:
        """(session_id, ip, asn, user_agent, device_id) of a request in ``session`` (all None without one)."""
        if session is None:
            return _NO_ORIGIN
        endpoint = session.endpoint if session.rotating is None else session.rotating.endpoint(account.rng)
        device = session.device
        return session.session_id, endpoint.ip, endpoint.asn, device.user_agent, device.device_id

    # ----------------------------------------------------------------- accounts and sessions
    def create_account(self, account: Account, kit: Kit | None = None) -> None:
        """``account_created`` from the device and address the account is signed up with.

        ``kit`` is someone else's network and devices (an intermediary's office, a public PC).
        """
        if kit is None:
            device = account.pick_device()
            endpoint = account.net.endpoint(account.rng)
        else:
            device = kit.pick(account.rng)
            endpoint = kit.net.endpoint(account.rng)
        now = self.now
        self._touch(account)
        self._stage(
            "account_created",
            now,
            AccountCreated(
                event_id=self.ids.make("evt"),
                ts=self.clock.stamp(now),
                site=account.site,
                account_id=account.account_id,
                ip=endpoint.ip,
                asn=endpoint.asn,
                user_agent=device.user_agent,
                device_id=device.device_id,
                email_hash=account.email_hash,
                phone_hash=account.phone_hash,
                email_domain=account.email_domain,
            ),
        )
        account.created = now

    def open_session(
        self,
        account: Account,
        kit: Kit | None = None,
        retry_ms: tuple[int, int] = (3 * SECOND, 40 * SECOND),
    ) -> Generator[int, None, Session]:
        """Log in (failed attempts are retried after ``retry_ms``); return the new session.

        ``kit`` logs in with someone else's network and devices: a seller operating a buyer's
        account with the buyer's credentials, an intermediary using a customer's account.
        """
        rng = account.rng
        net = account.net if kit is None else kit.net
        for _ in range(5):
            device = account.pick_device() if kit is None else kit.pick(rng)
            endpoint = net.endpoint(rng)
            if rng.random() < account.login_failure_rate:
                self._login_event(account, None, endpoint.ip, endpoint.asn, device, success=False)
                self.figures["logins_failed"] += 1
                yield self.now + rng.randint(*retry_ms)
                continue
            break
        session = Session(self.ids.make("ses"), endpoint, device, self.now, net if net.rotates_per_request else None)
        self._login_event(account, session.session_id, endpoint.ip, endpoint.asn, device, success=True)
        return session

    def _login_event(
        self, account: Account, session_id: str | None, ip: str, asn: int, device: Device, *, success: bool
    ) -> None:
        now = self.now
        self._touch(account)
        self._stage(
            "login",
            now,
            Login(
                event_id=self.ids.make("evt"),
                ts=self.clock.stamp(now),
                site=account.site,
                account_id=account.account_id,
                session_id=session_id,
                ip=ip,
                asn=asn,
                user_agent=device.user_agent,
                device_id=device.device_id,
                success=success,
            ),
        )

    def login(self, account: Account, retry_ms: tuple[int, int] = (3 * SECOND, 40 * SECOND)) -> Process:
        """Log in with the account's own network and devices; the session becomes ``account.session``."""
        account.session = None
        account.session = yield from self.open_session(account, retry_ms=retry_ms)

    @staticmethod
    def logout(account: Account) -> None:
        """End the session (the front end emits nothing for it)."""
        account.session = None

    # ----------------------------------------------------------------- searching and booking
    def search(self, account: Account, service: str, site: str = "", session: Session | None = None) -> int:
        """A ``slot_search``: how many slots of the service are free at the site right now."""
        site = site or account.site
        now = self.now
        results = self.pools[(site, service)].count(now)
        session_id, ip, asn, user_agent, device_id = self._origin(
            account, account.session if session is None else session
        )
        self._touch(account)
        self._stage(
            "slot_search",
            now,
            SlotSearch(
                event_id=self.ids.make("evt"),
                ts=self.clock.stamp(now),
                site=site,
                account_id=account.account_id,
                session_id=session_id,
                ip=ip,
                asn=asn,
                user_agent=user_agent,
                device_id=device_id,
                service=service,
                results=results,
            ),
        )
        self.figures["searches_with_results" if results else "searches_empty"] += 1
        return results

    def book(
        self,
        account: Account,
        service: str,
        seen_at: int,
        applicant: str,
        *,
        placeholder: bool,
        attend_prob: float,
        prefer: str = "earliest",
        min_lead_ms: int = 0,
        slot: Slot | None = None,
        site: str = "",
        exclude: set[str] | frozenset[str] = frozenset(),
        session: Session | None = None,
    ) -> Booking | None:
        """Book a slot that was already free at ``seen_at``; None if it is gone.

        ``seen_at`` is when the slot was seen: the account's own last search, or, for an
        operation's bookers, the search of the watcher who passed the slot on. ``prefer``:
        "earliest" appointment (urgent applicants), "any" (random), or "latest" (scalpers who want
        time to resell). ``slot`` asks for one particular slot (a handoff); ``exclude`` names
        slots this account will not take (an operation's own slot being handed off).
        """
        site = site or account.site
        pool = self.pools[(site, service)]
        candidates = pool.eligible(self.now, seen_at)
        if slot is not None:
            candidates = [s for s in candidates if s is slot]
        elif exclude:
            candidates = [s for s in candidates if s.slot_id not in exclude]
        if slot is None and min_lead_ms:
            later = [s for s in candidates if s.start >= self.now + min_lead_ms]
            candidates = later or candidates
        if not candidates:
            self.figures["booking_attempts_too_late"] += 1
            return None
        rng = account.rng
        if prefer == "earliest" and rng.random() < 0.7:
            chosen = min(candidates, key=lambda s: s.start)
        elif prefer == "latest":
            chosen = max(candidates[:8], key=lambda s: s.start)
        else:
            chosen = candidates[rng.randrange(len(candidates))]
        pool.take(chosen)
        now = self.now
        booking = Booking(self.ids.make("bkg"), chosen, account, applicant, now, placeholder, attend_prob)
        chosen.booking = booking
        account.bookings.append(booking)
        taker = "scalper" if account.role in SCALPER_ROLES else "legit"
        if chosen.from_opening and not chosen.first_taker:
            chosen.first_taker = taker
            self.figures[f"opening_slots_taken_by_{taker}"] += 1
            self.release_delays[taker].append(now - chosen.released)
        self.figures[f"bookings_{taker}"] += 1
        self.figures[f"booked_by_{account.role}"] += 1
        session_id, ip, asn, user_agent, device_id = self._origin(
            account, account.session if session is None else session
        )
        self._touch(account)
        self._stage(
            "booking_created",
            now,
            BookingCreated(
                event_id=self.ids.make("evt"),
                ts=self.clock.stamp(now),
                site=site,
                account_id=account.account_id,
                session_id=session_id,
                ip=ip,
                asn=asn,
                user_agent=user_agent,
                device_id=device_id,
                booking_id=booking.booking_id,
                slot_id=chosen.slot_id,
                service=service,
                slot_start=self.clock.stamp(chosen.start),
                applicant_id=applicant,
            ),
        )
        self._schedule_outcome(booking)
        return booking

    def cancel(self, booking: Booking, session: Session | None = None) -> None:
        """``booking_cancelled`` by the holder now; the slot is re-released a few hundred ms later."""
        if not booking.active:
            return
        booking.active = False
        slot = booking.slot
        slot.booking = None
        holder = booking.account
        now = self.now
        session_id, ip, asn, user_agent, device_id = self._origin(
            holder, holder.session if session is None else session
        )
        self._touch(holder)
        self._stage(
            "booking_cancelled",
            now,
            BookingCancelled(
                event_id=self.ids.make("evt"),
                ts=self.clock.stamp(now),
                site=slot.site,
                account_id=holder.account_id,
                session_id=session_id,
                ip=ip,
                asn=asn,
                user_agent=user_agent,
                device_id=device_id,
                booking_id=booking.booking_id,
                slot_id=slot.slot_id,
            ),
        )
        self.figures[f"cancellations_{'scalper' if holder.role in SCALPER_ROLES else 'legit'}"] += 1
        delay = self.rng.randint(150, 900)
        self.at(now + delay, lambda: self.release(slot, "cancellation"))

    def modify(self, booking: Booking, applicant: str, session: Session | None = None) -> None:
        """``booking_modified``: the holder changes the applicant on a booking."""
        booking.applicant = applicant
        holder = booking.account
        now = self.now
        session_id, ip, asn, user_agent, device_id = self._origin(
            holder, holder.session if session is None else session
        )
        self._touch(holder)
        self._stage(
            "booking_modified",
            now,
            BookingModified(
                event_id=self.ids.make("evt"),
                ts=self.clock.stamp(now),
                site=booking.slot.site,
                account_id=holder.account_id,
                session_id=session_id,
                ip=ip,
                asn=asn,
                user_agent=user_agent,
                device_id=device_id,
                booking_id=booking.booking_id,
                applicant_id=applicant,
            ),
        )

    def release(self, slot: Slot, reason: Literal["opening", "cancellation"]) -> None:
        """``slot_released``: the slot becomes bookable (opening or cancellation); a system event."""
        now = self.now
        slot.released = now
        self._stage(
            "slot_released",
            now,
            SlotReleased(
                event_id=self.ids.make("evt"),
                ts=self.clock.stamp(now),
                site=slot.site,
                slot_id=slot.slot_id,
                service=slot.service,
                slot_start=self.clock.stamp(slot.start),
                reason=reason,
            ),
        )
        self.figures[f"slots_released_{reason}"] += 1
        self.pools[(slot.site, slot.service)].add(slot)

    # ----------------------------------------------------------------- appointments
    def _schedule_outcome(self, booking: Booking) -> None:
        """On the appointment day, the counter records attended or no-show (inside the period only)."""
        start = booking.slot.start
        if start + 45 * MINUTE >= self.end:
            return
        self.at(start + self.rng.randint(1 * MINUTE, 15 * MINUTE), lambda: self._outcome(booking))

    def _outcome(self, booking: Booking) -> None:
        slot = booking.slot
        if not booking.active or slot.booking is not booking:
            return
        holder = booking.account
        kind = "sold" if booking.sold else "placeholder" if booking.placeholder else "legit"
        self._touch(holder)
        if not booking.placeholder and self.rng.random() < booking.attend_prob:
            now = self.now
            event: AnyEvent = BookingAttended(
                event_id=self.ids.make("evt"),
                ts=self.clock.stamp(now),
                site=slot.site,
                account_id=holder.account_id,
                booking_id=booking.booking_id,
            )
            self._stage("booking_attended", now, event)
            self.figures[f"attended_{kind}"] += 1
        else:
            late = self.now + self.rng.randint(15 * MINUTE, 30 * MINUTE)
            event = BookingNoShow(
                event_id=self.ids.make("evt"),
                ts=self.clock.stamp(late),
                site=slot.site,
                account_id=holder.account_id,
                booking_id=booking.booking_id,
            )
            self._stage("booking_no_show", late, event)
            self.figures[f"no_show_{kind}"] += 1

    # ----------------------------------------------------------------- supply
    def _schedule_supply(self) -> None:
        """Opening batches at each scheduled instant, plus background cancellations at random times."""
        draws = self.draws
        rng = self._supply_rng
        for supply in self.supply:
            for when in supply.openings:
                size = max(1, round(supply.batch_mean * rng.uniform(0.6, 1.4)))
                self.at(when, self._opening(supply, size))
            daily = supply.batch_mean * supply.per_week / 7
            rate = daily * draws.background_cancellation_share
            if rate > 0:
                self.at(self.start, self._background_cancellations(supply, rate))

    def new_slot(self, supply: ServiceSupply, rng: random.Random, lead_days: tuple[float, float]) -> Slot:
        """A fresh slot of a service with an appointment ``lead_days`` ahead."""
        start = appointment_start(rng, self.now, lead_days, supply.slot_minutes, self.clock)
        return Slot(self.ids.make("slt"), supply.site, supply.service, start)

    def _opening(self, supply: ServiceSupply, size: int) -> Process:
        """Release one batch, spread over a second or two as the back office publishes it."""
        rng = self._supply_rng
        offsets = sorted(rng.randint(0, 1500) for _ in range(size))
        begin = self.now
        for offset in offsets:
            if self.now < begin + offset:
                yield begin + offset
            slot = self.new_slot(supply, rng, self.draws.lead_days)
            slot.from_opening = True
            self.release(slot, "opening")

    def _background_cancellations(self, supply: ServiceSupply, per_day: float) -> Process:
        """Slots booked before the period (by phone, at the counter) given back at random times."""
        rng = random.Random(f"{self.params.seed}/background/{supply.site}/{supply.service}")
        lead = (1.0, float(self.draws.lead_days[1]))
        while True:
            yield self.now + int(rng.expovariate(per_day / DAY))
            slot = self.new_slot(supply, rng, lead)
            self.figures["background_cancellations"] += 1
            self.release(slot, "cancellation")
