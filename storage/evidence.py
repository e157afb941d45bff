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

The selection is one query (:func:`plan`): the engine selects the events of the kinds that are a
condition on the event and returns their counts and first ids; of the account's history only the
bookings and what relates to them (and search times, when a reason reads them) come back, to be
related in Python (:func:`assemble`).

The patterns are plain regular expressions that RE2 (ClickHouse ``match``) and Python's ``re``
read alike, so the queue filters by reason kind in SQL with the same table.
"""

from __future__ import annotations

import logging
import re
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from features.infra import AUTOMATION_UA_PATTERN, DATACENTER_ASNS
from features.params import PARAMS
from features.registry import FAMILIES
from storage.sql import lit, lits

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
        "split_roles",
        "split_roles",
        r"^(one of [0-9]+ accounts around watcher account|shares no watcher)",
        ("booking_created", "slot_search"),
        "booking what a watcher found",
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
#: every event type an account sends (the kinds that read requests of any type read these)
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
#: at most this many event ids per reason are returned (the count covers them all)
MAX_EVIDENCE_EVENTS: Final = 2000
#: an automation user agent, as ``features.infra.is_automation_agent`` tells it (RE2 and Python alike);
#: the engine matches it, so the user agents themselves are not sent
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


def _parse_minute(text: str) -> int:
    return round(datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=UTC).timestamp() * 1000)


# --- the selection ---------------------------------------------------------------------------------
#
# One query reads the account's events once (primary-key range ``account_id = ...``, deduplicated by
# ``event_id`` as every read of the store is) and answers, in one row:
#
# * for the kinds that are a condition on the event itself (polling window, automation agent,
#   data-centre network, shared device or address, registration, handed-over slots), and for
#   address changes (each request against the one before it, in arrays): how many events, their
#   types, and the first ids in time order, computed by the engine;
# * for the kinds that relate events to each other (a booking and its slot's release, the search
#   before it, its no-show or cancellation, its applicant), only the rows they relate: bookings,
#   cancellations, no-shows, modifications and (when a reason reads them) the searches' times and
#   ids. Those few rows are related here, in Python, as the features relate them.
#
# Only ClickHouse 18.16's SQL: no window functions, no joins; arrays and -If aggregates.

#: the kinds related in Python, from the rows the query returns
_RELATED: Final = frozenset(
    {"speed", "dexterity", "unsearched", "split_roles", "unused", "applicant_change", "identity"}
)
#: the columns of a related row, in this order (slot start 0 when absent)
_RELATED_COLUMNS: Final = ("ts_ms", "event_id", "type", "slot_id", "booking_id", "applicant_id", "slot_start_ms")
_RELATED_TYPES: Final = ("booking_created", "booking_cancelled", "booking_no_show", "booking_modified")
_ANY_TYPE: Final = f"type IN {lits(ALL_TYPES)}"


def _shared(account: str, kind: str, column: str) -> str:
    """The account's ``column`` values (devices, addresses, applicants) that another account used too."""
    mine = f"SELECT {column} FROM {{db}}.events WHERE account_id = {account} AND {_ANY_TYPE} AND {column} != ''"
    return (
        f"SELECT entity FROM {{db}}.entity_links WHERE kind = {lit(kind)}"
        f" AND entity IN ({mine}) AND account_id != {account}"
    )


def _handed_slots(linked: Mapping[str, Any], key: str) -> list[str]:
    return sorted({str(slot) for h in linked.get(key, []) for slot in h.get("slots", [])})


