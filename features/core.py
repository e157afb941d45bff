"""The feature logic, written once: entity-keyed steps over MutableMapping stores.

``FeatureCore`` holds no state of its own beyond its parameters: every step reads a record
from a store, changes it and writes it back. Steps keyed by something other than the account
(slot, device, address, network, applicant) return :mod:`features.facts` addressed to accounts;
``apply_fact`` folds a fact into the account's record. The embedded runner calls these in
process; the streaming runner calls the same methods from agents partitioned by each key.
"""

from __future__ import annotations

import logging
from typing import Protocol

from features.facts import (
    AnyFact,
    ApplicantShared,
    BookingTimed,
    CreationBurst,
    HandoffIn,
    HandoffOut,
    Linked,
    LinkedEvidence,
)
from features.infra import _AGENT_CACHE, DATACENTER_ASNS, is_automation_agent, is_public_mail_domain
from features.params import LINK_REPORT_STEPS, PARAMS, FeatureParams
from features.state import (
    MAX_CREATIONS,
    MAX_LINKED_ACCOUNTS,
    MAX_OPEN_BOOKINGS,
    MAX_REACTIONS,
    AccountState,
    ApplicantState,
    LinkState,
    NetworkState,
    OpenBooking,
    SlotState,
    Stores,
)
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
)
from ingest.pseudonym import Pseudonymizer

logger = logging.getLogger(__name__)

#: at most this many distinct counterparts are remembered per account for evidence
MAX_COUNTERPARTS = 8
#: a search and a booking closer than this happened "at once": no client round trip is that fast
SAME_INSTANT_S = 0.05


class DirtyMarker(Protocol):
    """Where the core records accounts whose features changed (a set, or an ordered view)."""

    def add(self, account_id: str, /) -> object: ...


class AccountUpdate:
    """What the account step reports back: whether features changed, and links to announce."""

    __slots__ = ("address", "datacenter", "device", "dirty", "evidence")

    def __init__(
        self, dirty: bool, device: str | None, address: str | None, datacenter: bool, evidence: bool = False
    ) -> None:
        self.dirty = dirty
        self.device = device
        self.address = address
        #: the address belongs to a hosting / cloud network
        self.datacenter = datacenter
        #: the event was a resale or no-show: the account's device should hear of it
        self.evidence = evidence


#: what most events (a search, a login) report: nothing changed that anyone else must hear of
QUIET = AccountUpdate(False, None, None, False)


