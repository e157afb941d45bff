"""Records -> column lists, ready for a columnar insert; and address redaction.

The conversion works a column at a time over events grouped by type (one ``attrgetter`` pass per
column) rather than a row at a time: that is what keeps the Python side from becoming the
bottleneck of a writer meant to move hundreds of thousands of rows a second.

No IP address is ever stored in the clear: the event's ``ip`` becomes its keyed pseudonym (and its
network's), the raw line gets the same substitution, and any other quoted string that parses as an
address (an unknown field, a forwarded-for header) is replaced by its pseudonym too.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import re
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from operator import attrgetter
from typing import Any, Final

from features.records import Snapshot
from ingest.contract import AnyEvent
from ingest.deadletter import DeadLetter
from ingest.pseudonym import Pseudonymizer
from models.records import Flag, Verdict
from storage.sql import to_ms

log = logging.getLogger(__name__)

Columns = dict[str, list[Any]]

#: columns the writer fills, per table, in insert order (the rest are DEFAULTs computed by the store)
TABLE_COLUMNS: Final[dict[str, tuple[str, ...]]] = {
    "events": (
        "event_id",
        "type",
        "ts_ms",
        "site",
        "account_id",
        "session_id",
        "ip",
        "network",
        "asn",
        "user_agent",
        "device_id",
        "slot_id",
        "booking_id",
        "applicant_id",
        "service",
        "slot_start_ms",
        "reason",
        "success",
        "results",
        "email_hash",
        "phone_hash",
        "email_domain",
        "raw",
    ),
    "dead_letters": ("source", "line_no", "reason", "raw", "received_ms"),
    "feature_sets": ("feature_set", "feature_names", "registered_ms"),
    "snapshots": (
        "account_id",
        "site",
        "t_ms",
        "model_version",
        "feature_set",
        "feature_values",
        "score",
        "row_version",
    ),
    "verdicts": (
        "account_id",
        "site",
        "model_version",
        "scored_ms",
        "score",
        "flagged",
        "flagged_ms",
        "reasons",
        "category",
        "buyers",
        "row_version",
    ),
    "flags": (
        "account_id",
        "site",
        "flagged_ms",
        "score",
        "threshold",
        "reasons",
        "model_version",
        "row_version",
    ),
}

#: optional string fields of the contract, stored as '' when absent
_TEXT_FIELDS: Final = (
    "session_id",
    "user_agent",
    "device_id",
    "slot_id",
    "booking_id",
    "applicant_id",
    "service",
    "reason",
    "email_hash",
    "phone_hash",
    "email_domain",
)

# a JSON string whose whole content could be an address: cheap to search, validated afterwards
_QUOTED_CANDIDATE = re.compile(r'"([0-9A-Fa-f:.]{2,45})"')
# free text (dead letters need not be JSON): a run of address characters not glued to a word or path
_FREE_CANDIDATE = re.compile(r"(?<![\w./:%-])([0-9A-Fa-f:.]{2,51})(?![\w./:%-])")
_ip_memo: dict[str, bool] = {}


def _is_ip(text: str) -> bool:
    known = _ip_memo.get(text)
    if known is None:
        try:
            ipaddress.ip_address(text)
            known = True
        except ValueError:
            known = False
        if len(_ip_memo) > 1 << 16:
            _ip_memo.clear()
        _ip_memo[text] = known
    return known


def _replacer(pseudo: Pseudonymizer) -> Callable[[re.Match[str]], str]:
    def replace(match: re.Match[str]) -> str:
        token = match.group(1)
        whole = match.group(0)
        if _is_ip(token):
            return whole.replace(token, pseudo.ip(token))
        host, sep, port = token.rpartition(":")  # 192.0.2.7:443
        if sep and port.isdigit() and "." in host and _is_ip(host):
            return whole.replace(host, pseudo.ip(host))
        return whole

    return replace


def redact_json(raw: str, pseudo: Pseudonymizer) -> str:
    """Replace every JSON string value that is an IP address by its pseudonym."""
    if _QUOTED_CANDIDATE.search(raw) is None:
        return raw
    return _QUOTED_CANDIDATE.sub(_replacer(pseudo), raw)


def redact_text(text: str, pseudo: Pseudonymizer) -> str:
    """Replace anything in free text that looks like an IPv4/IPv6 address by its pseudonym."""
    return _FREE_CANDIDATE.sub(_replacer(pseudo), text)


def _ms(value: datetime) -> int:
    return round(value.timestamp() * 1000)


def event_columns(events: Sequence[AnyEvent], raws: Sequence[str], pseudo: Pseudonymizer) -> Columns:
    """Columns of the ``events`` table for a batch of validated events and their raw lines."""
    if len(events) != len(raws):
        raise ValueError(f"{len(events)} events but {len(raws)} raw lines: they must pair up")
    cols: Columns = {name: [] for name in TABLE_COLUMNS["events"]}
    groups: dict[Any, list[int]] = {}  # event struct class -> row positions
    for i, event in enumerate(events):
        groups.setdefault(type(event), []).append(i)
    for cls, index in groups.items():
        evs = [events[i] for i in index]
        n = len(evs)
        fields = cls.__struct_fields__
        tag = cls.__struct_config__.tag
        cols["event_id"].extend(map(attrgetter("event_id"), evs))
        cols["type"].extend([tag] * n)
        cols["ts_ms"].extend([_ms(e.ts) for e in evs])
        cols["site"].extend(map(attrgetter("site"), evs))
        cols["account_id"].extend([a or "" for a in map(attrgetter("account_id"), evs)])
        ips = list(map(attrgetter("ip"), evs))
        cols["ip"].extend([pseudo.ip(ip) if ip else "" for ip in ips])
        cols["network"].extend([pseudo.network(ip) if ip else "" for ip in ips])
        cols["asn"].extend(map(attrgetter("asn"), evs))
        for name in _TEXT_FIELDS:
            if name in fields:
                cols[name].extend([v if v is not None else "" for v in map(attrgetter(name), evs)])
            else:
                cols[name].extend([""] * n)
        if "slot_start" in fields:
            cols["slot_start_ms"].extend([_ms(v) for v in map(attrgetter("slot_start"), evs)])
        else:
            cols["slot_start_ms"].extend([None] * n)
        if "success" in fields:
            cols["success"].extend([int(v) for v in map(attrgetter("success"), evs)])
        else:
            cols["success"].extend([None] * n)
        if "results" in fields:
            cols["results"].extend(map(attrgetter("results"), evs))
        else:
            cols["results"].extend([None] * n)
        redact = pseudo.redact
        cols["raw"].extend([redact_json(redact(raws[i], ip), pseudo) for i, ip in zip(index, ips, strict=True)])
    return cols


def dead_letter_columns(rows: Sequence[DeadLetter], pseudo: Pseudonymizer, now_ms: int) -> Columns:
    """Columns of ``dead_letters``; addresses in the raw line and in the reason are pseudonymised."""
    return {
        "source": [r.source for r in rows],
        "line_no": [max(0, r.line_no) for r in rows],
        "reason": [redact_text(r.reason, pseudo) for r in rows],
        "raw": [redact_text(r.raw, pseudo) for r in rows],
        "received_ms": [now_ms] * len(rows),
    }


def feature_set_id(feature_names: Sequence[str]) -> str:
    """A stable short id for a list of feature names (order matters)."""
    return hashlib.blake2b("\x1f".join(feature_names).encode(), digest_size=8).hexdigest()


def snapshot_columns(
    rows: Sequence[Snapshot], scores: Sequence[float], model_version: str, feature_set: str, version: int
) -> Columns:
    """Columns of ``snapshots``: one feature vector and its score per row."""
    if len(rows) != len(scores):
        raise ValueError(f"{len(rows)} snapshots but {len(scores)} scores: they must pair up")
    return {
        "account_id": [r.account_id for r in rows],
        "site": [r.site for r in rows],
        "t_ms": [round(r.t * 1000) for r in rows],
        "model_version": [model_version] * len(rows),
        "feature_set": [feature_set] * len(rows),
        "feature_values": [[float(v) for v in r.values] for r in rows],
        "score": [float(s) for s in scores],
        "row_version": [version] * len(rows),
    }


def verdict_columns(rows: Sequence[Verdict], version: int) -> Columns:
    """Columns of ``verdicts``; a verdict without ``scored_at`` is dated by ``flagged_at``, else now."""
    now_ms = int(time.time() * 1000)
    scored: list[int] = []
    for r in rows:
        when = r.scored_at or r.flagged_at
        scored.append(to_ms(when) if when is not None else now_ms)
    return {
        "account_id": [r.account_id for r in rows],
        "site": [r.site for r in rows],
        "model_version": [r.model_version for r in rows],
        "scored_ms": scored,
        "score": [float(r.score) for r in rows],
        "flagged": [1 if r.flagged else 0 for r in rows],
        "flagged_ms": [to_ms(r.flagged_at) if r.flagged_at is not None else None for r in rows],
        "reasons": [list(r.reasons) for r in rows],
        "category": [r.category or "" for r in rows],
        "buyers": [list(r.buyers) for r in rows],
        "row_version": [version] * len(rows),
    }


def flag_columns(rows: Sequence[Flag], version: int) -> Columns:
    """Columns of ``flags``."""
    return {
        "account_id": [r.account_id for r in rows],
        "site": [r.site for r in rows],
        "flagged_ms": [to_ms(r.flagged_at) for r in rows],
        "score": [float(r.score) for r in rows],
        "threshold": [float(r.threshold) for r in rows],
        "reasons": [list(r.reasons) for r in rows],
        "model_version": [r.model_version for r in rows],
        "row_version": [version] * len(rows),
    }