def _condition(kind: ReasonKind, reason: str, account: str, linked: Mapping[str, Any]) -> str | None:
    """The SQL condition on one event of the account for a kind that is one ('0' when no event is)."""
    name = kind.name
    if name == "polling":
        # the searches inside the polling window the reason names
        window = _POLL_WINDOW.search(reason)
        if not window:
            return "type = 'slot_search'"
        lo, hi = _parse_minute(window.group(1)), _parse_minute(window.group(2)) + 3_600_000
        return f"type = 'slot_search' AND ts_ms >= {lo:d} AND ts_ms < {hi:d}"
    if name in ("handoff", "seller", "buyer"):
        # the cancellations of the slots handed over, or (a buyer) the bookings of the slots received
        slots = _handed_slots(linked, "handoffs_in" if name == "buyer" else "handoffs_out")
        event_type = "booking_created" if name == "buyer" else "booking_cancelled"
        return f"type = {lit(event_type)} AND slot_id IN {lits(slots)}" if slots else "0"
    if name == "automation":
        return f"{_ANY_TYPE} AND match(user_agent, {lit(AUTOMATION_PATTERN)})"
    if name == "datacenter":
        return f"{_ANY_TYPE} AND ifNull(asn, 0) IN {lits(sorted(DATACENTER_ASNS))}"
    if name == "shared_infrastructure":
        # requests from a device or an address another account used too
        return (
            f"{_ANY_TYPE} AND (device_id IN ({_shared(account, 'device', 'device_id')})"
            f" OR ip IN ({_shared(account, 'ip', 'ip')}))"
        )
    if name == "shared_registration":
        return "type = 'account_created'"
    return None


@dataclass(frozen=True)
class Plan:
    """How the evidence of an account's reasons is read: the query, and what each reason takes from it."""

    account_id: str
    reasons: tuple[str, ...]
    kinds: tuple[ReasonKind | None, ...]
    #: reason index -> number of its SQL condition (reasons with the same condition share it)
    condition_of: Mapping[int, int]
    conditions: tuple[str, ...]
    churn: bool
    related: bool
    searches: bool
    shared_applicants: bool

    @property
    def needed(self) -> bool:
        """Whether any reason is about events (else there is nothing to read)."""
        return bool(self.conditions) or self.churn or self.related

    def sql(self, limit: int = MAX_EVIDENCE_EVENTS) -> str:
        """The one query; its one row is read by :func:`assemble`."""
        a = lit(self.account_id)
        inner = ["event_id", "ts_ms", "type"]
        if self.related:
            inner += ["slot_id", "booking_id", "applicant_id", "ifNull(slot_start_ms, 0) AS slot_start_ms"]
        if self.churn:
            inner.append("ip")
        inner += [f"toUInt8(({c}) != 0) AS m{i}" for i, c in enumerate(self.conditions)]
        if self.shared_applicants:
            inner.append(
                "toUInt8(type = 'booking_created' AND applicant_id IN"
                f" ({_shared(a, 'applicant', 'applicant_id')})) AS shared_applicant"
            )
        columns: list[str] = []
        for i in range(len(self.conditions)):
            first = f"arraySlice(arraySort(groupArrayIf(tuple(ts_ms, event_id), m{i})), 1, {int(limit):d})"
            columns += [
                f"countIf(m{i})",
                f"groupUniqArrayIf(type, m{i})",
                f"arrayMap(x -> tupleElement(x, 2), {first})",
            ]
        if self.churn:
            columns.append("arraySort(groupArrayIf(tuple(ts_ms, event_id, ip, type), ip != ''))")
        if self.related:
            columns.append(
                f"arraySort(groupArrayIf(tuple({', '.join(_RELATED_COLUMNS)}), type IN {lits(_RELATED_TYPES)}))"
            )
        if self.searches:
            columns.append("arraySort(groupArrayIf(tuple(ts_ms, event_id), type = 'slot_search'))")
        if self.shared_applicants:
            columns.append("groupUniqArrayIf(applicant_id, shared_applicant = 1)")
        source = (
            f"(SELECT {', '.join(inner)} FROM {{db}}.events WHERE account_id = {a} AND {_ANY_TYPE} LIMIT 1 BY event_id)"
        )
        if not self.churn:
            return f"SELECT {', '.join(columns)} FROM {source}"
        # address changes: the sorted requests with an address, each against the one before it
        at = 3 * len(self.conditions)
        aggregated = "SELECT " + ", ".join(f"{c} AS c{i}" for i, c in enumerate(columns)) + f" FROM {source}"
        changed = (
            "arrayFilter((x, before) -> tupleElement(x, 3) != tupleElement(before, 3),"
            f" arraySlice(c{at}, 2), arrayPopBack(c{at})) AS changed"
        )
        names = [f"c{i}" for i in range(len(columns))]
        names[at] = (
            "length(changed), arrayReduce('groupUniqArray', arrayMap(x -> tupleElement(x, 4), changed)),"
            f" arrayMap(x -> tupleElement(x, 2), arraySlice(changed, 1, {int(limit):d}))"
        )
        keep = [f"c{i}" for i in range(len(columns)) if i != at]
        return f"SELECT {', '.join(names)} FROM (SELECT {', '.join([*keep, changed])} FROM ({aggregated}))"


