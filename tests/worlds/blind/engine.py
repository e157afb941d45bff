"""Discrete-event core: a clock, a slot market with one holder per slot, and the event writer.

Actors are generators that yield the UTC millisecond at which they want to run next; callbacks are
plain functions. Everything that changes the market happens at the simulated "now" in time order,
so a booking can only take a slot that is free at that instant and was released before.
"""

from __future__ import annotations

import bisect
import heapq
import random
import zlib
from collections import Counter
from collections.abc import Callable, Generator, Iterable
from dataclasses import dataclass, field
from json.encoder import encode_basestring as _q
from typing import IO, Any

from .clock import DAY, MINUTE, SECOND, MinuteClock, local_date, local_to_utc, rfc3339
from .ids import Mint
from .netinfra import Device, Net

Proc = Generator[int, None, Any]

LOCK_BEFORE_MS = 60 * MINUTE  # a slot closes for booking and cancelling one hour before it starts
LATE_TYPES = ("slot_search", "login")


@dataclass(eq=False)
class Account:
    """A booking-system account and its ground-truth label."""

    account_id: str
    site: str
    role: str
    scalper: bool = False
    operation: str | None = None
    style: str | None = None
    bought_from: list[str] = field(default_factory=list)
    email_hash: str = ""
    email_domain: str = ""
    phone_hash: str | None = None
    seen: bool = False
    session: Session | None = None
    holds: int = 0
    booked_total: int = 0

    def label(self) -> dict[str, Any]:
        """The labels.jsonl record."""
        return {
            "account_id": self.account_id,
            "role": self.role,
            "scalper": self.scalper,
            "operation": self.operation,
            "site": self.site,
            "style": self.style,
            "bought_from": list(dict.fromkeys(self.bought_from)),
        }


@dataclass(eq=False)
class Applicant:
    """The person an appointment is for; ``attend_p`` is the chance they come to the counter."""

    applicant_id: str
    attend_p: float


@dataclass(eq=False)
class Slot:
    """One counter appointment."""

    slot_id: str
    site: str
    service: str
    start: int
    booking: Booking | None = None
    free: bool = False
    locked: bool = False
    closing_planned: bool = False
    reserved_by: str | None = None
    reserved_until: int = 0


@dataclass(eq=False)
class Booking:
    """A booking on a slot by an account for an applicant."""

    booking_id: str
    slot: Slot
    account: Account
    applicant: Applicant
    created: int
    active: bool = True
    note: str = ""


@dataclass(eq=False)
class Session:
    """A web session: one account on one client; addresses come from its network lease."""

    account: Account
    device: Device
    net: Net
    session_id: str | None
    expires: int
    shows_device: bool = True
    ip: str = ""
    asn: int = 0
    until: int = -1
    asn_known: bool = False


@dataclass
class SitePolicy:
    """How one prefecture's front end reports optional fields."""

    p_ip: float
    asn_coverage: float
    p_ua: float
    p_device_session: float
    p_device_event: float
    p_session_id: float
    p_email_domain: float
    result_cap: int | None
    site_json: str = ""


