"""Which stored events are behind each reason of a verdict: what an investigator clicks to check it.

A verdict's reasons are sentences (``models.explain``), each stated by one feature family. The
store keeps the events, not the model's state, so each reason is mapped back to its family by the
sentence's fixed wording (:data:`REASON_KINDS`) and then to the events of the types that family's
features read, selected the way the features read them: searches inside the polling window the
reason names, bookings made within seconds of their slot's release or of the account's last
search, bookings with no search before them, unused appointments, handed-over slots, requests from
automation user agents or data-centre networks, and so on. This is a re-derivation from stored
events: it shows the events the reason is about, and its counts may differ slightly from the
model's (which decays and caps some counters); the reason text stays the model's word.

The patterns are plain regular expressions that RE2 (ClickHouse ``match``) and Python's ``re``
read alike, so the queue filters by reason kind in SQL with the same table.
"""

from __future__ import annotations

import logging
import re
from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from features.infra import AUTOMATION_UA_PATTERN, DATACENTER_ASNS
from features.params import PARAMS
from features.registry import FAMILIES

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReasonKind:
    """A kind of reason: the family that states it, the wording that marks it, the events it reads."""

    name: str
    family: str
    pattern: str
    event_types: tuple[str, ...]
    title: str


_BOOKING: Final = ("booking_created",)
#: reason kinds, most specific first (the first match names a reason)
REASON_KINDS: Final[tuple[ReasonKind, ...]] = (
    ReasonKind("polling", "polling", r"^searched [0-9]+ times", ("slot_search",), "polling for slots"),
    ReasonKind(
        "speed",
        "speed",
        r"^(booked [0-9.]+ s after release|no booking with a known release time)",
        ("booking_created", "slot_released"),
        "booking seconds after a release",
    ),
    ReasonKind(
        "dexterity",
        "dexterity",
        r"^(booked [0-9.]+ s after the search that showed the slot|no booking picked from a search)",
        ("booking_created", "slot_search"),
        "booking at once from a search",
    ),
    ReasonKind(
        "unsearched",
        "unsearched",
        r"bookings made with no search of its own",
        ("booking_created", "slot_search"),
        "booking slots found by others",
    ),
    ReasonKind(
        "unused",
        "outcome",
        r"appointments with a known fate left unused",
        ("booking_created", "booking_no_show", "booking_cancelled", "booking_attended"),
        "appointments left unused",
    ),
    ReasonKind(
        "handoff",
        "resale",
        r"(cancelled and re-booked by another account|^no slot handed over)",
        ("booking_cancelled", "booking_created"),
        "slots handed over",
    ),
    ReasonKind(
        "applicant_change",
        "resale",
        r"^changed the applicant on",
        ("booking_modified", "booking_created"),
        "applicants changed after booking",
    ),
    ReasonKind(
        "identity",
        "identity",
        r"bookings for applicant identities also booked",
        _BOOKING,
        "placeholder applicant identities",
    ),
    ReasonKind(
        "automation",
        "automation",
        r"sent by an HTTP library or a headless browser",
        (),
        "automation user agents",
    ),
    ReasonKind("datacenter", "infrastructure", r"requests from data-centre networks", (), "data-centre networks"),
    ReasonKind("address_churn", "infrastructure", r"^IP address changed on", (), "rotating addresses"),
    ReasonKind(
        "shared_infrastructure",
        "shared_infrastructure",
        r"^shares (a device|a data-centre IP address|no device or data-centre address)",
        (),
        "devices and addresses shared with holders",
    ),
    ReasonKind(
        "shared_registration",
        "shared_registration",
        r"^shares (a private e-mail domain|a phone number|a creation burst|no e-mail domain)",
        ("account_created",),
        "registrations shared with holders",
    ),
    ReasonKind("seller", "resale", r"^handed slots to [0-9]+ accounts", ("booking_cancelled",), "slots sold on"),
    ReasonKind("buyer", "resale", r"^received (slot|a slot from)", _BOOKING, "a resold slot received (victim)"),
    ReasonKind("mixed", "", r"^several mildly unusual behaviours together", (), "several mild behaviours"),
)
KINDS_BY_NAME: Final[dict[str, ReasonKind]] = {k.name: k for k in REASON_KINDS}
_COMPILED: Final = [(k, re.compile(k.pattern)) for k in REASON_KINDS]
#: every event type, for kinds that read requests of any type
ALL_TYPES: Final = (
    "account_created",
    "login",
    "slot_search",
    "booking_created",
    "booking_cancelled",
    "booking_modified",
    "booking_attended",
    "booking_no_show",
)
_ANY_TYPE_KINDS: Final = frozenset({"automation", "datacenter", "address_churn", "shared_infrastructure", "mixed"})
#: at most this many event ids per reason are returned (the count covers them all)
MAX_EVIDENCE_EVENTS: Final = 2000
#: the event columns the selection reads (as the store returns them: times in epoch ms, '' when absent)
EVENT_FIELDS: Final = (
    "event_id",
    "type",
    "ts_ms",
    "slot_id",
    "booking_id",
    "applicant_id",
    "slot_start_ms",
    "device_id",
    "ip",
    "asn",
    "automated",
)
#: an automation user agent, as ``features.infra.is_automation_agent`` tells it (RE2 and Python alike);
#: the store computes ``automated`` with it so the user agents themselves are not sent
AUTOMATION_PATTERN: Final = "(?i)" + AUTOMATION_UA_PATTERN
_POLL_WINDOW = re.compile(r"between ([0-9-]+ [0-9:]+) UTC and ([0-9-]+ [0-9:]+) UTC")