def plan(reasons: Sequence[str], account_id: str, linked: Mapping[str, Any]) -> Plan:
    """What to read for these reasons of an account (``linked``: the account view's linked accounts,
    whose handoffs name the slots the handoff reasons are about)."""
    kinds = tuple(classify(r) for r in reasons)
    a = lit(account_id)
    conditions: dict[str, int] = {}
    condition_of: dict[int, int] = {}
    names = {k.name for k in kinds if k is not None}
    for index, (reason, kind) in enumerate(zip(reasons, kinds, strict=True)):
        condition = _condition(kind, reason, a, linked) if kind is not None else None
        if condition is not None:
            condition_of[index] = conditions.setdefault(condition, len(conditions))
    return Plan(
        account_id=account_id,
        reasons=tuple(reasons),
        kinds=kinds,
        condition_of=condition_of,
        conditions=tuple(conditions),
        churn="address_churn" in names,
        related=bool(names & _RELATED),
        searches=bool(names & {"dexterity", "unsearched", "split_roles"}),
        shared_applicants="identity" in names,
    )


@dataclass(frozen=True)
class _Parts:
    """The plan's query's row, by part."""

    selected: list[tuple[int, list[str], list[str]]]  # per condition: count, types, first ids
    churn: tuple[int, list[str], list[str]] | None
    related: list[tuple[Any, ...]]  # time order
    searches: list[tuple[int, str]]  # time order
    shared_applicants: set[str]


def _parts(plan: Plan, row: Sequence[Any]) -> _Parts:
    values = list(row)
    selected = [
        (int(values[i]), list(values[i + 1]), list(values[i + 2])) for i in range(0, 3 * len(plan.conditions), 3)
    ]
    rest = values[3 * len(plan.conditions) :]
    churn = None
    if plan.churn:
        churn, rest = (int(rest[0]), list(rest[1]), list(rest[2])), rest[3:]
    related: list[tuple[Any, ...]] = []
    if plan.related:
        related, rest = sorted(tuple(r) for r in rest[0]), rest[1:]
    searches: list[tuple[int, str]] = []
    if plan.searches:
        searches, rest = sorted((int(t), str(i)) for t, i in rest[0]), rest[1:]
    return _Parts(selected, churn, related, searches, set(rest[0]) if plan.shared_applicants else set())


Releases = Callable[[list[str]], Mapping[str, Sequence[int]]]


def assemble(plan: Plan, row: Sequence[Any] | None, releases: Releases | None = None) -> list[dict[str, Any]]:
    """Per reason: its kind, family, the types of its events, how many, and their first ids in time order.

    ``row`` is the plan's query's one row (None when nothing was read); ``releases`` gives, for the
    slots the account booked, their release times (ms): asked only for a reason about booking speed.
    """
    out = [describe(i, reason, kind) for i, (reason, kind) in enumerate(zip(plan.reasons, plan.kinds, strict=True))]
    if row is None:
        return out
    parts = _parts(plan, row)
    released: Mapping[str, Sequence[int]] = {}
    booked = sorted({r[3] for r in parts.related if r[2] == "booking_created" and r[3]})
    if releases is not None and booked and any(k is not None and k.name == "speed" for k in plan.kinds):
        released = releases(booked)
    for index, kind in enumerate(plan.kinds):
        if index in plan.condition_of:
            total, types, ids = parts.selected[plan.condition_of[index]]
        elif kind is not None and kind.name == "address_churn" and parts.churn is not None:
            total, types, ids = parts.churn
        elif kind is not None and kind.name in _RELATED:
            picked = sorted(set(_relate(kind.name, parts, released)))
            total, types, ids = len(picked), [t for _, _, t in picked], [i for _, i, _ in picked[:MAX_EVIDENCE_EVENTS]]
        else:
            continue
        out[index].update(event_types=sorted(set(types)), events_total=total, event_ids=ids)
    return out


