"""The feature registry: every model feature declared once, with its meaning and its evidence.

Training, serving, explanations and documentation all read this list; the order of ``FEATURES``
is the order of columns in every feature vector. Every feature is oriented the same way:
**higher is more suspicious**, NaN where it does not apply (no booking yet, too few searches).

A feature is declared Feast-style, by keyword: its ``name``, the ``entity`` it is served for (the
account), the entities whose steps feed it (``derived_from``), its ``window`` (a ``timedelta``, or
None for the account's lifetime), the state fields it ``reads``, a ``description``, the ``bins``
the population reference counts it in, and how it states its ``evidence`` in words an investigator
can check against the event history. ``docs/features.md`` says how to add one.

Features measuring one behaviour form a ``family``; the model counts the strongest feature of a
family once, so correlated views of one behaviour do not add up. Families are of three kinds
(``FAMILIES``): *behaviour* (what the account does with slots), *context* (infrastructure and
linkage: never evidence alone) and *holding* (what became of its bookings), so that deciding can
treat an account that received a resold slot, whose sessions the seller may have operated, by its
own holding alone.

The model artifact's compatibility hash covers the declarations (names, order, families, windows,
fields read, units, tolerances, bins), the parameters and ``FEATURE_SET_VERSION``: bump the version
whenever a feature's computation changes; ``tests/test_feature_golden.py`` fails until you do.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from features.params import PARAMS, FeatureParams
from features.state import MAX_REACTIONS, AccountState
from features.surprise import surprise

#: bump when what any feature computes changes (the golden test says when)
FEATURE_SET_VERSION = 12


class Entity(StrEnum):
    """The keys state is kept under: a feature is served for an account, fed by these steps."""

    ACCOUNT = "account"
    SLOT = "slot"
    DEVICE = "device"
    ADDRESS = "address"
    EMAIL_DOMAIN = "email_domain"
    PHONE = "phone"
    COHORT = "cohort"
    APPLICANT = "applicant"
    #: a site's service: the searches there that showed free slots
    BOARD = "site_service"


def _count_bins() -> tuple[float, ...]:
    return (0, 1, 2, 3, 4, 5, 6, 8, 10, 12, 16, 20, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024)


def _magnitude_bins() -> tuple[float, ...]:
    return (0, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 4, 5, 6, 8, 10, 12, 16, 20, 24, 32, 48, 64, 96, 128, 192, 256)


def _share_bins() -> tuple[float, ...]:
    return tuple(round(0.05 * i, 2) for i in range(21))


def _log_seconds_bins() -> tuple[float, ...]:
    """-log10(seconds) from one hour (-3.6) to a tenth of a second (1.0), in tenths of a decade."""
    return tuple(round(-3.6 + 0.1 * i, 1) for i in range(47))


def _regularity_bins() -> tuple[float, ...]:
    return tuple(round(0.1 * i, 1) for i in range(31))


@dataclass(frozen=True, kw_only=True)
class Feature:
    """One feature: what it is, over which entity and window, and how to compute and explain it."""

    name: str
    family: str
    description: str
    #: state fields of :class:`~features.state.AccountState` that ``compute`` reads
    reads: tuple[str, ...]
    compute: Callable[[AccountState], float]
    evidence: Callable[[AccountState], str]
    #: edges of the bins the population reference counts the feature in (ascending)
    bins: tuple[float, ...]
    #: the smallest difference worth attention, in the feature's own unit
    unit: float
    entity: Entity = Entity.ACCOUNT
    derived_from: tuple[Entity, ...] = (Entity.ACCOUNT,)
    #: None: the account's whole (TTL-bounded) history; else the span the value summarises
    window: timedelta | None = None
    #: how the window applies, in words ("decayed", "last 16 bookings", "lifetime", ...)
    aggregation: str = "lifetime"
    #: values up to this are never evidence, whatever the population does: what legitimate
    #: people and groups the contract names can reach (a human's reaction time)
    tolerance: float = -math.inf
    #: the value is already evidence in decades (a surprise, ``features.surprise``) and is taken as
    #: it is, not through its rarity in the site's population
    absolute: bool = False

    @property
    def window_text(self) -> str:
        if self.window is None:
            return self.aggregation
        return f"{self.aggregation}, {_span(self.window)}"

    def declaration(self) -> dict[str, object]:
        """Everything that defines the feature's meaning (what the compatibility hash covers)."""
        return {
            "name": self.name,
            "family": self.family,
            "entity": self.entity.value,
            "derived_from": [e.value for e in self.derived_from],
            "window_s": None if self.window is None else self.window.total_seconds(),
            "aggregation": self.aggregation,
            "reads": list(self.reads),
            "bins": list(self.bins),
            "unit": self.unit,
            "tolerance": None if math.isinf(self.tolerance) else self.tolerance,
            "absolute": self.absolute,
        }