class FeatureCore:
    """Entity steps of the feature pipeline; see the module docstring."""

    def __init__(self, stores: Stores, pseudonymizer: Pseudonymizer, params: FeatureParams = PARAMS) -> None:
        self.stores = stores
        self.params = params
        self.pseudonymizer = pseudonymizer
        self._gap_max = params.search_gap_max_s
        self._poll_min = params.poll_min_per_hour
        self._night = range(params.night_start_h, params.night_end_h)
        self._decay_rate = 1.0 / params.poll_half_life_s
        self._link_refresh = params.link_refresh_s
        #: the pseudonymizer's own cache, read directly on the hot path
        self._ip_names = pseudonymizer.known_ips
        self._link_stores = {
            "device": stores.devices,
            "address": stores.addresses,
            "domain": stores.domains,
            "phone": stores.phones,
        }
        self._linked_field = {
            "device": "device_accounts",
            "address": "datacenter_address_accounts",
            "domain": "domain_accounts",
            "phone": "phone_accounts",
        }

    # ------------------------------------------------------------------ account-keyed step
    def account_event(self, ev: AnyEvent, t: float) -> AccountUpdate | None:
        """Fold one event into its account's record (``None`` for events without an account)."""
        account_id = ev.account_id
        if account_id is None:
            return None
        accounts = self.stores.accounts
        st = accounts.get(account_id)
        dirty = st is None
        if st is None:
            st = AccountState(site=ev.site, last_t=t)
        elif t > st.last_t:
            st.last_t = t
        device = address = None
        datacenter = False
        refresh = t - st.last_link_t >= self._link_refresh
        ip = ev.ip
        if ip is not None:
            addr = self._ip_names.get(ip) or self.pseudonymizer.ip(ip)
            st.addr_events += 1
            last_addr = st.last_addr
            if addr != last_addr:
                if last_addr:
                    st.addr_changes += 1
                st.last_addr = address = addr
            elif refresh:
                address = addr
        device_id = ev.device_id
        if device_id is not None and (refresh or device_id != st.last_device):
            st.last_device = device = device_id
        if refresh and (device or address):
            st.last_link_t = t
        asn = ev.asn
        if asn is not None:
            st.asn_events += 1
            if asn in DATACENTER_ASNS:
                st.datacenter_events += 1
                datacenter = True
        agent = ev.user_agent
        if agent is not None:
            st.ua_events += 1
            automated = _AGENT_CACHE.get(agent)
            if automated is None:
                automated = is_automation_agent(agent)
            if automated:
                st.automation_ua_events += 1

        evidence = False
        if type(ev) is SlotSearch:
            dirty = self._search(st, ev, t) or dirty
        elif type(ev) is BookingCreated:
            self._booked(st, ev, t)
            dirty = True
        elif type(ev) is BookingCancelled:
            st.cancellations += 1
            st.open.pop(ev.booking_id, None)
            dirty = True
        elif type(ev) is BookingModified:
            evidence = True
            st.modifications += 1
            held = st.open.get(ev.booking_id)
            if held is not None:
                held.modified = True
                held.applicant_id = ev.applicant_id
            dirty = True
        elif type(ev) is BookingAttended:
            st.attended += 1
            held = st.open.pop(ev.booking_id, None)
            if held is not None and held.modified:
                st.modified_then_attended += 1
            dirty = True
        elif type(ev) is BookingNoShow:
            evidence = True
            st.no_shows += 1
            st.open.pop(ev.booking_id, None)
            dirty = True
        elif type(ev) is AccountCreated:
            dirty = True
        accounts[account_id] = st
        if not (dirty or device or address or evidence):
            return QUIET
        return AccountUpdate(dirty, device, address, datacenter, evidence)

    def _search(self, st: AccountState, ev: SlotSearch, t: float) -> bool:
        st.searches += 1
        if ev.results > 0:
            # a pick is timed from the first search of a run showing free slots, so a second tab
            # refreshing just before the booking does not make a person look instantaneous
            if not st.hit_open:
                st.prev_hit_t = st.last_hit_t
                st.last_hit_t = t
                st.hit_open = True
        else:
            st.hit_open = False
        last = st.last_search_t
        st.last_search_t = t
        if last >= 0.0:
            gap = t - last
            if 0.0 < gap < self._gap_max:
                n = st.gap_n + 1
                delta = gap - st.gap_mean
                mean = st.gap_mean + delta / n
                st.gap_m2 += delta * (gap - mean)
                st.gap_mean = mean
                st.gap_n = n
        if st.hour_start_t <= t < st.hour_end_t:
            st.hour_n += 1
            return False
        offset = ev.ts.utcoffset()
        local = t + (offset.total_seconds() if offset is not None else 0.0)
        hour = int(local // 3600.0)
        if hour == st.hour_idx:  # an out-of-order search inside the same local hour
            st.hour_n += 1
            return False
        closed = self._close_hour(st, t)
        st.tz_offset = local - t
        st.hour_idx = hour
        st.hour_start_t = hour * 3600.0 - st.tz_offset
        st.hour_end_t = st.hour_start_t + 3600.0
        st.hour_n = 1
        return closed

    def _close_hour(self, st: AccountState, t: float) -> bool:
        """Count the hour just ended as polling if it had enough searches."""
        if st.hour_n < self._poll_min:
            return False
        decay = 2.0 ** (-(t - st.poll_decay_t) * self._decay_rate) if st.poll_decay_t else 1.0
        st.poll_hours = st.poll_hours * decay + 1.0
        st.night_poll_hours *= decay
        st.poll_decay_t = t
        st.poll_hours_total += 1
        if st.hour_idx % 24 in self._night:
            st.night_poll_hours += 1.0
            st.night_poll_hours_total += 1
        hour_start = st.hour_idx * 3600.0 - st.tz_offset
        if st.first_poll_t < 0:
            st.first_poll_t = hour_start
        st.last_poll_t = hour_start + 3600.0
        return True

    def _booked(self, st: AccountState, ev: BookingCreated, t: float) -> None:
        st.bookings += 1
        pick = t - st.last_hit_t
        if pick < SAME_INSTANT_S and st.prev_hit_t >= 0.0:
            # a search logged at the very instant of the booking is the page refreshed by the
            # booking itself (or a tie in event time), not the search the slot was picked from
            pick = t - st.prev_hit_t
        st.hit_open = False
        if st.last_hit_t < 0.0 or not 0.0 <= pick <= self.params.pick_window_s:
            pick = -1.0  # not picked from a recent search of this account: nothing to time
        else:
            picks = st.picks
            picks.append(pick)
            if len(picks) > MAX_REACTIONS:
                del picks[0]
            if pick <= self.params.instant_pick_s:
                st.instant_picks += 1
        held = st.open
        if len(held) >= MAX_OPEN_BOOKINGS:
            self.prune_open(st, t)
            while len(held) >= MAX_OPEN_BOOKINGS:
                del held[next(iter(held))]
        held[ev.booking_id] = OpenBooking(ev.slot_id, ev.applicant_id, t, ev.slot_start.timestamp(), pick_s=pick)

    def prune_open(self, st: AccountState, now: float) -> None:
        """Forget open bookings whose appointment passed long ago without an outcome."""
        horizon = now - self.params.open_booking_grace_s
        stale = [bid for bid, b in st.open.items() if b.slot_start_t < horizon]
        for bid in stale:
            del st.open[bid]

    # ------------------------------------------------------------------ fact folding
    def apply_fact(self, fact: AnyFact) -> str:
        """Fold a fact into its account; return the account id (now dirty)."""
        accounts = self.stores.accounts
        account_id = fact.account_id
        st = accounts.get(account_id)
        if st is None:
            st = AccountState(last_t=fact.t)
        elif fact.t > st.last_t:
            st.last_t = fact.t
        if type(fact) is BookingTimed:
            st.timed_bookings += 1
            reactions = st.reactions
            reactions.append(fact.reaction_s)
            if len(reactions) > MAX_REACTIONS:
                del reactions[0]
            if fact.reaction_s <= self.params.fast_booking_s:
                st.fast_bookings += 1
        elif type(fact) is HandoffOut:
            st.handoffs_out += 1
            st.handoff_out_gap_sum += fact.gap_s
            st.handoff_out_example = fact.slot_id
            _remember(st.handoff_takers, fact.taker)
        elif type(fact) is HandoffIn:
            st.handoffs_in += 1
            _remember(st.handoff_givers, fact.giver)
            self._forget_pick(st, fact.slot_id)
        elif type(fact) is Linked:
            name = self._linked_field[fact.kind]
            if fact.count > getattr(st, name):
                setattr(st, name, fact.count)
        elif type(fact) is LinkedEvidence:
            st.linked_evidence = max(st.linked_evidence, fact.count)
        elif type(fact) is CreationBurst:
            st.creation_burst = max(st.creation_burst, fact.count)
        elif type(fact) is ApplicantShared:
            st.reused_applicants += 1
        accounts[account_id] = st
        return account_id

    def _forget_pick(self, st: AccountState, slot_id: str) -> None:
        """A booking that received a handoff was timed by the seller, not picked: uncount it."""
        for booking in reversed(st.open.values()):
            if booking.slot_id != slot_id:
                continue
            if booking.pick_s >= 0.0:
                if booking.pick_s in st.picks:
                    st.picks.remove(booking.pick_s)
                if booking.pick_s <= self.params.instant_pick_s:
                    st.instant_picks = max(st.instant_picks - 1, 0)
            booking.pick_s = -2.0  # handled
            return

    # ------------------------------------------------------------------ slot-keyed step
    def slot_event(self, ev: AnyEvent, t: float) -> list[AnyFact]:
        """Track when each slot became free and who released it; report reactions and handoffs."""
        slot_id: str = ev.slot_id  # type: ignore[union-attr]
        slots = self.stores.slots
        sl = slots.get(slot_id)
        if sl is None:
            sl = SlotState()
        sl.last_t = t
        facts: list[AnyFact] = []
        if type(ev) is SlotReleased:
            sl.released_t = t
            sl.release_reason = ev.reason
        elif type(ev) is BookingCancelled:
            sl.canceller = ev.account_id
            sl.cancel_t = t
        elif type(ev) is BookingCreated:
            taker = ev.account_id
            gap = t - sl.cancel_t
            if (
                sl.canceller
                and sl.canceller != taker
                and sl.release_reason == "cancellation"
                and 0.0 <= gap <= self.params.handoff_window_s
            ):
                facts.append(HandoffOut(sl.canceller, t, slot_id, gap, taker))
                facts.append(HandoffIn(taker, t, slot_id, gap, sl.canceller))
            elif sl.released_t >= 0.0:
                facts.append(BookingTimed(taker, t, slot_id, max(t - sl.released_t, 0.0), sl.release_reason))
            sl.released_t = -1.0
            sl.canceller = ""
        slots[slot_id] = sl
        return facts

    # ------------------------------------------------------------------ device- and address-keyed steps
    def link_event(self, kind: str, key: str, account_id: str, t: float) -> list[AnyFact]:
        """Record that ``account_id`` used ``key`` (a device, data-centre address, private e-mail
        domain or phone number); report how widely it is shared."""
        store = self._link_stores[kind]
        lk = store.get(key)
        if lk is None:
            lk = LinkState()
        lk.last_t = t
        seen = lk.accounts
        joined = account_id not in seen
        seen[account_id] = t
        facts: list[AnyFact] = []
        if joined:
            if len(seen) > MAX_LINKED_ACCOUNTS:
                del seen[min(seen, key=seen.__getitem__)]
            count = len(seen)
            if count > lk.reported and count in LINK_REPORT_STEPS:
                lk.reported = count
                facts += [Linked(other, t, kind, count) for other in seen]  # type: ignore[arg-type]
            elif count >= 2:
                facts.append(Linked(account_id, t, kind, count))  # type: ignore[arg-type]
        store[key] = lk
        return facts

    def device_evidence(self, device: str, account_id: str, t: float) -> list[AnyFact]:
        """An account on ``device`` resold or left unused an appointment: tell its co-users.

        Each co-user learns how many such events the *other* accounts on the device have had, so
        an idle account of an operation that shares its PC with busy resellers carries their record.
        """
        lk = self.stores.devices.get(device)
        if lk is None:
            return []
        lk.last_t = t
        lk.evidence[account_id] = lk.evidence.get(account_id, 0) + 1
        total = sum(lk.evidence.values())
        self.stores.devices[device] = lk
        return [
            LinkedEvidence(other, t, total - lk.evidence.get(other, 0)) for other in lk.accounts if other != account_id
        ]

    # ------------------------------------------------------------------ network-keyed step
    def creation_event(self, ev: AccountCreated, t: float) -> list[AnyFact]:
        """Count account creations per network within the burst window; report bursts."""
        if ev.ip is None:
            return []
        key = self.pseudonymizer.network(ev.ip)
        networks = self.stores.networks
        ns = networks.get(key)
        if ns is None:
            ns = NetworkState()
        ns.last_t = t
        horizon = t - self.params.burst_window_s
        recent = [c for c in ns.creations if c[0] >= horizon]
        recent.append((t, ev.account_id))
        ns.creations = recent[-MAX_CREATIONS:]
        networks[key] = ns
        count = len(ns.creations)
        if count < 2:
            return []
        if count in LINK_REPORT_STEPS:
            return [CreationBurst(account, t, count) for _, account in ns.creations]
        return [CreationBurst(ev.account_id, t, count)]

    def contact_links(self, ev: AccountCreated, t: float) -> list[AnyFact]:
        """Link accounts registered with one phone number, or one private e-mail domain."""
        facts: list[AnyFact] = []
        if ev.phone_hash:
            facts += self.link_event("phone", ev.phone_hash, ev.account_id, t)
        if ev.email_domain and not is_public_mail_domain(ev.email_domain):
            facts += self.link_event("domain", ev.email_domain.lower(), ev.account_id, t)
        return facts

    # ------------------------------------------------------------------ applicant-keyed step
    def applicant_event(self, ev: BookingCreated | BookingModified, t: float) -> list[AnyFact]:
        """Count bookings and accounts per applicant identity; report identities in shared use."""
        applicants = self.stores.applicants
        key = ev.applicant_id
        ap = applicants.get(key)
        if ap is None:
            ap = ApplicantState()
        ap.last_t = t
        ap.bookings += 1
        seen = ap.accounts
        seen[ev.account_id] = seen.get(ev.account_id, 0) + 1
        if len(seen) > MAX_LINKED_ACCOUNTS:
            del seen[next(iter(seen))]
        applicants[key] = ap
        if len(seen) >= 2 or ap.bookings >= self.params.applicant_shared_bookings:
            return [ApplicantShared(ev.account_id, t, key, len(seen), ap.bookings)]
        return []

    # ------------------------------------------------------------------ all steps, in process
    def apply(self, ev: AnyEvent, t: float, dirty: DirtyMarker) -> None:
        """Run every step an event concerns, applying facts at once (the embedded runner's path)."""
        update = self.account_event(ev, t)
        kind = type(ev)
        if update is QUIET and (kind is SlotSearch or kind is Login):
            return  # most events: a search or login that changed nothing anyone else must hear of
        facts: list[AnyFact] = []
        if kind is not SlotSearch and kind is not Login:
            if kind is SlotReleased or kind is BookingCreated or kind is BookingCancelled:
                facts = self.slot_event(ev, t)
            if kind is BookingCreated or kind is BookingModified:
                facts += self.applicant_event(ev, t)  # type: ignore[arg-type]
            elif type(ev) is AccountCreated:
                facts += self.creation_event(ev, t)
                facts += self.contact_links(ev, t)
        if update is not None:
            account_id: str = ev.account_id  # type: ignore[assignment]
            if update.device is not None:
                facts += self.link_event("device", update.device, account_id, t)
            if update.evidence:
                facts += self._evidence_to_device(account_id, t)
            if update.address is not None and update.datacenter:
                # only data-centre addresses are tracked: residential and mobile ones are shared by
                # whole neighbourhoods behind carrier NAT, and rotating proxies mint one per request
                facts += self.link_event("address", update.address, account_id, t)
            if update.dirty:
                dirty.add(account_id)
        for fact in facts:
            dirty.add(self.apply_fact(fact))
            if type(fact) is HandoffOut:
                for follow_up in self._evidence_to_device(fact.account_id, t):
                    dirty.add(self.apply_fact(follow_up))

    def _evidence_to_device(self, account_id: str, t: float) -> list[AnyFact]:
        st = self.stores.accounts.get(account_id)
        if st is None or not st.last_device:
            return []
        return self.device_evidence(st.last_device, account_id, t)


def _remember(counterparts: list[str], account_id: str) -> None:
    if account_id not in counterparts:
        counterparts.append(account_id)
        if len(counterparts) > MAX_COUNTERPARTS:
            del counterparts[0]