def _relate(name: str, parts: _Parts, releases: Mapping[str, Sequence[int]]) -> list[tuple[int, str, str]]:
    """``(ts_ms, event_id, type)`` of the events a related kind's reason is about, from the account's
    bookings, cancellations, no-shows and modifications (rows of :data:`_RELATED_COLUMNS`) and searches."""
    rows, searches = parts.related, parts.searches
    bookings = [r for r in rows if r[2] == "booking_created"]

    def event(r: Sequence[Any]) -> tuple[int, str, str]:
        return (int(r[0]), str(r[1]), str(r[2]))

    if name == "speed":
        # bookings made within seconds of one of their slot's releases (the bookings the median is taken over)
        fast_ms = PARAMS.fast_booking_s * 1000 * 5
        return [event(b) for b in bookings if any(0 <= b[0] - r <= fast_ms for r in releases.get(b[3], ()))]
    search_ts = [int(t) for t, _ in searches]
    if name == "dexterity":
        # bookings made within seconds of the account's last search before them, and that search
        picked = []
        for b in bookings:
            k = bisect_right(search_ts, b[0]) - 1
            if k >= 0 and b[0] - search_ts[k] <= PARAMS.instant_pick_s * 1000 * 4:
                picked += [(search_ts[k], str(searches[k][1]), "slot_search"), event(b)]
        return picked
    if name in ("unsearched", "split_roles"):
        # bookings with no search of the account's own in the half hour before (for split roles: the
        # bookings traced to a watcher; a watcher that never books has none of its own to show)
        before = PARAMS.search_before_booking_s * 1000
        return [event(b) for b in bookings if bisect_left(search_ts, b[0] - before) == bisect_right(search_ts, b[0])]
    if name == "unused":
        # no-shows and late cancellations, each with its booking (the latest booking of that booking id)
        booking_of = {b[4]: b for b in bookings}
        picked = []
        for r in rows:
            if r[2] == "booking_no_show":
                picked.append(event(r))
                if r[4] in booking_of:
                    picked.append(event(booking_of[r[4]]))
            elif r[2] == "booking_cancelled":
                booked = booking_of.get(r[4])
                if booked is not None and booked[6] and int(booked[6]) - r[0] < PARAMS.late_cancel_s * 1000:
                    picked += [event(r), event(booked)]
        return picked
    if name == "applicant_change":
        changed = {r[4] for r in rows if r[2] == "booking_modified"}
        return [event(r) for r in rows if r[2] == "booking_modified" or (r[2] == "booking_created" and r[4] in changed)]
    if name == "identity":
        # bookings for an applicant the account booked several times, or that other accounts booked too
        count: dict[str, int] = {}
        for b in bookings:
            count[b[5]] = count.get(b[5], 0) + 1
        reused = {a for a, n in count.items() if n >= PARAMS.applicant_shared_bookings} | parts.shared_applicants
        return [event(b) for b in bookings if b[5] in reused]
    return []


def describe(index: int, reason: str, kind: ReasonKind | None) -> dict[str, Any]:
    """A reason as the console shows it, with no events yet (``event_types``, ``events_total``, ``event_ids``)."""
    return {
        "index": index,
        "text": reason,
        "kind": kind.name if kind else "unknown",
        "title": kind.title if kind else "reason",
        "family": kind.family if kind else "",
        "family_kind": family_kind(kind.family) if kind else "",
        "event_types": [],
        "events_total": 0,
        "event_ids": [],
    }


def kind_condition(kind_name: str, column: str = "reasons") -> str:
    """SQL: the array of reason sentences ``column`` has one of this kind (RE2 ``match``)."""
    kind = KINDS_BY_NAME[kind_name]
    escaped = kind.pattern.replace("\\", "\\\\").replace("'", "\\'")
    return f"arrayExists(r -> match(r, '{escaped}'), {column})"