def _span(window: timedelta) -> str:
    seconds = window.total_seconds()
    if seconds >= 86400:
        return f"{seconds / 86400:g} d"
    if seconds >= 3600:
        return f"{seconds / 3600:g} h"
    return f"{seconds / 60:g} min"


# ---------------------------------------------------------------------------------- helpers
def _share(part: int, whole: int) -> float:
    return part / whole if whole > 0 else 0.0


def _share_or_nan(part: int, whole: int) -> float:
    return part / whole if whole > 0 else math.nan


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else 0.5 * (ordered[mid - 1] + ordered[mid])


def _decay(st: AccountState, value: float, params: FeatureParams = PARAMS) -> float:
    if not st.poll_decay_t:
        return value
    return value * 2.0 ** (-(st.last_t - st.poll_decay_t) / params.poll_half_life_s)


def _open_hour_polls(st: AccountState) -> bool:
    return st.hour_n >= PARAMS.poll_min_per_hour


def polling_hours(st: AccountState) -> float:
    return _decay(st, st.poll_hours) + (1.0 if _open_hour_polls(st) else 0.0)


def night_polling_hours(st: AccountState) -> float:
    night = _open_hour_polls(st) and st.hour_idx % 24 in range(PARAMS.night_start_h, PARAMS.night_end_h)
    return _decay(st, st.night_poll_hours) + (1.0 if night else 0.0)


def search_interval_cv(st: AccountState) -> float:
    """Coefficient of variation of the pauses between searches (NaN without enough of them)."""
    if st.gap_n < 20 or st.gap_mean <= 0.0:
        return math.nan
    return math.sqrt(st.gap_m2 / (st.gap_n - 1)) / st.gap_mean


def search_regularity(st: AccountState) -> float:
    cv = search_interval_cv(st)
    if math.isnan(cv):
        return cv
    return min(max(-math.log10(max(cv, 1e-3)), 0.0), 3.0)


def median_reaction_s(st: AccountState) -> float:
    return _median(st.reactions) if st.reactions else math.nan


def reaction_speed(st: AccountState) -> float:
    reaction = median_reaction_s(st)
    return reaction if math.isnan(reaction) else -math.log10(max(reaction, 0.1))


def median_pick_s(st: AccountState) -> float:
    return _median(st.picks) if st.picks else math.nan


def pick_speed(st: AccountState) -> float:
    pick = median_pick_s(st)
    return pick if math.isnan(pick) else -math.log10(max(pick, 0.1))


#: a person who refreshes the page often can book this soon after a release ...
HUMAN_REACTION_S = 3.0
#: ... and this soon after the page showed the slot: faster medians are machines
HUMAN_PICK_S = 2.0


def _outcomes(st: AccountState) -> int:
    """Bookings whose fate is known: attended, not attended, or given back days before."""
    return st.attended + st.no_shows + st.late_cancels


def _unused(st: AccountState) -> int:
    return st.no_shows + st.late_cancels


def unsearched_surprise(st: AccountState) -> float:
    return surprise(st.unsearched_bookings, st.bookings, PARAMS.applicant_unsearched_rate)


def unused_surprise(st: AccountState) -> float:
    return surprise(_unused(st), _outcomes(st), PARAMS.applicant_unused_rate)


def handoff_surprise(st: AccountState) -> float:
    return surprise(st.handoffs_out, st.bookings, PARAMS.applicant_handoff_rate)


def applicant_change_surprise(st: AccountState) -> float:
    return surprise(st.modifications, st.bookings, PARAMS.applicant_change_rate)