class Sim:
    """The simulation: scheduler, market and output."""

    def __init__(
        self, seed_rng: random.Random, start: int, end: int, policies: dict[str, SitePolicy], out: IO[str]
    ) -> None:
        self.rng = seed_rng
        self.mint = Mint(random.Random(seed_rng.getrandbits(64)))
        self.event_mint = Mint(random.Random(seed_rng.getrandbits(64)))
        self.out_rng = random.Random(seed_rng.getrandbits(64))
        self.start = start
        self.end = end
        self.now = start
        self.policies = policies
        for name, pol in policies.items():
            pol.site_json = _q(name)
        self.clock = MinuteClock()
        self._out = out
        self._queue: list[tuple[int, int, Any]] = []
        self._pending: list[tuple[int, int, str, str]] = []
        self._late: list[tuple[int, int, str]] = []
        self._buffer: list[str] = []
        self._seq = 0
        self.counts: Counter[str] = Counter()
        self.free: dict[tuple[str, str], list[tuple[int, str]]] = {}
        self.slots: dict[str, Slot] = {}
        self.accounts: list[Account] = []
        self.late_written = 0
        self.late_p = 0.0

    # ---- scheduling --------------------------------------------------------------------------------
    def at(self, t: int, fn: Callable[[], None]) -> None:
        """Run ``fn`` at time ``t``."""
        self._seq += 1
        heapq.heappush(self._queue, (max(t, self.now), self._seq, fn))

    def spawn(self, proc: Proc, t: int | None = None) -> None:
        """Start generator ``proc`` at time ``t`` (default now)."""
        self._seq += 1
        heapq.heappush(self._queue, (max(self.now if t is None else t, self.now), self._seq, proc))

    def run(self) -> None:
        """Advance until nothing is scheduled before the end of the period, then write what is left."""
        queue = self._queue
        while queue:
            t, _, job = heapq.heappop(queue)
            if t >= self.end:
                break
            self.now = t
            if self._pending and self._pending[0][0] < t:
                self._flush(t)
            if isinstance(job, Generator):
                try:
                    nxt = next(job)
                except StopIteration:
                    continue
                self._seq += 1
                heapq.heappush(queue, (max(int(nxt), t), self._seq, job))
            else:
                job()
        self._flush(None)
        for _, _, line in sorted(self._late):
            self._buffer.append(line)
        self._late.clear()
        self._out.write("".join(self._buffer))
        self._buffer.clear()

    def _flush(self, before: int | None) -> None:
        pending = self._pending
        late = self._late
        buf = self._buffer
        rnd = self.out_rng.random
        while pending and (before is None or pending[0][0] < before):
            ts, seq, etype, line = heapq.heappop(pending)
            while late and late[0][0] <= ts:
                buf.append(heapq.heappop(late)[2])
            if etype in LATE_TYPES and rnd() < self.late_p:
                delay = int(1000 + rnd() * 54_000)
                heapq.heappush(late, (ts + delay, seq, line + "\n"))
                self.late_written += 1
            else:
                buf.append(line + "\n")
        if len(buf) > 20_000:
            self._out.write("".join(buf))
            buf.clear()

    # ---- output ---------------------------------------------------------------------------------
    def emit(
        self, etype: str, site: str, account: Account | None, sess: Session | None, tail: str, t: int | None = None
    ) -> None:
        """Write one contract event; ``tail`` is its type-specific fields, already serialised (see ``_kv``).
        Optional fields are present as the site's front end reports them."""
        t = self.now if t is None else t
        if t >= self.end:
            return
        pol = self.policies[site]
        parts = [
            '{"event_id":"',
            self.event_mint.hex(32),
            '","type":"',
            etype,
            '","ts":"',
            self.clock(t),
            '","site":',
            pol.site_json,
        ]
        if account is not None:
            parts += (',"account_id":"', account.account_id, '"')
            account.seen = True
        if sess is not None:
            rnd = self.out_rng.random
            if sess.session_id is not None:
                parts += (',"session_id":"', sess.session_id, '"')
            if rnd() < pol.p_ip:
                if t >= sess.until:
                    sess.ip, sess.asn, sess.until = sess.net.lease(t, self.out_rng)
                    sess.asn_known = (zlib.crc32(sess.ip.encode()) % 1000) < pol.asn_coverage * 1000
                parts += (',"ip":"', sess.ip, '"')
                if sess.asn_known:
                    parts += (',"asn":', str(sess.asn))
            if rnd() < pol.p_ua:
                parts += (',"user_agent":', sess.device.ua_json)
            if sess.shows_device and rnd() < pol.p_device_event:
                parts += (',"device_id":"', sess.device.device_id, '"')
        parts += (tail, "}")
        self._seq += 1
        heapq.heappush(self._pending, (t, self._seq, etype, "".join(parts)))
        self.counts[etype] += 1

    # ---- accounts and sessions -------------------------------------------------------------------
    def new_account(self, site: str, role: str) -> Account:
        """A fresh account id (random token) with its label."""
        acct = Account(self.mint.hex(16), site, role, email_hash=self.mint.hex(64))
        self.accounts.append(acct)
        return acct

    def new_session(self, account: Account, device: Device, net: Net, ttl_ms: int) -> Session:
        """A new web session (cookie) for ``account`` on ``device`` behind ``net``; no event by itself."""
        pol = self.policies[account.site]
        rnd = self.out_rng.random
        sid = self.mint.b32(26) if rnd() < pol.p_session_id else None
        shows = device.kind != "script" and rnd() < pol.p_device_session
        sess = Session(account, device, net, sid, self.now + ttl_ms, shows)
        account.session = sess
        return sess

    def create_account(self, sess: Session) -> None:
        """Emit ``account_created`` for the session's account."""
        acct = sess.account
        extra: dict[str, Any] = {"email_hash": acct.email_hash}
        if acct.phone_hash is not None:
            extra["phone_hash"] = acct.phone_hash
        if acct.email_domain and self.out_rng.random() < self.policies[acct.site].p_email_domain:
            extra["email_domain"] = acct.email_domain
        self.emit("account_created", acct.site, acct, sess, _kv(extra))

    def login(self, sess: Session, success: bool = True) -> None:
        """Emit a login attempt."""
        self.emit("login", sess.account.site, sess.account, sess, ',"success":true' if success else ',"success":false')

    # ---- market ---------------------------------------------------------------------------------
    def _free_list(self, site: str, service: str) -> list[tuple[int, str]]:
        key = (site, service)
        lst = self.free.get(key)
        if lst is None:
            lst = self.free[key] = []
        return lst

    def new_slot(self, site: str, service: str, start: int) -> Slot:
        """A slot that exists in the agenda but is not bookable until released."""
        slot = Slot(self.mint.hex(24), site, service, start)
        self.slots[slot.slot_id] = slot
        return slot

    def release(self, slot: Slot, reason: str) -> None:
        """Make ``slot`` bookable now and emit ``slot_released``."""
        if slot.locked or slot.free or slot.booking is not None:
            return
        slot.free = True
        bisect.insort(self._free_list(slot.site, slot.service), (slot.start, slot.slot_id))
        self.emit(
            "slot_released",
            slot.site,
            None,
            None,
            _kv(
                {
                    "slot_id": slot.slot_id,
                    "service": slot.service,
                    "slot_start": rfc3339(slot.start, millis=False),
                    "reason": reason,
                }
            ),
        )
        self._plan_closing(slot)

    def _plan_closing(self, slot: Slot) -> None:
        if not slot.closing_planned and slot.start - LOCK_BEFORE_MS < self.end:
            slot.closing_planned = True
            self.at(slot.start - LOCK_BEFORE_MS, lambda: self._close(slot))

    def _take(self, slot: Slot) -> None:
        lst = self._free_list(slot.site, slot.service)
        i = bisect.bisect_left(lst, (slot.start, slot.slot_id))
        del lst[i]
        slot.free = False

    def free_count(self, site: str, service: str) -> int:
        """How many slots of ``service`` are bookable now."""
        return len(self._free_list(site, service))

    def search(self, account: Account, sess: Session, service: str) -> int:
        """Emit ``slot_search`` and return how many slots were shown."""
        n = len(self._free_list(account.site, service))
        cap = self.policies[account.site].result_cap
        shown = min(n, cap) if cap is not None else n
        self.emit("slot_search", account.site, account, sess, f',"service":{_q(service)},"results":{shown}')
        return shown

    def free_slots(
        self, site: str, service: str, k: int, rng: random.Random, spread: int = 1, exclude: str | None = None
    ) -> list[Slot]:
        """Up to ``k`` bookable slots, earliest first, drawn among the first ``k * spread`` shown."""
        out: list[Slot] = []
        for _, sid in self._free_list(site, service)[: max(k * spread, k) + 8]:
            slot = self.slots[sid]
            if exclude is not None and slot.reserved_by == exclude and slot.reserved_until > self.now:
                continue
            out.append(slot)
            if len(out) >= k * spread:
                break
        if spread > 1 and len(out) > k:
            out = rng.sample(out, k)
            out.sort(key=lambda s: s.start)
        return out[:k]

    def book(self, account: Account, sess: Session, slot: Slot, applicant: Applicant, note: str = "") -> Booking | None:
        """Book ``slot`` if it is still free now; emits ``booking_created``. ``None`` if someone was faster."""
        if not slot.free or slot.locked or slot.booking is not None:
            return None
        self._take(slot)
        booking = Booking(self.mint.uuid(), slot, account, applicant, self.now, note=note)
        slot.booking = booking
        account.holds += 1
        account.booked_total += 1
        self.emit(
            "booking_created",
            slot.site,
            account,
            sess,
            _kv(
                {
                    "booking_id": booking.booking_id,
                    "slot_id": slot.slot_id,
                    "service": slot.service,
                    "slot_start": rfc3339(slot.start, millis=False),
                    "applicant_id": applicant.applicant_id,
                }
            ),
        )
        return booking

    def can_change(self, booking: Booking) -> bool:
        """Whether the booking can still be cancelled or modified."""
        return booking.active and not booking.slot.locked and self.now < self.end - 10 * SECOND

    def cancel(
        self, booking: Booking, sess: Session, release_after_ms: int | None = None, reserve_for: str | None = None
    ) -> bool:
        """Cancel; the system releases the slot (reason ``cancellation``) a moment later."""
        if not self.can_change(booking):
            return False
        booking.active = False
        slot = booking.slot
        slot.booking = None
        booking.account.holds -= 1
        self.emit(
            "booking_cancelled",
            slot.site,
            booking.account,
            sess,
            _kv({"booking_id": booking.booking_id, "slot_id": slot.slot_id}),
        )
        if reserve_for is not None:
            slot.reserved_by = reserve_for
            slot.reserved_until = self.now + 30 * MINUTE
        delay = release_after_ms if release_after_ms is not None else int(self.out_rng.uniform(40, 1500))
        self.at(self.now + delay, lambda: self.release(slot, "cancellation"))
        return True

    def modify(self, booking: Booking, sess: Session, applicant: Applicant) -> bool:
        """Change the applicant on a booking; emits ``booking_modified``."""
        if not self.can_change(booking):
            return False
        booking.applicant = applicant
        self.emit(
            "booking_modified",
            booking.slot.site,
            booking.account,
            sess,
            _kv({"booking_id": booking.booking_id, "applicant_id": applicant.applicant_id}),
        )
        return True

    def _close(self, slot: Slot) -> None:
        """One hour before the appointment: the slot closes; the day's counter reports attendance."""
        slot.locked = True
        if slot.free:
            self._take(slot)
        booking = slot.booking
        if booking is None or not booking.active:
            return
        rnd = self.out_rng.random
        if rnd() < booking.applicant.attend_p:
            t = slot.start + int((-35 + 45 * rnd()) * MINUTE)
            etype = "booking_attended"
        else:
            t = slot.start + int((20 + 100 * rnd()) * MINUTE)
            etype = "booking_no_show"
        site = slot.site
        acct = booking.account
        bid = booking.booking_id
        self.at(t, lambda: self.emit(etype, site, acct, None, _kv({"booking_id": bid})))

    # ---- calendar helpers ---------------------------------------------------------------------
    def day_index(self, t: int) -> int:
        """Day of the simulated period (0-based) that contains ``t``, in Paris time."""
        return (local_date(t) - local_date(self.start)).days

    def at_local(self, day: int, minute: float) -> int:
        """UTC instant of Paris wall-clock ``minute`` on simulated day ``day``."""
        d = local_date(self.start + DAY // 2)
        return local_to_utc(d.fromordinal(d.toordinal() + day), minute)

    @property
    def days(self) -> int:
        """Number of simulated days."""
        return self.day_index(self.end - 1) + 1

    def weekday(self, day: int) -> int:
        """Weekday (Monday = 0) of simulated day ``day``."""
        return (local_date(self.start + DAY // 2).weekday() + day) % 7


def _kv(fields: dict[str, Any]) -> str:
    """Type-specific fields serialised as the tail of a JSON object (``,"k":v...``)."""
    out = []
    for key, value in fields.items():
        if isinstance(value, bool):
            out.append(f',"{key}":{"true" if value else "false"}')
        elif isinstance(value, int):
            out.append(f',"{key}":{value}')
        else:
            out.append(f',"{key}":{_q(value)}')
    return "".join(out)


def next_in(intervals: list[tuple[int, int]], t: int) -> int | None:
    """The earliest instant >= ``t`` inside one of the sorted ``intervals``, or ``None``."""
    i = bisect.bisect_right(intervals, (t, 1 << 62))
    if i > 0 and intervals[i - 1][1] > t:
        return t
    if i < len(intervals):
        return intervals[i][0]
    return None


def inside(intervals: list[tuple[int, int]], t: int) -> bool:
    """Whether ``t`` falls inside one of the sorted ``intervals``."""
    i = bisect.bisect_right(intervals, (t, 1 << 62))
    return i > 0 and intervals[i - 1][1] > t


def merge(intervals: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sorted, non-overlapping union of intervals."""
    out: list[tuple[int, int]] = []
    for a, b in sorted(intervals):
        if b <= a:
            continue
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out
