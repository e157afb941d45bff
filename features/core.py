"""The feature logic, written once: entity-keyed steps over MutableMapping stores.

``FeatureCore`` holds no state of its own beyond its parameters: every step reads a record
from a store, changes it and writes it back. Three entry points cover everything:
``account_step`` folds an event into its account and returns the work it means for entities
(the slot, the applicant, the device...); ``work_step`` runs an entity's step and returns facts for
accounts (or further work); ``fact_step`` folds a fact into its account and returns work (an
account that became a holder is announced to what it shares). :mod:`features.dataflow` runs them
in deterministic rounds, in one process or on many partitions; ``apply`` runs one event's whole
cascade at once, for tests of the steps themselves.
"""

from __future__ import annotations

import bisect
import logging
from collections import deque
from typing import Any, Protocol

from features.facts import (
    AnyFact,
    AnyMessage,
    AnyWork,
    ApplicantShared,
    ApplicantWork,
    BoardWork,
    BookingTimed,
    CreationWork,
    Fact,
    HandoffIn,
    HandoffOut,
    Linked,
    LinkWork,
    SellerFlagged,
    SlotWork,
)
from features.infra import _AGENT_CACHE, DATACENTER_ASNS, is_automation_agent, is_public_mail_domain
from features.params import LINK_REPORT_STEPS, PARAMS, FeatureParams
from features.registry import HOLDER_FEATURES, ONE_ODD_BOOKING
from features.state import (
    MAX_BOARD_HITS,
    MAX_COUNTERPARTS,
    MAX_LINKED_ACCOUNTS,
    MAX_LINKS,
    MAX_OPEN_BOOKINGS,
    MAX_REACTIONS,
    AccountState,
    ApplicantState,
    BoardState,
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

#: a search and a booking closer than this happened "at once": no client round trip is that fast
SAME_INSTANT_S = 0.05


def is_holder(st: AccountState) -> bool:
    """The account's *own* behaviour is that of a slot holder, in at least one way no applicant needs.

    A booking within seconds of a slot's release (handoffs excluded) or within a second of the
    search showing it; bookings without searching, left unused, handed over or re-assigned, whose
    surprises (``features.surprise``) add up to at least one odd booking of one; a placeholder
    identity shared with other accounts. Being a holder is not evidence against the account itself
    (its own features say how much its behaviour weighs); it is what the accounts sharing a device
    or a registration with it hear of. Linkage and infrastructure are not behaviour and never
    make a holder. An account becomes a holder at most once; it is then announced to everything it
    shares.
    """
    if st.fast_bookings >= 1 or st.instant_picks >= 1 or st.reused_applicants >= 1:
        return True
    if not (st.unsearched_bookings or st.no_shows or st.late_cancels or st.handoffs_out or st.modifications):
        return False
    total = 0.0
    for feature in HOLDER_FEATURES:
        value = feature.compute(st)
        if value > 0.0:  # NaN (nothing to judge) compares False
            total += value
    return total >= ONE_ODD_BOOKING


class DirtyMarker(Protocol):
    """Where the core records accounts whose features changed (a set, or an ordered view)."""

    def add(self, account_id: str, /) -> object: ...


class AccountUpdate:
    """What the account step reports back: whether features changed, and links to announce.

    ``links`` are the ``(kind, key)`` entities (device, data-centre address) the event showed the
    account using, to be told to their entity steps; ``holder`` says the account has just become a
    holder, so *every* entity it shares must hear of it.
    """

    __slots__ = ("dirty", "holder", "links")

    def __init__(self, dirty: bool, links: list[tuple[str, str]] | None = None, holder: bool = False) -> None:
        self.dirty = dirty
        self.links = links
        self.holder = holder


#: what most events (a search, a login) report: nothing changed that anyone else must hear of
QUIET = AccountUpdate(False)


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
        #: handoffs detected so far, by the giving account's site (a plain count: shells export it)
        self.handoffs_by_site: dict[str, int] = {}
        self._link_stores = {
            "device": stores.devices,
            "address": stores.addresses,
            "domain": stores.domains,
            "phone": stores.phones,
            "cohort": stores.cohorts,
            "watcher": stores.watchers,
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
        links: list[tuple[str, str]] | None = None
        refresh = t - st.last_link_t >= self._link_refresh
        ip = ev.ip
        address = None
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
        device = None
        if device_id is not None and (refresh or device_id != st.last_device):
            st.last_device = device = device_id
        if refresh and (device or address):
            st.last_link_t = t
        asn = ev.asn
        datacenter = False
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
        if device is not None:
            links = [("device", device)]
        if address is not None and datacenter:
            # only data-centre addresses are tracked: residential and mobile ones are shared by
            # whole neighbourhoods behind carrier NAT (holders among them would say nothing of the
            # others), and rotating proxies mint one per request
            links = [*links, ("address", address)] if links else [("address", address)]

        if type(ev) is SlotSearch:
            dirty = self._search(st, ev, t) or dirty
        elif type(ev) is BookingCreated:
            self._booked(st, ev, t)
            dirty = True
        elif type(ev) is BookingCancelled:
            st.cancellations += 1
            held = st.open.pop(ev.booking_id, None)
            if held is not None and held.slot_start_t - t <= self.params.late_cancel_s:
                st.late_cancels += 1
                _remember(st.late_cancel_slots, held.slot_id)
            dirty = True
        elif type(ev) is BookingModified:
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
            st.no_shows += 1
            st.open.pop(ev.booking_id, None)
            dirty = True
        elif type(ev) is AccountCreated:
            dirty = True
        became_holder = dirty and not st.holder and is_holder(st)
        if became_holder:
            st.holder = True
        if links:
            for kind, key in links:
                name = f"{kind}:{key}"
                if name not in st.links:
                    _remember_link(st, name, (1, int(st.holder)))
        accounts[account_id] = st
        if not (dirty or links):
            return QUIET
        return AccountUpdate(dirty, links, became_holder)

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
        """Record the booking with how the account came to it (its pick time, whether it searched).

        Neither is counted yet: only the slot step knows whether the booking received a slot handed
        over by another account (then the seller chose it, not this account). Its fact about the
        booking (``BookingTimed`` or ``HandoffIn``) settles it, in ``_settle``.
        """
        st.bookings += 1
        unsearched = st.last_search_t < 0.0 or t - st.last_search_t > self.params.search_before_booking_s
        pick = t - st.last_hit_t
        if pick < SAME_INSTANT_S and st.prev_hit_t >= 0.0:
            # a search logged at the very instant of the booking is the page refreshed by the
            # booking itself (or a tie in event time), not the search the slot was picked from
            pick = t - st.prev_hit_t
        st.hit_open = False
        if st.last_hit_t < 0.0 or not 0.0 <= pick <= self.params.pick_window_s:
            pick = -1.0  # not picked from a recent search of this account: nothing to time
        held = st.open
        if len(held) >= MAX_OPEN_BOOKINGS:
            self.prune_open(st, t)
            while len(held) >= MAX_OPEN_BOOKINGS:
                del held[next(iter(held))]
        held[ev.booking_id] = OpenBooking(ev.slot_id, ev.applicant_id, t, ev.slot_start.timestamp())
        unsettled = st.unsettled
        unsettled.append((ev.slot_id, pick, unsearched, ev.service))
        if len(unsettled) > MAX_OPEN_BOOKINGS:
            del unsettled[0]

    def _settle(self, st: AccountState, slot_id: str, own: bool) -> str | None:
        """Count the booking of ``slot_id`` as the account's own pick (``own``), or as a received handoff;
        return the board (``site/service``) of an own booking made without a search, else None.

        The booking's pick time waits in ``unsettled`` (not in the open booking, which may already be
        cancelled or attended when the slot step's fact arrives).
        """
        unsettled = st.unsettled
        for i in range(len(unsettled) - 1, -1, -1):
            booked_slot, pick, unsearched, service = unsettled[i]
            if booked_slot != slot_id:
                continue
            del unsettled[i]
            if own:
                if pick >= 0.0:
                    picks = st.picks
                    picks.append(pick)
                    if len(picks) > MAX_REACTIONS:
                        del picks[0]
                    if pick <= self.params.instant_pick_s:
                        st.instant_picks += 1
                if unsearched:
                    st.unsearched_bookings += 1
                    return f"{st.site}/{service}"
            return None
        return None

    def prune_open(self, st: AccountState, now: float) -> None:
        """Forget open bookings whose appointment passed long ago without an outcome."""
        horizon = now - self.params.open_booking_grace_s
        stale = [bid for bid, b in st.open.items() if b.slot_start_t < horizon]
        for bid in stale:
            del st.open[bid]

    # ------------------------------------------------------------------ fact folding
    def apply_fact(self, fact: AnyFact) -> tuple[str, bool, str | None]:
        """Fold a fact into its account; return the account id (now dirty), whether the account has
        just become a holder (its link entities must then hear of it), and the board of a booking
        the fact showed to be the account's own and unsearched (the board must hear of it)."""
        accounts = self.stores.accounts
        account_id = fact.account_id
        st = accounts.get(account_id)
        if st is None:
            st = AccountState(last_t=fact.t)
        elif fact.t > st.last_t:
            st.last_t = fact.t
        board = None
        if type(fact) is BookingTimed:
            if fact.reaction_s >= 0.0:
                st.timed_bookings += 1
                reactions = st.reactions
                reactions.append(fact.reaction_s)
                if len(reactions) > MAX_REACTIONS:
                    del reactions[0]
                if fact.reaction_s <= self.params.fast_booking_s:
                    st.fast_bookings += 1
            board = self._settle(st, fact.slot_id, own=True)
        elif type(fact) is HandoffOut:
            if fact.slot_id in st.late_cancel_slots:
                # the slot given back went straight to another account: one handoff, not also an unused hold
                st.late_cancel_slots.remove(fact.slot_id)
                st.late_cancels -= 1
            st.handoffs_out += 1
            self.handoffs_by_site[st.site] = self.handoffs_by_site.get(st.site, 0) + 1
            st.handoff_out_gap_sum += fact.gap_s
            st.handoff_out_example = fact.slot_id
            _remember(st.handoff_takers, (fact.taker, fact.slot_id))
        elif type(fact) is HandoffIn:
            st.handoffs_in += 1
            _remember(st.handoff_givers, (fact.giver, fact.slot_id, fact.gap_s))
            self._settle(st, fact.slot_id, own=False)
        elif type(fact) is Linked:
            _remember_link(st, f"{fact.kind}:{fact.key}", (fact.accounts, fact.holders))
        elif type(fact) is ApplicantShared:
            st.reused_applicants += 1
        elif type(fact) is SellerFlagged:
            _remember(st.flagged_sellers, fact.seller)
        became_holder = not st.holder and is_holder(st)
        if became_holder:
            st.holder = True
        accounts[account_id] = st
        return account_id, became_holder, board

    # ------------------------------------------------------------------ slot-keyed step
    def slot_step(self, work: SlotWork, t: float) -> list[AnyMessage]:
        """Track when each slot became free and who released it; report reactions and handoffs.

        A booking of a slot that another account cancelled moments before is a handoff, whatever
        the taker's speed (a buyer told "now" on the phone is quick too): it is not timed as the
        taker's own reaction. Whether the taker is a buyer or a bot that snapped the slot up is for
        deciding to judge, from the rest of its behaviour.
        """
        slot_id = work.slot_id
        slots = self.stores.slots
        sl = slots.get(slot_id)
        if sl is None:
            sl = SlotState()
        sl.last_t = t
        facts: list[AnyMessage] = []
        action = work.action
        if action == "released":
            sl.released_t = t
            sl.release_reason = work.reason
        elif action == "cancelled":
            sl.canceller = work.account_id
            sl.cancel_t = t
        else:
            taker = work.account_id
            gap = t - sl.cancel_t
            reaction = max(t - sl.released_t, 0.0) if sl.released_t >= 0.0 else -1.0
            handed = (
                sl.canceller
                and sl.canceller != taker
                and sl.release_reason == "cancellation"
                and 0.0 <= gap <= self.params.handoff_window_s
            )
            if handed:
                facts.append(HandoffOut(sl.canceller, t, slot_id, gap, taker))
                facts.append(HandoffIn(taker, t, slot_id, gap, sl.canceller))
            else:
                facts.append(BookingTimed(taker, t, slot_id, reaction, sl.release_reason))
            sl.released_t = -1.0
            sl.canceller = ""
        slots[slot_id] = sl
        return facts

    # ------------------------------------------------------------------ link-keyed steps
    def link_step(self, work: LinkWork, t: float) -> list[AnyMessage]:
        """Record that an account uses a link entity (a device, data-centre address, private e-mail
        domain, phone number or creation cohort), and whether it behaves like a holder; report how
        widely the entity is shared and by how many holders."""
        kind, key, account_id, holder = work.kind, work.key, work.account_id, work.holder
        store = self._link_stores[kind]
        lk = store.get(key)
        if lk is None:
            lk = LinkState()
        lk.last_t = t
        seen = lk.accounts
        joined = account_id not in seen
        seen[account_id] = t
        if joined and len(seen) > MAX_LINKED_ACCOUNTS:
            gone = min(seen, key=seen.__getitem__)
            del seen[gone]
            lk.holders.pop(gone, None)
        new_holder = holder and account_id not in lk.holders
        if new_holder:
            lk.holders[account_id] = t
        count, holders = len(seen), len(lk.holders)
        facts: list[AnyMessage] = []
        reported_count, reported_holders = lk.reported
        if (joined and count > reported_count and count in LINK_REPORT_STEPS) or (
            new_holder and holders > reported_holders and holders in LINK_REPORT_STEPS
        ):
            lk.reported = (max(count, reported_count), max(holders, reported_holders))
            facts += [Linked(other, t, kind, key, count, holders) for other in seen]
        elif joined and count >= 2:
            facts.append(Linked(account_id, t, kind, key, count, holders))
        store[key] = lk
        return facts

    # ------------------------------------------------------------------ network-keyed step
    def creation_step(self, work: CreationWork, t: float) -> list[AnyMessage]:
        """Put a new account in its network's current creation cohort (a new cohort starts when
        nothing was created there for ``burst_window_s``); the cohort is then a link like any other."""
        networks = self.stores.networks
        ns = networks.get(work.network)
        if ns is None:
            ns = NetworkState()
        if t - ns.last_creation_t > self.params.burst_window_s:
            ns.cohort += 1
        ns.last_t = ns.last_creation_t = t
        networks[work.network] = ns
        return [LinkWork("cohort", f"{work.network}/{ns.cohort}", work.account_id, False)]

    def _creation_work(self, ev: AccountCreated) -> list[AnyWork]:
        """What a new account means for its network's cohort and its registration details."""
        works: list[AnyWork] = []
        if ev.ip is not None:
            works.append(CreationWork(self.pseudonymizer.network(ev.ip), ev.account_id))
        if ev.phone_hash:
            works.append(LinkWork("phone", ev.phone_hash, ev.account_id, False))
        if ev.email_domain and not is_public_mail_domain(ev.email_domain):
            works.append(LinkWork("domain", ev.email_domain.lower(), ev.account_id, False))
        return works

    # ------------------------------------------------------------------ applicant-keyed step
    def applicant_step(self, work: ApplicantWork, t: float) -> list[AnyMessage]:
        """Count bookings and accounts per applicant identity; report identities in shared use."""
        applicants = self.stores.applicants
        key = work.applicant_id
        ap = applicants.get(key)
        if ap is None:
            ap = ApplicantState()
        ap.last_t = t
        ap.bookings += 1
        seen = ap.accounts
        seen[work.account_id] = seen.get(work.account_id, 0) + 1
        if len(seen) > MAX_LINKED_ACCOUNTS:
            del seen[next(iter(seen))]
        applicants[key] = ap
        if len(seen) >= 2 or ap.bookings >= self.params.applicant_shared_bookings:
            return [ApplicantShared(work.account_id, t, key, len(seen), ap.bookings)]
        return []

    # ------------------------------------------------------------------ board-keyed step
    def board_step(self, work: BoardWork, t: float) -> list[AnyMessage]:
        """Remember the searches that showed free slots at a site's service; trace a booking made
        without a search of its own to the latest other account's search that showed free slots at
        most ``watch_window_s`` before it (split roles: the slot's id came from that watcher).

        The watcher and the booker then share the link ``watcher:<watcher>``, a link like a device:
        the accounts booking what one watcher finds, and the watcher, hear how many of them behave
        like holders. One coincidence is never evidence (the ring needs several holders).
        """
        boards = self.stores.boards
        board = boards.get(work.board)
        if board is None:
            board = BoardState()
        board.last_t = max(board.last_t, t)
        hits = board.hits
        facts: list[AnyMessage] = []
        if work.action == "hit":
            if hits and t < hits[-1][0]:
                bisect.insort(hits, (t, work.account_id))
            else:
                hits.append((t, work.account_id))
            horizon = hits[-1][0] - self.params.board_memory_s
            drop = 0
            while drop < len(hits) and (hits[drop][0] < horizon or len(hits) - drop > MAX_BOARD_HITS):
                drop += 1
            if drop:
                del hits[:drop]
        else:
            booker = work.account_id
            earliest = t - self.params.watch_window_s
            watchers: list[str] = []
            for i in range(bisect.bisect_right(hits, (t, "\uffff")) - 1, -1, -1):
                hit_t, watcher = hits[i]
                if hit_t < earliest:
                    break
                if watcher != booker and watcher not in watchers:
                    watchers.append(watcher)
                    facts.append(LinkWork("watcher", watcher, booker, work.holder))
                    facts.append(LinkWork("watcher", watcher, watcher, False))
                    if len(watchers) == self.params.watch_candidates:
                        break
        boards[work.board] = board
        return facts

    # ------------------------------------------------------------------ holders announced
    def holder_links(self, account_id: str) -> list[tuple[str, str]]:
        """Every ``(kind, key)`` the account shares: where its becoming a holder must be announced."""
        st = self.stores.accounts.get(account_id)
        if st is None:
            return []
        return [_split_link(name) for name in st.links]

    # ------------------------------------------------------------------ the three entry points
    def account_step(self, ev: AnyEvent, t: float, dirty: DirtyMarker) -> list[AnyWork] | None:
        """Fold an event into its account; return the work it means for entity steps (None: none)."""
        kind = type(ev)
        hit: BoardWork | None = None
        if kind is SlotSearch and ev.results > 0:  # type: ignore[union-attr]
            before = self.stores.accounts.get(ev.account_id)  # type: ignore[arg-type]
            if before is None or not before.hit_open:  # the search opens a run showing free slots
                hit = BoardWork(f"{ev.site}/{ev.service}", "hit", ev.account_id)  # type: ignore[union-attr, arg-type]
        update = self.account_event(ev, t)
        if update is QUIET and (kind is SlotSearch or kind is Login):
            # most events: a search or login that changed nothing anyone else must hear of
            return [hit] if hit is not None else None
        works: list[AnyWork] = [hit] if hit is not None else []
        if type(ev) is BookingCreated:
            works.append(SlotWork(ev.slot_id, "booked", ev.account_id))
            works.append(ApplicantWork(ev.applicant_id, ev.account_id))
        elif type(ev) is BookingCancelled:
            works.append(SlotWork(ev.slot_id, "cancelled", ev.account_id))
        elif type(ev) is SlotReleased:
            works.append(SlotWork(ev.slot_id, "released", "", ev.reason))
        elif type(ev) is BookingModified:
            works.append(ApplicantWork(ev.applicant_id, ev.account_id))
        elif type(ev) is AccountCreated:
            works += self._creation_work(ev)
        if update is not None:
            account_id: str = ev.account_id  # type: ignore[assignment]
            holder = self.stores.accounts[account_id].holder
            targets = self.holder_links(account_id) if update.holder else update.links or ()
            for link_kind, key in targets:
                works.append(LinkWork(link_kind, key, account_id, holder))  # type: ignore[arg-type]
            if update.dirty:
                dirty.add(account_id)
        return works

    def work_step(self, work: AnyWork, t: float) -> list[AnyMessage]:
        """Run the entity step ``work`` is for; return the facts (or further work) it produces."""
        kind = type(work)
        if kind is SlotWork:
            return self.slot_step(work, t)  # type: ignore[arg-type]
        if kind is LinkWork:
            return self.link_step(work, t)  # type: ignore[arg-type]
        if kind is ApplicantWork:
            return self.applicant_step(work, t)  # type: ignore[arg-type]
        if kind is BoardWork:
            return self.board_step(work, t)  # type: ignore[arg-type]
        return self.creation_step(work, t)  # type: ignore[arg-type]

    def fact_step(self, fact: AnyFact, dirty: DirtyMarker) -> list[AnyWork]:
        """Fold a fact into its account; an account that just became a holder is announced to
        everything it shares."""
        account_id, became_holder, board = self.apply_fact(fact)
        dirty.add(account_id)
        works: list[AnyWork] = []
        if became_holder:
            works += [LinkWork(kind, key, account_id, True) for kind, key in self.holder_links(account_id)]  # type: ignore[arg-type]
        if board is not None:
            works.append(BoardWork(board, "unsearched", account_id, self.stores.accounts[account_id].holder))
        return works

    # ------------------------------------------------------------------ a whole cascade at once
    def apply(self, ev: AnyEvent, t: float, dirty: DirtyMarker) -> None:
        """Run one event and everything it causes, at once (for tests of the steps; the runners
        use :mod:`features.dataflow`, which orders cascades across events)."""
        self._cascade(self.account_step(ev, t, dirty) or [], t, dirty)

    def _cascade(self, messages: list[Any], t: float, dirty: DirtyMarker) -> None:
        queue: deque[AnyMessage] = deque(messages)
        while queue:
            message = queue.popleft()
            if isinstance(message, Fact):
                queue.extend(self.fact_step(message, dirty))
            else:
                queue.extend(self.work_step(message, t))


def _remember(counterparts: list[Any], item: object) -> None:
    if item not in counterparts:
        counterparts.append(item)
        if len(counterparts) > MAX_COUNTERPARTS:
            del counterparts[0]


def _remember_link(st: AccountState, name: str, counts: tuple[int, int]) -> None:
    links = st.links
    if name not in links and len(links) >= MAX_LINKS:
        del links[next(iter(links))]
    links[name] = counts


def _split_link(name: str) -> tuple[str, str]:
    kind, _, key = name.partition(":")
    return kind, key
