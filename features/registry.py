"""The feature registry: every model feature declared once, with its meaning and its evidence.

Training, serving, explanations and documentation all read this list; the order of ``FEATURES``
is the order of columns in every feature vector. Every feature is oriented the same way:
**higher is more suspicious**, and ``neutral`` is the value of an account with no evidence.
Each feature also knows how to state its evidence about an account in words an investigator
can check against the event history.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from features.params import PARAMS, FeatureParams
from features.state import MAX_REACTIONS, AccountState

FEATURE_SET_VERSION = 1


@dataclass(frozen=True)
class FeatureSpec:
    """One feature: what it is, over which entity and window, and how to compute and explain it.

    ``family`` groups features that measure one behaviour (the three polling features, say): the
    model counts the strongest feature of a family once, so correlated views of one behaviour do
    not add up. ``compute`` returns NaN when the feature does not apply to the account (no
    booking yet, too few searches): such a feature is neither suspicious nor reassuring.
    """

    name: str
    family: str
    entity: str
    window: str
    description: str
    #: the smallest difference worth attention, in the feature's own unit
    unit: float
    compute: Callable[[AccountState], float]
    evidence: Callable[[AccountState], str]
    #: values up to this are never evidence, whatever the training data says: what legitimate
    #: groups the contract names (a family, a small office behind one VPN) can reach
    tolerance: float = -math.inf


def _share(part: int, whole: int) -> float:
    return part / whole if whole > 0 else 0.0


def _share_or_nan(part: int, whole: int) -> float:
    return part / whole if whole > 0 else math.nan


def _shrunk_rate(part: int, whole: int) -> float:
    """A rate pulled towards 0 for few observations: 1 of 1 -> 0.6, 5 of 5 -> 0.87, 3 of 50 -> 0.06.

    (part + 0.2) / (whole + 1): one odd booking is weak evidence; the same thing every time is not.
    """
    return (part + 0.2) / (whole + 1.0) if whole > 0 else math.nan


#: the shrunk rate of "1 of 1": a single odd outcome (one no-show, one cancelled booking a bot
#: snapped up, one applicant change) happens to legitimate applicants and is never evidence alone
ONE_OF_ONE = _shrunk_rate(1, 1)


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


def _resolved(st: AccountState) -> int:
    return st.attended + st.no_shows


def _when(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M UTC")


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
    parts = []
    if not math.isnan(pick):
        parts.append(
            f"booked {pick:.1f} s after the search that showed the slot (median of the last "
            f"{len(st.picks)}); {st.instant_picks} bookings within {PARAMS.instant_pick_s:g} s"
        )
    return "; ".join(parts) or "no booking picked from a search"


def _handoff_evidence(st: AccountState) -> str:
    if not st.handoffs_out:
        return "no slot handed over"
    gap = st.handoff_out_gap_sum / st.handoffs_out
    return (
        f"slot {st.handoff_out_example} cancelled and re-booked by another account {gap:.0f} s later "
        f"on average ({st.handoffs_out} times, {len(st.handoff_takers)} different accounts, "
        f"of {st.bookings} bookings)"
    )


def _no_show_evidence(st: AccountState) -> str:
    return (
        f"{st.no_shows} of {_resolved(st)} appointments with an outcome not attended "
        f"({st.bookings} bookings, {st.cancellations} cancelled)"
    )


def _modification_evidence(st: AccountState) -> str:
    return (
        f"changed the applicant on {st.modifications} of {st.bookings} bookings "
        f"({st.modified_then_attended} then attended by the new applicant)"
    )


FEATURES: tuple[FeatureSpec, ...] = (
    FeatureSpec(
        "polling_hours",
        "polling",
        "account",
        f"decayed, half-life {PARAMS.poll_half_life_s / 86400:g} d",
        f"hours with at least {PARAMS.poll_min_per_hour} slot searches (sustained polling)",
        2.0,
        polling_hours,
        _polling_evidence,
    ),
    FeatureSpec(
        "night_polling_hours",
        "polling",
        "account",
        f"decayed, half-life {PARAMS.poll_half_life_s / 86400:g} d",
        f"polling hours between {PARAMS.night_start_h:02d}:00 and {PARAMS.night_end_h:02d}:00 local time",
        1.0,
        night_polling_hours,
        _polling_evidence,
    ),
    FeatureSpec(
        "search_regularity",
        "polling",
        "account",
        "lifetime",
        "-log10 of the coefficient of variation of pauses between searches (machine-regular is high)",
        0.3,
        search_regularity,
        _polling_evidence,
    ),
    FeatureSpec(
        "fast_bookings",
        "speed",
        "account (slot facts)",
        "lifetime",
        f"bookings made within {PARAMS.fast_booking_s:g} s of the slot becoming free (handoffs excluded)",
        1.0,
        lambda st: float(st.fast_bookings),
        _speed_evidence,
    ),
    FeatureSpec(
        "fast_booking_share",
        "speed",
        "account (slot facts)",
        "lifetime",
        "share of timed bookings that were fast (n/a without a timed booking)",
        0.2,
        lambda st: _share_or_nan(st.fast_bookings, st.timed_bookings),
        _speed_evidence,
    ),
    FeatureSpec(
        "reaction_speed",
        "speed",
        "account (slot facts)",
        f"last {MAX_REACTIONS} bookings",
        "-log10 of the median seconds from a slot's release to this account's booking of it",
        0.3,
        reaction_speed,
        _speed_evidence,
        tolerance=-math.log10(HUMAN_REACTION_S),
    ),
    FeatureSpec(
        "instant_picks",
        "dexterity",
        "account",
        "lifetime",
        f"bookings made within {PARAMS.instant_pick_s:g} s of the search that showed the slot",
        1.0,
        lambda st: float(st.instant_picks),
        _pick_evidence,
    ),
    FeatureSpec(
        "pick_speed",
        "dexterity",
        "account",
        f"last {MAX_REACTIONS} bookings",
        "-log10 of the median seconds from the search showing a free slot to booking it",
        0.3,
        pick_speed,
        _pick_evidence,
        tolerance=-math.log10(HUMAN_PICK_S),
    ),
    FeatureSpec(
        "no_show_rate",
        "outcome",
        "account",
        "lifetime",
        "shrunk share of the account's appointments with an outcome that were not attended (n/a before one)",
        0.2,
        lambda st: _shrunk_rate(st.no_shows, _resolved(st)),
        _no_show_evidence,
        tolerance=ONE_OF_ONE,
    ),
    FeatureSpec(
        "handoff_rate",
        "resale",
        "account (slot facts)",
        "lifetime",
        "shrunk share of the account's bookings handed to another account (n/a without bookings)",
        0.2,
        lambda st: min(_shrunk_rate(st.handoffs_out, st.bookings), 1.0),
        _handoff_evidence,
        tolerance=ONE_OF_ONE,
    ),
    FeatureSpec(
        "applicant_change_rate",
        "resale",
        "account",
        "lifetime",
        "shrunk share of the account's bookings whose applicant it changed (n/a without bookings)",
        0.2,
        lambda st: min(_shrunk_rate(st.modifications, st.bookings), 1.0),
        _modification_evidence,
        tolerance=ONE_OF_ONE,
    ),
    FeatureSpec(
        "shared_applicants",
        "identity",
        "account (applicant facts)",
        "entity TTL",
        f"bookings for an applicant identity booked by another account or {PARAMS.applicant_shared_bookings}+ times",
        1.0,
        lambda st: float(st.reused_applicants),
        lambda st: (
            f"{st.reused_applicants} bookings for applicant identities also booked by other accounts "
            f"or repeatedly (placeholders)"
        ),
    ),
    FeatureSpec(
        "datacenter_share",
        "infrastructure",
        "account",
        "lifetime",
        "share of the account's requests coming from hosting / cloud networks (n/a without ASNs)",
        0.2,
        lambda st: _share_or_nan(st.datacenter_events, st.asn_events),
        lambda st: (
            f"{_share(st.datacenter_events, st.asn_events):.0%} of {st.asn_events} requests from data-centre networks"
        ),
    ),
    FeatureSpec(
        "shared_datacenter_address",
        "linkage",
        "address",
        "entity TTL",
        "most accounts seen on one of the account's data-centre IP addresses (an office VPN has a few)",
        2.0,
        lambda st: float(st.datacenter_address_accounts),
        lambda st: f"uses a data-centre IP address shared with {st.datacenter_address_accounts - 1} other accounts",
        tolerance=5.0,
    ),
    FeatureSpec(
        "address_churn",
        "infrastructure",
        "account",
        "lifetime",
        "share of consecutive requests from a different IP address (rotating proxies; n/a under 10)",
        0.2,
        lambda st: _share(st.addr_changes, st.addr_events - 1) if st.addr_events >= 10 else math.nan,
        lambda st: (
            f"IP address changed on {_share(st.addr_changes, st.addr_events - 1):.0%} of "
            f"{st.addr_events} requests ({st.addr_changes} changes)"
        ),
        tolerance=0.5,
    ),
    FeatureSpec(
        "automation_agent_share",
        "infrastructure",
        "account",
        "lifetime",
        "share of requests whose User-Agent is an HTTP library or headless browser (n/a without UA)",
        0.2,
        lambda st: _share_or_nan(st.automation_ua_events, st.ua_events),
        lambda st: (
            f"{_share(st.automation_ua_events, st.ua_events):.0%} of requests sent by an HTTP library "
            f"or a headless browser"
        ),
    ),
    FeatureSpec(
        "device_sharing",
        "linkage",
        "device",
        "entity TTL",
        "most accounts seen on one of the account's devices (a household or office PC has a few)",
        1.0,
        lambda st: float(st.device_accounts),
        lambda st: f"shares a device with {st.device_accounts - 1} other accounts",
        tolerance=3.0,
    ),
    FeatureSpec(
        "linked_resale_and_no_shows",
        "ring",
        "device",
        "entity TTL",
        "handoffs, applicant changes and no-shows of the other accounts on the account's devices",
        2.0,
        lambda st: float(st.linked_evidence) if st.device_accounts > 1 else math.nan,
        lambda st: (
            f"shares a device with {st.device_accounts - 1} other accounts that handed over, re-assigned "
            f"or left unused {st.linked_evidence} appointments"
        ),
        tolerance=2.0,
    ),
    FeatureSpec(
        "shared_email_domain",
        "linkage",
        "e-mail domain",
        "entity TTL",
        "accounts created with the account's private (non-public-provider) e-mail domain",
        5.0,
        lambda st: float(st.domain_accounts),
        lambda st: f"registered with a private e-mail domain used by {st.domain_accounts - 1} other new accounts",
        tolerance=5.0,
    ),
    FeatureSpec(
        "shared_phone",
        "linkage",
        "phone number",
        "entity TTL",
        "accounts registered with the account's phone number",
        1.0,
        lambda st: float(st.phone_accounts),
        lambda st: f"registered with a phone number used by {st.phone_accounts - 1} other accounts",
        tolerance=2.0,
    ),
    FeatureSpec(
        "creation_burst",
        "linkage",
        "network",
        f"{PARAMS.burst_window_s / 60:g} min",
        "accounts created from the account's network within minutes of it (itself included)",
        2.0,
        lambda st: float(st.creation_burst),
        lambda st: (
            f"created within {PARAMS.burst_window_s / 60:g} minutes of {st.creation_burst - 1} other "
            f"accounts on the same network"
        ),
        tolerance=3.0,
    ),
)

FEATURE_NAMES: tuple[str, ...] = tuple(spec.name for spec in FEATURES)
_COMPUTE = tuple(spec.compute for spec in FEATURES)


def vector(st: AccountState) -> tuple[float, ...]:
    """The account's feature vector, in registry order."""
    return tuple(compute(st) for compute in _COMPUTE)


#: the modules whose code defines what the features mean
_DEFINING_SOURCES = ("core.py", "registry.py", "params.py", "infra.py", "state.py")


def feature_set_hash(params: FeatureParams = PARAMS) -> str:
    """A digest of the feature definitions: names, order, parameters and the code computing them."""
    here = Path(__file__).parent
    code = hashlib.sha256(b"".join((here / name).read_bytes() for name in _DEFINING_SOURCES)).hexdigest()
    doc = {
        "version": FEATURE_SET_VERSION,
        "features": FEATURE_NAMES,
        "params": params.as_dict(),
        "code": code,
    }
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


def spec(name: str) -> FeatureSpec:
    """Look a feature up by name."""
    for candidate in FEATURES:
        if candidate.name == name:
            return candidate
    raise KeyError(f"no feature named {name!r}; known: {', '.join(FEATURE_NAMES)}")