def classify(reason: str) -> ReasonKind | None:
    """The kind of a reason sentence, or None for wording this version does not know."""
    for kind, pattern in _COMPILED:
        if pattern.search(reason):
            return kind
    return None


def family_kind(family: str) -> str:
    """behaviour / holding / context for a family name ('' when unknown)."""
    found = FAMILIES.get(family)
    return found.kind if found else ""


def needed_types(reasons: Iterable[str]) -> tuple[str, ...]:
    """The event types the evidence of these reasons reads."""
    types: set[str] = set()
    for reason in reasons:
        kind = classify(reason)
        if kind is None or kind.name in _ANY_TYPE_KINDS:
            return ALL_TYPES
        types.update(kind.event_types)
    types.discard("slot_released")  # fetched by slot, not by account
    return tuple(sorted(types))


def _parse_minute(text: str) -> int:
    return round(datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=UTC).timestamp() * 1000)


class _Row:
    """One event of a column set, read by field name (built on access: no dict per event)."""

    __slots__ = ("_columns", "_i")

    def __init__(self, columns: Mapping[str, Sequence[Any]], i: int) -> None:
        self._columns = columns
        self._i = i

    def __getitem__(self, name: str) -> Any:
        return self._columns[name][self._i]

    def get(self, name: str, default: Any = None) -> Any:
        column = self._columns.get(name)
        return default if column is None else column[self._i]


class _Rows:
    """The events of a column set as a sequence of rows."""

    def __init__(self, columns: Mapping[str, Sequence[Any]]) -> None:
        self.columns = columns
        self._n = len(columns["event_id"])

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, i: int) -> _Row:
        return _Row(self.columns, i)


def select(
    reasons: Sequence[str],
    columns: Mapping[str, Sequence[Any]],
    *,
    releases: Mapping[str, Sequence[int]],
    linked: Mapping[str, Any],
    shared: Mapping[str, set[str]],
) -> list[dict[str, Any]]:
    """Per reason: its kind, family and the ids of the events behind it (time order).

    ``columns`` are the account's events of :func:`needed_types` in time order, one sequence per
    field of :data:`EVENT_FIELDS` (times in epoch ms, '' for an absent text, ``automated`` 0/1);
    ``releases`` maps a slot to its release times (ms); ``linked`` is the account view's linked accounts (handoffs);
    ``shared`` maps device / ip / applicant to the account's entities of that kind that other
    accounts used too.
    """
    events = _Rows(columns)
    ts = [int(t) for t in columns["ts_ms"]]
    by_type: dict[str, list[int]] = defaultdict(list)
    for i, kind_of_event in enumerate(columns["type"]):
        by_type[kind_of_event].append(i)
    search_ts = [ts[i] for i in by_type.get("slot_search", [])]
    out: list[dict[str, Any]] = []
    for index, reason in enumerate(reasons):
        kind = classify(reason)
        picked = _pick(kind, reason, events, ts, by_type, search_ts, releases, linked, shared) if kind else []
        out.append(
            {
                "index": index,
                "text": reason,
                "kind": kind.name if kind else "unknown",
                "title": kind.title if kind else "reason",
                "family": kind.family if kind else "",
                "family_kind": family_kind(kind.family) if kind else "",
                "event_types": sorted({columns["type"][i] for i in picked}),
                "events_total": len(picked),
                "event_ids": [columns["event_id"][i] for i in picked[:MAX_EVIDENCE_EVENTS]],
            }
        )
    return out


