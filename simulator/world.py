"""The discrete-event world: an event-time clock, a heap of processes, the booking system's rules.

Agents are generator processes: each ``yield`` hands back the absolute time (epoch ms) at which
the process wants to run again. Plain callables can be scheduled too (a slot release, an
appointment outcome). The world owns the booking system's state (pools of free slots, bookings)
and is the only place that writes events, so every rule of the contract is enforced here:
a booking takes a free slot that the account saw in a search, a cancellation is followed by a
``slot_released`` of the same slot a few hundred ms later, outcomes come on the appointment day.

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
from typing import Any

import msgspec

from simulator.ids import IdMint
from simulator.model import Account, Booking, Session, Slot
from simulator.network import Internet
from simulator.params import Draws, WorldParams, draw_world
from simulator.roles import SCALPER_ROLES
from simulator.supply import Pool, ServiceSupply, appointment_start, build_supply, choose_sites
from simulator.timefmt import DAY, HOUR, MINUTE, SECOND, ParisClock

logger = logging.getLogger(__name__)

#: a process: yields the absolute time (epoch ms) at which it next wants to run
Process = Generator[int, None, None]

_encode = msgspec.json.Encoder().encode


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
        self.draws: Draws = draw_world(random.Random(f"{seed}/draws"))
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
    def emit(
        self,
        etype: str,
        site: str,
        account: Account | None,
        extra: dict[str, Any],
        *,
        ts: int = -1,
        with_session: bool = True,
    ) -> None:
        """Stage one contract event; ``ts`` defaults to now; session fields come from the account."""
        when = self.now if ts < 0 else ts
        event_id = self.ids.make("evt")
        event: dict[str, Any] = {
            "event_id": event_id,
            "type": etype,
            "ts": self.clock.format(when),
            "site": site,
        }
        if account is not None:
            event["account_id"] = account.account_id
            session = account.session if with_session else None
            if session is not None:
                event["session_id"] = session.session_id
                endpoint = session.endpoint if session.rotating is None else session.rotating.endpoint(account.rng)
                event["ip"] = endpoint.ip
                event["asn"] = endpoint.asn
                if session.device.user_agent is not None:
                    event["user_agent"] = session.device.user_agent
                if session.device.device_id is not None:
                    event["device_id"] = session.device.device_id
            account.seen = True
            self.role_events[account.role] += 1
        event.update(extra)
        self.event_counts[etype] += 1
        heapq.heappush(self._out, (when, event_id, _encode(event)))

    # ----------------------------------------------------------------- accounts and sessions
    def create_account(self, account: Account) -> None:
        """``account_created`` from the device and address the person signs up with."""
        device = account.pick_device()
        endpoint = account.net.endpoint(account.rng)
        extra: dict[str, Any] = {"email_hash": account.email_hash}
        if account.phone_hash is not None:
            extra["phone_hash"] = account.phone_hash
        extra["email_domain"] = account.email_domain
        extra["ip"] = endpoint.ip
        extra["asn"] = endpoint.asn
        if device.user_agent is not None:
            extra["user_agent"] = device.user_agent
        if device.device_id is not None:
            extra["device_id"] = device.device_id
        self.emit("account_created", account.site, account, extra, with_session=False)
        account.created = self.now

    def login(self, account: Account, retry_ms: tuple[int, int] = (3 * SECOND, 40 * SECOND)) -> Process:
        """Log in (failed attempts are retried after ``retry_ms``) and open a new session."""
        rng = account.rng
        for _ in range(5):
            device = account.pick_device()
            endpoint = account.net.endpoint(rng)
            if rng.random() < account.login_failure_rate:
                account.session = None
                extra: dict[str, Any] = {"success": False, "ip": endpoint.ip, "asn": endpoint.asn}
                if device.user_agent is not None:
                    extra["user_agent"] = device.user_agent
                if device.device_id is not None:
                    extra["device_id"] = device.device_id
                self.emit("login", account.site, account, extra)
                self.figures["logins_failed"] += 1
                yield self.now + rng.randint(*retry_ms)
                continue
            break
        rotating = account.net if account.net.rotates_per_request else None
        account.session = Session(self.ids.make("ses"), endpoint, device, self.now, rotating)
        self.emit("login", account.site, account, {"success": True})

    def ensure_session(self, account: Account) -> Process:
        """Log in unless the account already has a session."""
        if account.session is None:
            yield from self.login(account)

    @staticmethod
    def logout(account: Account) -> None:
        """End the session (the front end emits nothing for it)."""
        account.session = None

    # ----------------------------------------------------------------- searching and booking
    def search(self, account: Account, service: str, site: str = "") -> int:
        """A ``slot_search``: how many slots of the service are free at the site right now."""
        site = site or account.site
        results = self.pools[(site, service)].count(self.now)
        self.emit("slot_search", site, account, {"service": service, "results": results})
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
    ) -> Booking | None:
        """Book a slot that was already free when the account searched at ``seen_at``; None if gone.

        ``prefer``: "earliest" appointment (urgent applicants), "any" (random), or "latest" (scalpers
        who want time to resell). ``slot`` asks for one particular slot (a handoff); ``exclude``
        names slots this account will not take (an operation's own slot being handed off).
        """
        site = site or account.site
        pool = self.pools[(site, service)]
        candidates = pool.eligible(self.now, seen_at)
        if slot is not None:
            candidates = [s for s in candidates if s is slot]
        elif exclude:
            candidates = [s for s in candidates if s.slot_id not in exclude]
        elif min_lead_ms:
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
        booking = Booking(self.ids.make("bkg"), chosen, account, applicant, self.now, placeholder, attend_prob)
        chosen.booking = booking
        account.bookings.append(booking)
        taker = "scalper" if account.role in SCALPER_ROLES else "legit"
        if chosen.from_opening and not chosen.first_taker:
            chosen.first_taker = taker
            self.figures[f"opening_slots_taken_by_{taker}"] += 1
            self.release_delays[taker].append(self.now - chosen.released)
        self.figures[f"bookings_{taker}"] += 1
        self.figures[f"booked_by_{account.role}"] += 1
        self.emit(
            "booking_created",
            site,
            account,
            {
                "booking_id": booking.booking_id,
                "slot_id": chosen.slot_id,
                "service": service,
                "slot_start": self.clock.format(chosen.start),
                "applicant_id": applicant,
            },
        )
        self._schedule_outcome(booking)
        return booking

    def cancel(self, booking: Booking) -> None:
        """``booking_cancelled`` now; the slot is re-released a few hundred ms later."""
        if not booking.active:
            return
        booking.active = False
        slot = booking.slot
        slot.booking = None
        self.emit(
            "booking_cancelled",
            slot.site,
            booking.account,
            {"booking_id": booking.booking_id, "slot_id": slot.slot_id},
        )
        self.figures[f"cancellations_{'scalper' if booking.account.role in SCALPER_ROLES else 'legit'}"] += 1
        delay = self.rng.randint(150, 900)
        self.at(self.now + delay, lambda: self.release(slot, "cancellation"))

    def modify(self, booking: Booking, applicant: str) -> None:
        """``booking_modified``: the applicant on a booking changes."""
        booking.applicant = applicant
        self.emit(
            "booking_modified",
            booking.slot.site,
            booking.account,
            {"booking_id": booking.booking_id, "applicant_id": applicant},
        )

    def release(self, slot: Slot, reason: str) -> None:
        """``slot_released``: the slot becomes bookable (opening or cancellation)."""
        slot.released = self.now
        self.emit(
            "slot_released",
            slot.site,
            None,
            {
                "slot_id": slot.slot_id,
                "service": slot.service,
                "slot_start": self.clock.format(slot.start),
                "reason": reason,
            },
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
        if not booking.placeholder and self.rng.random() < booking.attend_prob:
            self.emit("booking_attended", slot.site, holder, {"booking_id": booking.booking_id}, with_session=False)
            self.figures[f"attended_{kind}"] += 1
        else:
            late = self.now + self.rng.randint(15 * MINUTE, 30 * MINUTE)
            self.emit(
                "booking_no_show",
                slot.site,
                holder,
                {"booking_id": booking.booking_id},
                ts=late,
                with_session=False,
            )
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
