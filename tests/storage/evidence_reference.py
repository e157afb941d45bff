"""The evidence selection as it was before it moved into SQL (main at 9b5a7f9), kept as a test oracle.

It reads every event of the types the reasons need into Python and picks, per reason, the ones
behind it. ``tests/storage/test_evidence_sql.py`` checks that ``Store.evidence`` (which selects the
events in SQL) names the same events, reason by reason. Not used by the product.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final

from features.infra import DATACENTER_ASNS
from features.params import PARAMS
from storage import Store
from storage.evidence import ALL_TYPES, AUTOMATION_PATTERN, MAX_EVIDENCE_EVENTS, ReasonKind, classify, family_kind
from storage.sql import lit, lits

_ANY_TYPE_KINDS: Final = frozenset({"automation", "datacenter", "address_churn", "shared_infrastructure", "mixed"})
_POLL_WINDOW = re.compile(r"between ([0-9-]+ [0-9:]+) UTC and ([0-9-]+ [0-9:]+) UTC")


def _parse_minute(text: str) -> int:
    return round(datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=UTC).timestamp() * 1000)


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
    if name in ("unsearched", "split_roles"):
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


def reference_evidence(store: Store, view: Mapping[str, Any], *, max_events: int = 50_000) -> list[dict[str, Any]]:
    """What ``Store.evidence`` returned before: the account's events read whole, selected in Python."""
    verdict = view.get("verdict") or {}
    reasons: list[str] = list(verdict.get("reasons") or [])
    if not reasons and view.get("flags"):
        reasons = list(view["flags"][-1]["reasons"])
    if not reasons:
        return []
    account_id = str(view["account_id"])
    types = needed_types(reasons)
    fields = EVENT_FIELDS
    selected = [f"match(user_agent, {lit(AUTOMATION_PATTERN)})" if f == "automated" else f for f in fields]
    db = store.database
    rows = store.backend.query(
        f"SELECT {', '.join(selected)} FROM {db}.events WHERE account_id = {lit(account_id)}"
        f" AND type IN {lits(types)} ORDER BY ts_ms, event_id LIMIT 1 BY event_id LIMIT {int(max_events):d}"
    )
    columns: dict[str, Sequence[Any]] = (
        dict(zip(fields, zip(*rows, strict=True), strict=True)) if rows else {f: () for f in fields}
    )
    releases: dict[str, list[int]] = defaultdict(list)
    booked = sorted(
        {
            slot
            for slot, kind in zip(columns["slot_id"], columns["type"], strict=True)
            if kind == "booking_created" and slot
        }
    )
    if booked and any(k is not None and k.name == "speed" for k in map(classify, reasons)):
        for slot, ts_ms in store.backend.query(
            f"SELECT slot_id, ts_ms FROM {db}.events WHERE account_id = '' AND type = 'slot_released'"
            f" AND slot_id IN {lits(booked)} LIMIT 1 BY event_id"
        ):
            releases[slot].append(int(ts_ms))
    column = {"device": "device_id", "ip": "ip", "applicant": "applicant_id"}
    mine = {kind: sorted(set(columns[col]) - {"", None}) for kind, col in column.items()}
    branches = [
        f"SELECT kind, entity FROM {db}.entity_links "
        f"WHERE kind = {lit(kind)} AND entity IN {lits(keys)} AND account_id != {lit(account_id)}"
        for kind, keys in mine.items()
        if keys
    ]
    shared: dict[str, set[str]] = {kind: set() for kind in column}
    if branches:
        for kind, entity in store.backend.query(
            "SELECT DISTINCT kind, entity FROM (" + " UNION ALL ".join(branches) + ")"
        ):
            shared[kind].add(entity)
    return select(reasons, columns, releases=releases, linked=view.get("linked") or {}, shared=shared)