def _pick(
    kind: ReasonKind,
    reason: str,
    events: _Rows,
    ts: Sequence[int],
    by_type: Mapping[str, list[int]],
    search_ts: Sequence[int],
    releases: Mapping[str, Sequence[int]],
    linked: Mapping[str, Any],
    shared: Mapping[str, set[str]],
) -> list[int]:
    """Positions (in ``events``) of the events a reason is about."""
    bookings = by_type.get("booking_created", [])
    name = kind.name
    if name == "polling":
        searches = by_type.get("slot_search", [])
        window = _POLL_WINDOW.search(reason)
        if not window:
            return list(searches)
        lo, hi = _parse_minute(window.group(1)), _parse_minute(window.group(2)) + 3_600_000
        return [i for i in searches if lo <= ts[i] < hi]
    if name == "speed":
        fast_ms = PARAMS.fast_booking_s * 1000 * 5  # the bookings the median is taken over, near a release
        return [
            i
            for i in bookings
            if any(0 <= ts[i] - r <= fast_ms for r in releases.get(str(events[i].get("slot_id", "")), ()))
        ]
    if name == "dexterity":
        picked: list[int] = []
        searches = by_type.get("slot_search", [])
        for i in bookings:
            k = bisect_right(search_ts, ts[i]) - 1  # the account's last search before the booking
            if k >= 0 and ts[i] - search_ts[k] <= PARAMS.instant_pick_s * 1000 * 4:
                picked.extend((searches[k], i))
        return sorted(set(picked))
    if name == "unsearched":
        before = PARAMS.search_before_booking_s * 1000
        return [i for i in bookings if bisect_left(search_ts, ts[i] - before) == bisect_right(search_ts, ts[i])]
    if name == "unused":
        booking_of = {events[i].get("booking_id"): i for i in bookings}
        picked = []
        slot_start = {events[i].get("booking_id"): events[i].get("slot_start_ms") for i in bookings}
        for i in by_type.get("booking_no_show", []):
            picked.append(i)
            if events[i].get("booking_id") in booking_of:
                picked.append(booking_of[events[i].get("booking_id")])
        for i in by_type.get("booking_cancelled", []):
            start = slot_start.get(events[i].get("booking_id"))
            if start and int(start) - ts[i] < PARAMS.late_cancel_s * 1000:
                picked.append(i)
                picked.append(booking_of[events[i].get("booking_id")])
        return sorted(set(picked))
    if name in ("handoff", "seller"):
        slots = {slot for h in linked.get("handoffs_out", []) for slot in h.get("slots", [])}
        return [i for i in by_type.get("booking_cancelled", []) if events[i].get("slot_id") in slots]
    if name == "buyer":
        slots = {slot for h in linked.get("handoffs_in", []) for slot in h.get("slots", [])}
        return [i for i in bookings if events[i].get("slot_id") in slots]
    if name == "applicant_change":
        changed = {events[i].get("booking_id") for i in by_type.get("booking_modified", [])}
        return sorted(
            list(by_type.get("booking_modified", [])) + [i for i in bookings if events[i].get("booking_id") in changed]
        )
    if name == "identity":
        count: dict[str, int] = defaultdict(int)
        for i in bookings:
            count[str(events[i].get("applicant_id", ""))] += 1
        reused = {a for a, n in count.items() if n >= PARAMS.applicant_shared_bookings}
        reused |= shared.get("applicant", set())
        return [i for i in bookings if events[i].get("applicant_id") in reused]
    columns = events.columns
    if name == "automation":
        return [i for i, automated in enumerate(columns["automated"]) if automated]
    if name == "datacenter":
        return [i for i, asn in enumerate(columns["asn"]) if asn in DATACENTER_ASNS]
    if name == "address_churn":
        picked, last = [], None
        for i, ip in enumerate(columns["ip"]):
            if not ip:
                continue
            if last is not None and ip != last:
                picked.append(i)
            last = ip
        return picked
    if name == "shared_infrastructure":
        devices, ips = shared.get("device", set()), shared.get("ip", set())
        return [
            i
            for i, (device, ip) in enumerate(zip(columns["device_id"], columns["ip"], strict=True))
            if device in devices or ip in ips
        ]
    if name == "shared_registration":
        return list(by_type.get("account_created", []))
    return []


def kind_condition(kind_name: str, column: str = "reasons") -> str:
    """SQL: the array of reason sentences ``column`` has one of this kind (RE2 ``match``)."""
    kind = KINDS_BY_NAME[kind_name]
    escaped = kind.pattern.replace("\\", "\\\\").replace("'", "\\'")
    return f"arrayExists(r -> match(r, '{escaped}'), {column})"