def _ring(st: AccountState, kinds: tuple[str, ...]) -> float:
    """How strongly the *other* accounts sharing something with this one behave like holders.

    For each shared key of ``kinds``: h other holders among m other accounts gives h * h / (m + 1):
    it grows with how many holders there are *and* how much of the group they make up, so a
    cyber-café PC used by 60 strangers, 2 of them holders, scores 0.07, while an operation's phone
    used by 12 accounts, 10 of them holders, scores 7.7. The strongest key counts.
    """
    best = 0.0
    for name, (accounts, holders) in st.links.items():
        if name.partition(":")[0] not in kinds or accounts < 2:
            continue
        others = accounts - 1
        other_holders = holders - 1 if st.holder and holders > 0 else holders
        value = other_holders * other_holders / (others + 1.0)
        best = max(best, value)
    return best


def _widest(st: AccountState, kind: str) -> tuple[int, int]:
    """The most widely shared key of ``kind``: (accounts on it, holders among them)."""
    best = (1, 0)
    for name, counts in st.links.items():
        if name.partition(":")[0] == kind and counts[0] > best[0]:
            best = counts
    return best


INFRA_LINKS = ("device", "address")
REGISTRATION_LINKS = ("domain", "phone", "cohort")
WATCH_LINKS = ("watcher",)


