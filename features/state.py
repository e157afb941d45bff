"""Per-entity state records and the set of stores the core reads and writes.

Every record is a small mutable ``msgspec.Struct`` with bounded contents (capped dicts and lists),
so a store can be a plain ``dict`` (embedded runner) or a Faust table (streaming runner): the core
only ever does ``store.get(key)``, ``store[key] = value`` and ``del store[key]`` on them, and
writes a record back after mutating it so that changelogged tables see the change.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from dataclasses import dataclass, field

import msgspec
from msgspec import Struct

#: open bookings remembered per account (an association may hold dozens; bots hundreds)
MAX_OPEN_BOOKINGS = 256
#: accounts remembered per device / address / applicant
MAX_LINKED_ACCOUNTS = 256
#: recent release-to-booking reaction times (and search-to-booking times) kept for the median
MAX_REACTIONS = 16
#: link entities (devices, data-centre addresses, e-mail domains, phones, creation cohorts) remembered per account
MAX_LINKS = 24
#: counterparts remembered per account for evidence (handoff givers and takers, flagged sellers)
MAX_COUNTERPARTS = 8
#: searches that showed free slots remembered per site and service (the board)
MAX_BOARD_HITS = 256


class OpenBooking(Struct, array_like=True):
    """A booking the account holds: enough to explain what later happens to it."""

    slot_id: str
    applicant_id: str
    created_t: float
    slot_start_t: float
    modified: bool = False


class AccountState(Struct, array_like=True):
    """Everything the account-keyed step knows about one account."""

    site: str = ""
    last_t: float = 0.0
    tz_offset: float = 0.0
    # searching: counts, interval statistics (Welford), hourly polling buckets
    searches: int = 0
    last_search_t: float = -1.0
    #: start of the current run of searches showing free slots (-1: the last search showed none)
    last_hit_t: float = -1.0
    prev_hit_t: float = -1.0
    hit_open: bool = False
    gap_n: int = 0
    gap_mean: float = 0.0
    gap_m2: float = 0.0
    hour_idx: int = -1
    hour_n: int = 0
    #: UTC bounds of the local hour ``hour_idx`` (so most searches need no time-zone arithmetic)
    hour_start_t: float = 0.0
    hour_end_t: float = -1.0
    poll_hours: float = 0.0
    night_poll_hours: float = 0.0
    poll_decay_t: float = 0.0
    poll_hours_total: int = 0
    night_poll_hours_total: int = 0
    first_poll_t: float = -1.0
    last_poll_t: float = -1.0
    # network and client
    addr_events: int = 0
    addr_changes: int = 0
    last_addr: str = ""
    last_device: str = ""
    last_link_t: float = -1.0
    asn_events: int = 0
    datacenter_events: int = 0
    ua_events: int = 0
    automation_ua_events: int = 0
    #: what the account shares with others, as last reported by each link entity:
    #: ``"kind:key" -> (accounts on it, of which behave like holders)``; kinds in ``LINK_KINDS``
    links: dict[str, tuple[int, int]] = msgspec.field(default_factory=dict)
    #: the account's own behaviour marks it as a holder (see ``features.core.is_holder``); announced
    #: to its link entities once, when it becomes true
    holder: bool = False
    # bookings and their outcomes
    bookings: int = 0
    picks: list[float] = msgspec.field(default_factory=list)
    instant_picks: int = 0
    timed_bookings: int = 0
    fast_bookings: int = 0
    reactions: list[float] = msgspec.field(default_factory=list)
    open: dict[str, OpenBooking] = msgspec.field(default_factory=dict)
    #: bookings whose slot step has not yet said whether they were the account's own pick:
    #: (slot, seconds from the search that showed a free slot, -1 if none; no search of its own
    #: before; the booking's service)
    unsettled: list[tuple[str, float, bool, str]] = msgspec.field(default_factory=list)
    cancellations: int = 0
    #: cancellations close to the appointment: a held slot given back too late to be used (those
    #: that turned out to be handoffs are counted as handoffs instead)
    late_cancels: int = 0
    #: slots of the latest late cancellations, to recount one that turns out to be a handoff
    late_cancel_slots: list[str] = msgspec.field(default_factory=list)
    #: bookings with no search of the account's own before them (received handoffs excluded)
    unsearched_bookings: int = 0
    attended: int = 0
    no_shows: int = 0
    modifications: int = 0
    modified_then_attended: int = 0
    reused_applicants: int = 0
    # handoffs: this account released a slot another account took moments later, or the reverse
    handoffs_out: int = 0
    handoff_out_gap_sum: float = 0.0
    handoff_out_example: str = ""
    #: (taker account, slot) of the latest handoffs out: the buyers, for the investigator
    handoff_takers: list[tuple[str, str]] = msgspec.field(default_factory=list)
    handoffs_in: int = 0
    #: (giver account, slot, seconds after the giver's cancellation) of the latest handoffs received
    handoff_givers: list[tuple[str, str, float]] = msgspec.field(default_factory=list)
    #: givers of received handoffs that the detector has since flagged: this account bought from them
    flagged_sellers: list[str] = msgspec.field(default_factory=list)


class SlotState(Struct, array_like=True):
    """One slot: when it last became free, and who last cancelled it."""

    last_t: float = 0.0
    released_t: float = -1.0
    release_reason: str = ""
    canceller: str = ""
    cancel_t: float = -1.0


#: what accounts can share: a device, a data-centre address, a private e-mail domain, a phone
#: number, a creation cohort (accounts created from one network within minutes of each other), a
#: watcher (an account whose searches showed the slots the others booked without searching)
LINK_KINDS = ("device", "address", "domain", "phone", "cohort", "watcher")


class LinkState(Struct, array_like=True):
    """Something accounts can share: who used it and when, and which of them behave like holders."""

    last_t: float = 0.0
    accounts: dict[str, float] = msgspec.field(default_factory=dict)
    holders: dict[str, float] = msgspec.field(default_factory=dict)
    #: (accounts, holders) last announced to every member
    reported: tuple[int, int] = (1, 0)


class NetworkState(Struct, array_like=True):
    """A network prefix: its current creation cohort (accounts created within minutes of each other)."""

    last_t: float = 0.0
    cohort: int = 0
    last_creation_t: float = -1e18


class BoardState(Struct, array_like=True):
    """A site's service: the latest searches that showed free slots, ``(event time, account)`` in time
    order, so a booking made without searching can be traced to the search that found its slot."""

    last_t: float = 0.0
    hits: list[tuple[float, str]] = msgspec.field(default_factory=list)


class ApplicantState(Struct, array_like=True):
    """An applicant identity (a keyed hash): which accounts booked for it, how often."""

    last_t: float = 0.0
    bookings: int = 0
    accounts: dict[str, int] = msgspec.field(default_factory=dict)


ENTITY_STATE_TYPES: dict[str, type[Struct]] = {
    "accounts": AccountState,
    "slots": SlotState,
    "devices": LinkState,
    "addresses": LinkState,
    "domains": LinkState,
    "phones": LinkState,
    "networks": NetworkState,
    "cohorts": LinkState,
    "applicants": ApplicantState,
    "watchers": LinkState,
    "boards": BoardState,
}


@dataclass
class Stores:
    """One mapping per entity kind. Plain dicts by default; any MutableMapping works."""

    accounts: MutableMapping[str, AccountState] = field(default_factory=dict)
    slots: MutableMapping[str, SlotState] = field(default_factory=dict)
    devices: MutableMapping[str, LinkState] = field(default_factory=dict)
    addresses: MutableMapping[str, LinkState] = field(default_factory=dict)
    domains: MutableMapping[str, LinkState] = field(default_factory=dict)
    phones: MutableMapping[str, LinkState] = field(default_factory=dict)
    networks: MutableMapping[str, NetworkState] = field(default_factory=dict)
    cohorts: MutableMapping[str, LinkState] = field(default_factory=dict)
    applicants: MutableMapping[str, ApplicantState] = field(default_factory=dict)
    watchers: MutableMapping[str, LinkState] = field(default_factory=dict)
    boards: MutableMapping[str, BoardState] = field(default_factory=dict)

    def sizes(self) -> dict[str, int]:
        """Entries per store (for summaries and memory checks)."""
        return {name: len(getattr(self, name)) for name in ENTITY_STATE_TYPES}