def _when(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M UTC")


# ---------------------------------------------------------------------------------- evidence
def _polling_evidence(st: AccountState) -> str:
    parts = [f"searched {st.searches} times"]
    cv = search_interval_cv(st)
    if not math.isnan(cv):
        std = cv * st.gap_mean
        parts.append(f"every {st.gap_mean:.1f} s ± {std:.1f} s")
    if st.poll_hours_total:
        parts.append(
            f"with {st.poll_hours_total} h of sustained polling (>= {PARAMS.poll_min_per_hour}/h) "
            f"between {_when(st.first_poll_t)} and {_when(st.last_poll_t)}"
        )
    if st.night_poll_hours_total:
        parts.append(f"nights included ({st.night_poll_hours_total} night hours)")
    return ", ".join(parts)


def _speed_evidence(st: AccountState) -> str:
    reaction = median_reaction_s(st)
    if math.isnan(reaction):
        return "no booking with a known release time"
    return (
        f"booked {reaction:.1f} s after release (median of the last {len(st.reactions)} bookings); "
        f"{st.fast_bookings} of {st.timed_bookings} timed bookings within {PARAMS.fast_booking_s:g} s"
    )


def _pick_evidence(st: AccountState) -> str:
    pick = median_pick_s(st)
    if math.isnan(pick):
        return "no booking picked from a search"
    return (
        f"booked {pick:.1f} s after the search that showed the slot (median of the last "
        f"{len(st.picks)}); {st.instant_picks} bookings within {PARAMS.instant_pick_s:g} s"
    )


def _unsearched_evidence(st: AccountState) -> str:
    return (
        f"{st.unsearched_bookings} of {st.bookings} bookings made with no search of its own in the "
        f"{PARAMS.search_before_booking_s / 60:g} min before (the slot was found by another account)"
    )


def _unused_evidence(st: AccountState) -> str:
    return (
        f"{_unused(st)} of {_outcomes(st)} appointments with a known fate left unused: {st.no_shows} no-shows, "
        f"{st.late_cancels} cancelled less than {PARAMS.late_cancel_s / 86400:g} days before "
        f"({st.bookings} bookings, {st.attended} attended)"
    )


def _handoff_evidence(st: AccountState) -> str:
    if not st.handoffs_out:
        return "no slot handed over"
    gap = st.handoff_out_gap_sum / st.handoffs_out
    takers = sorted({taker for taker, _ in st.handoff_takers})
    return (
        f"slot {st.handoff_out_example} cancelled and re-booked by another account {gap:.0f} s later "
        f"on average ({st.handoffs_out} times, to {', '.join(takers)}; of {st.bookings} bookings)"
    )


def _modification_evidence(st: AccountState) -> str:
    return (
        f"changed the applicant on {st.modifications} of {st.bookings} bookings "
        f"({st.modified_then_attended} then attended by the new applicant)"
    )


def _ring_evidence(kinds: tuple[str, ...], what: str) -> Callable[[AccountState], str]:
    def evidence(st: AccountState) -> str:
        best_name, best_value, best_counts = "", -1.0, (1, 0)
        for name, counts in st.links.items():
            if name.partition(":")[0] not in kinds or counts[0] < 2:
                continue
            others = counts[0] - 1
            holders = counts[1] - 1 if st.holder and counts[1] > 0 else counts[1]
            value = holders * holders / (others + 1.0)
            if value > best_value:
                best_name, best_value, best_counts = name, value, (others, holders)
        if not best_name:
            return f"shares no {what} with other accounts"
        kind, _, key = best_name.partition(":")
        others, holders = best_counts
        return _RING_SENTENCES.get(kind, _SHARED_LINK).format(
            what=_LINK_WORDS.get(kind, kind), key=key, others=others, members=others + 1, holders=holders
        )

    return evidence


_LINK_WORDS = {
    "device": "device",
    "address": "data-centre IP address",
    "domain": "private e-mail domain",
    "phone": "phone number",
    "cohort": "creation burst on one network (accounts created within minutes)",
}

#: the evidence sentence of a link shared with other accounts (``_ring_evidence``)
_SHARED_LINK = (
    "shares a {what} with {others} other accounts, {holders} of which themselves "
    "book like holders (fast, without searching, unused or resold appointments)"
)
#: link kinds whose sharing reads differently: a watcher is an account, not infrastructure
_RING_SENTENCES = {
    "watcher": (
        "one of {members} accounts around watcher account {key}, whose searches showed free slots "
        "seconds before the others booked them without a search of their own; {holders} of the "
        "others book like holders"
    ),
}


_LIFETIME = "lifetime"
_HANDOFF_WINDOW = timedelta(seconds=PARAMS.handoff_window_s)

FEATURES: tuple[Feature, ...] = (
    # ----------------------------------------------------------------- polling (behaviour)
    Feature(
        name="polling_hours",
        family="polling",
        description=f"hours with at least {PARAMS.poll_min_per_hour} slot searches (sustained polling)",
        reads=("poll_hours", "poll_decay_t", "last_t", "hour_n"),
        compute=polling_hours,
        evidence=_polling_evidence,
        bins=_magnitude_bins(),
        unit=2.0,
        window=timedelta(seconds=PARAMS.poll_half_life_s),
        aggregation="decayed (half-life)",
    ),
    Feature(
        name="night_polling_hours",
        family="polling",
        description=f"polling hours between {PARAMS.night_start_h:02d}:00 and {PARAMS.night_end_h:02d}:00 local time",
        reads=("night_poll_hours", "poll_decay_t", "last_t", "hour_n", "hour_idx"),
        compute=night_polling_hours,
        evidence=_polling_evidence,
        bins=_magnitude_bins(),
        unit=1.0,
        window=timedelta(seconds=PARAMS.poll_half_life_s),
        aggregation="decayed (half-life)",
    ),
    Feature(
        name="search_regularity",
        family="polling",
        description="-log10 of the coefficient of variation of pauses between searches (machine-regular is high)",
        reads=("gap_n", "gap_mean", "gap_m2"),
        compute=search_regularity,
        evidence=_polling_evidence,
        bins=_regularity_bins(),
        unit=0.3,
    ),
    # ----------------------------------------------------------------- speed (behaviour)
    Feature(
        name="fast_bookings",
        family="speed",
        description=f"bookings made within {PARAMS.fast_booking_s:g} s of the slot becoming free (handoffs excluded)",
        reads=("fast_bookings",),
        compute=lambda st: float(st.fast_bookings),
        evidence=_speed_evidence,
        bins=_count_bins(),
        unit=1.0,
        derived_from=(Entity.SLOT,),
    ),
    Feature(
        name="fast_booking_share",
        family="speed",
        description="share of timed bookings that were fast (n/a without a timed booking)",
        reads=("fast_bookings", "timed_bookings"),
        compute=lambda st: _share_or_nan(st.fast_bookings, st.timed_bookings),
        evidence=_speed_evidence,
        bins=_share_bins(),
        unit=0.2,
        derived_from=(Entity.SLOT,),
    ),
    Feature(
        name="reaction_speed",
        family="speed",
        description="-log10 of the median seconds from a slot's release to this account's booking of it",
        reads=("reactions",),
        compute=reaction_speed,
        evidence=_speed_evidence,
        bins=_log_seconds_bins(),
        unit=0.3,
        derived_from=(Entity.SLOT,),
        aggregation=f"median of the last {MAX_REACTIONS} bookings",
        tolerance=-math.log10(HUMAN_REACTION_S),
    ),
    # ----------------------------------------------------------------- dexterity (behaviour)
    Feature(
        name="instant_picks",
        family="dexterity",
        description=f"bookings made within {PARAMS.instant_pick_s:g} s of the search that showed the slot",
        reads=("instant_picks",),
        compute=lambda st: float(st.instant_picks),
        evidence=_pick_evidence,
        bins=_count_bins(),
        unit=1.0,
    ),
    Feature(
        name="pick_speed",
        family="dexterity",
        description="-log10 of the median seconds from the search showing a free slot to booking it",
        reads=("picks",),
        compute=pick_speed,
        evidence=_pick_evidence,
        bins=_log_seconds_bins(),
        unit=0.3,
        aggregation=f"median of the last {MAX_REACTIONS} bookings",
        tolerance=-math.log10(HUMAN_PICK_S),
    ),
    # ----------------------------------------------------------------- split roles (behaviour)
    Feature(
        name="unsearched_surprise",
        family="unsearched",
        description=(
            "how surprising the account's bookings with no search of its own before them are, k of n: "
            "the slot was found by another account"
        ),
        reads=("unsearched_bookings", "bookings"),
        compute=unsearched_surprise,
        evidence=_unsearched_evidence,
        bins=_magnitude_bins(),
        unit=1.0,
        window=timedelta(seconds=PARAMS.search_before_booking_s),
        aggregation="bookings with no search in the window before",
        absolute=True,
    ),
    # ----------------------------------------------------------------- outcome (holding)
    Feature(
        name="unused_surprise",
        family="outcome",
        description=(
            f"how surprising the appointments left unused are (no-show, or cancelled less than "
            f"{PARAMS.late_cancel_s / 86400:g} days before), k of those with a known fate"
        ),
        reads=("no_shows", "late_cancels", "attended"),
        compute=unused_surprise,
        evidence=_unused_evidence,
        bins=_magnitude_bins(),
        unit=1.0,
        absolute=True,
    ),
    # ----------------------------------------------------------------- resale (holding)
    Feature(
        name="handoff_surprise",
        family="resale",
        description="how surprising the account's bookings handed to another account are (cancel, then re-booked)",
        reads=("handoffs_out", "bookings"),
        compute=handoff_surprise,
        evidence=_handoff_evidence,
        bins=_magnitude_bins(),
        unit=1.0,
        derived_from=(Entity.SLOT,),
        window=_HANDOFF_WINDOW,
        aggregation="cancel, then another account books within the window",
        absolute=True,
    ),
    Feature(
        name="applicant_change_surprise",
        family="resale",
        description="how surprising the account's bookings whose applicant it changed are",
        reads=("modifications", "bookings"),
        compute=applicant_change_surprise,
        evidence=_modification_evidence,
        bins=_magnitude_bins(),
        unit=1.0,
        absolute=True,
    ),
    # ----------------------------------------------------------------- identity (holding)
    Feature(
        name="shared_applicants",
        family="identity",
        description=(
            f"bookings for an applicant identity booked by another account or "
            f"{PARAMS.applicant_shared_bookings}+ times (placeholders)"
        ),
        reads=("reused_applicants",),
        compute=lambda st: float(st.reused_applicants),
        evidence=lambda st: (
            f"{st.reused_applicants} bookings for applicant identities also booked by other accounts "
            f"or repeatedly (placeholders)"
        ),
        bins=_count_bins(),
        unit=1.0,
        derived_from=(Entity.APPLICANT,),
    ),
    # ----------------------------------------------------------------- infrastructure (context)
    Feature(
        name="datacenter_share",
        family="infrastructure",
        description="share of the account's requests coming from hosting / cloud networks (n/a without ASNs)",
        reads=("datacenter_events", "asn_events"),
        compute=lambda st: _share_or_nan(st.datacenter_events, st.asn_events),
        evidence=lambda st: (
            f"{_share(st.datacenter_events, st.asn_events):.0%} of {st.asn_events} requests from data-centre networks"
        ),
        bins=_share_bins(),
        unit=0.2,
    ),
    Feature(
        name="address_churn",
        family="infrastructure",
        description="share of consecutive requests from a different IP address (rotating proxies; n/a under 10)",
        reads=("addr_changes", "addr_events"),
        compute=lambda st: _share(st.addr_changes, st.addr_events - 1) if st.addr_events >= 10 else math.nan,
        evidence=lambda st: (
            f"IP address changed on {_share(st.addr_changes, st.addr_events - 1):.0%} of "
            f"{st.addr_events} requests ({st.addr_changes} changes)"
        ),
        bins=_share_bins(),
        unit=0.2,
        tolerance=0.5,
    ),
    Feature(
        name="automation_agent_share",
        family="automation",
        description="share of requests whose User-Agent is an HTTP library or headless browser (n/a without UA)",
        reads=("automation_ua_events", "ua_events"),
        compute=lambda st: _share_or_nan(st.automation_ua_events, st.ua_events),
        evidence=lambda st: (
            f"{_share(st.automation_ua_events, st.ua_events):.0%} of requests sent by an HTTP library "
            f"or a headless browser"
        ),
        bins=_share_bins(),
        unit=0.2,
    ),
    # ----------------------------------------------------------------- linkage with holders (context)
    Feature(
        name="holders_on_shared_devices",
        family="shared_infrastructure",
        description=(
            "h * h / (m + 1) for the other accounts on the account's devices and data-centre addresses: "
            "h of them behave like holders, of m (a shared device or address alone is never evidence)"
        ),
        reads=("links", "holder"),
        compute=lambda st: _ring(st, INFRA_LINKS),
        evidence=_ring_evidence(INFRA_LINKS, "device or data-centre address"),
        bins=_magnitude_bins(),
        unit=1.0,
        derived_from=(Entity.DEVICE, Entity.ADDRESS),
        tolerance=1.0,
    ),
    Feature(
        name="holders_on_shared_registration",
        family="shared_registration",
        description=(
            "h * h / (m + 1) for the other accounts sharing the account's private e-mail domain, phone number "
            "or creation burst: h of them behave like holders, of m"
        ),
        reads=("links", "holder"),
        compute=lambda st: _ring(st, REGISTRATION_LINKS),
        evidence=_ring_evidence(REGISTRATION_LINKS, "e-mail domain, phone number or creation burst"),
        bins=_magnitude_bins(),
        unit=1.0,
        derived_from=(Entity.EMAIL_DOMAIN, Entity.PHONE, Entity.COHORT),
        window=timedelta(seconds=PARAMS.burst_window_s),
        aggregation="cohorts: creations with no gap longer than the window",
        tolerance=1.0,
    ),
    Feature(
        name="holders_sharing_a_watcher",
        family="split_roles",
        description=(
            "h * h / (m + 1) for the other accounts around one watcher (whose searches showed free slots "
            "seconds before accounts booked them with no search of their own): h of them behave like holders, of m"
        ),
        reads=("links", "holder"),
        compute=lambda st: _ring(st, WATCH_LINKS),
        evidence=_ring_evidence(WATCH_LINKS, "watcher"),
        bins=_magnitude_bins(),
        unit=1.0,
        derived_from=(Entity.BOARD,),
        window=timedelta(seconds=PARAMS.watch_window_s),
        aggregation="an unsearched booking traced to the latest other account's search showing free slots",
        tolerance=1.0,
    ),
)


@dataclass(frozen=True, kw_only=True)
class Family:
    """A behaviour several features measure: counted once in the score.

    ``kind``: *behaviour* (what the account does), *holding* (what became of its bookings) or
    *context* (infrastructure, what it shares with others: what a seller operating a buyer's
    account brings with him). ``ambiguous``: legitimate people the contract names reach its
    extremes (anxious applicants poll all night; offices sit behind data-centre VPNs; strangers
    share cyber-café PCs), so it weighs less in the score.
    """

    name: str
    kind: str
    ambiguous: bool
    description: str


FAMILIES: dict[str, Family] = {
    f.name: f
    for f in (
        Family(name="polling", kind="behaviour", ambiguous=True, description="searching for slots, day and night"),
        Family(name="speed", kind="behaviour", ambiguous=False, description="booking seconds after a release"),
        Family(name="dexterity", kind="behaviour", ambiguous=False, description="booking at once from a search"),
        Family(name="unsearched", kind="behaviour", ambiguous=False, description="booking slots found by others"),
        Family(name="outcome", kind="holding", ambiguous=False, description="appointments left unused"),
        Family(name="resale", kind="holding", ambiguous=False, description="slots handed over or re-assigned"),
        Family(name="identity", kind="holding", ambiguous=False, description="placeholder applicant identities"),
        Family(
            name="automation",
            kind="context",
            ambiguous=False,
            description="HTTP libraries and headless browsers: no applicant's browser sends their User-Agent",
        ),
        Family(name="infrastructure", kind="context", ambiguous=True, description="data centres, VPNs, proxies"),
        Family(
            name="shared_infrastructure",
            kind="context",
            ambiguous=True,
            description="devices and data-centre addresses shared with holders",
        ),
        Family(
            name="shared_registration",
            kind="context",
            ambiguous=True,
            description="e-mail domains, phones and creation bursts shared with holders",
        ),
        Family(
            name="split_roles",
            kind="context",
            ambiguous=True,
            description="one account finds slots, holders book them without searching",
        ),
    )
}

#: the families of linkage with accounts that behave like holders (not mere shared infrastructure)
LINKAGE_FAMILIES: frozenset[str] = frozenset({"shared_infrastructure", "shared_registration", "split_roles"})
FEATURE_NAMES: tuple[str, ...] = tuple(f.name for f in FEATURES)
#: the holding surprises (``features.core.is_holder``): more than one odd booking of one makes a holder
HOLDER_FEATURES: tuple[Feature, ...] = tuple(f for f in FEATURES if f.absolute)
#: what one odd booking of one is, the most for any kind: what anyone can do
ONE_ODD_BOOKING = max(
    surprise(1, 1, rate)
    for rate in (
        PARAMS.applicant_unsearched_rate,
        PARAMS.applicant_unused_rate,
        PARAMS.applicant_handoff_rate,
        PARAMS.applicant_change_rate,
    )
)
_COMPUTE = tuple(f.compute for f in FEATURES)


def vector(st: AccountState) -> tuple[float, ...]:
    """The account's feature vector, in registry order."""
    return tuple(compute(st) for compute in _COMPUTE)


def feature_set_hash(params: FeatureParams = PARAMS) -> str:
    """A digest of what the features mean: their declarations, the parameters and the version.

    Source bytes are not part of it (a comment edit does not refuse a model); a change in what a
    feature computes must bump ``FEATURE_SET_VERSION``, which the golden test enforces.
    """
    doc = {
        "version": FEATURE_SET_VERSION,
        "features": [f.declaration() for f in FEATURES],
        "families": {name: [f.kind, f.ambiguous] for name, f in FAMILIES.items()},
        "params": params.as_dict(),
    }
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


def spec(name: str) -> Feature:
    """Look a feature up by name."""
    for candidate in FEATURES:
        if candidate.name == name:
            return candidate
    raise KeyError(f"no feature named {name!r}; known: {', '.join(FEATURE_NAMES)}")


def _check_registry() -> None:
    """Declarations that cannot work are refused at import, not at the first scoring."""
    for feature in FEATURES:
        if list(feature.bins) != sorted(set(feature.bins)):
            raise ValueError(f"feature {feature.name}: bins must be strictly ascending")
        missing = [field for field in feature.reads if field not in AccountState.__struct_fields__]
        if missing:
            raise ValueError(f"feature {feature.name} reads unknown state fields {missing}")
        if feature.family not in FAMILIES:
            raise ValueError(f"feature {feature.name}: family {feature.family!r} is not declared in FAMILIES")


_check_registry()
