"""The store: open it from a URL, write history through it, ask it the investigators' questions.

``open_store`` parses the URL, connects (chDB or a server), applies pending migrations, and hands
back a :class:`Store`. Every query below is one SQL text for both engines (ClickHouse 18.16 and
chDB 26.x), and each returns every logical row once even before ReplacingMergeTree merges: rows are
deduplicated at read time by their key (``LIMIT 1 BY key``, latest by ``row_version``).

Results are plain JSON-ready dicts (times as RFC 3339 UTC strings), which the CLI prints as tables
or JSON lines.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, date, datetime
from itertools import pairwise
from typing import Any, Final

import msgspec

from ingest.pseudonym import Pseudonymizer
from storage import evidence, retention
from storage.backends import Backend, connect
from storage.errors import StoreError, StoreUnavailable, UnknownAccount
from storage.rows import TABLE_COLUMNS
from storage.schema import applied_versions, apply_migrations, database_exists
from storage.sql import iso, lit, lits, render, to_ms
from storage.url import StoreUrl, parse_store_url
from storage.writer import HistoryWriter

log = logging.getLogger(__name__)

DECISIONS: Final = ("confirm", "dismiss", "escalate")
#: a booking of a slot this soon after another account cancelled it is a handoff (as the feature core)
HANDOFF_WINDOW_S: Final = 120.0
#: linked accounts listed per kind (the counts cover all of them)
LINKED_LIMIT: Final = 100
#: the queue's decision states: no decision yet, or the latest decision
QUEUE_STATES: Final = ("undecided", *DECISIONS)
_LATEST_DECISION_SQL: Final = (
    "SELECT account_id, argMax(decision, tuple(decided_ms, decision_id)) AS d FROM {db}.decisions GROUP BY account_id"
)

#: the logical key of each table: what "the same row" means (also its ReplacingMergeTree key)
KEYS: Final[dict[str, str]] = {
    "events": "event_id",
    "entity_links": "kind, entity, account_id, first_ms, last_ms",
    "slot_events": "slot_id, ts_ms, event_id",
    "dead_letters": "source, line_no, raw_hash",
    "feature_sets": "feature_set",
    "snapshots": "account_id, t_ms, model_version",
    "verdicts": "account_id, model_version, scored_ms",
    "current_verdicts": "account_id, model_version, scored_ms",
    "flags": "site, flagged_ms, account_id, model_version",
    "decisions": "decision_id",
    "models": "version",
    "users": "username",
    "audit": "audit_id",
}

#: an account's timeline: every stored event column but the account itself (implied), its
#: registration contact hashes and the raw line
_EVENT_FIELDS: Final = tuple(
    c for c in TABLE_COLUMNS["events"] if c not in ("account_id", "email_hash", "phone_hash", "email_domain", "raw")
)
#: an event's fields as :meth:`Store.account` returns them (contract names) -> the columns they come from
_FIELD_COLUMNS: Final = {{"ts_ms": "ts", "slot_start_ms": "slot_start"}.get(c, c): c for c in _EVENT_FIELDS}
_LINK_KINDS: Final = {"device": "shared_devices", "ip": "shared_addresses", "applicant": "shared_applicants"}


def open_store(url: str, *, pseudonym_key: str, create: bool = True) -> Store:
    """Open the store a URL names, applying pending migrations.

    ``create=False`` refuses to create a missing embedded directory or database (read-only
    commands use it, so a typo in a path does not leave an empty store behind).
    Raises StoreUrlError for a bad URL and StoreUnavailable when the store cannot be reached.
    """
    parsed = parse_store_url(url)
    backend = connect(parsed, create=create)
    try:
        if not create and not database_exists(backend, parsed.database):
            raise StoreUnavailable(
                f"store {parsed.display()} has no slotguard history yet (database "
                f"{parsed.database!r} is missing); `slotguard store migrate --store URL` creates it"
            )
        applied = apply_migrations(backend, parsed.database, create=create)
    except StoreError:
        backend.close()
        raise
    if applied:
        log.info("store %s: applied migrations %s", parsed.display(), applied)
    return Store(backend, parsed, pseudonym_key=pseudonym_key, applied=applied)


def _since_ms(since: datetime | int | None) -> int | None:
    if since is None or isinstance(since, int):
        return since
    return to_ms(since)


def _enc_hook(value: Any) -> Any:
    item = getattr(value, "item", None)  # numpy scalars
    if callable(item):
        return item()
    tolist = getattr(value, "tolist", None)  # numpy arrays
    if callable(tolist):
        return tolist()
    return str(value)


class Store:
    """History in ClickHouse (embedded or server): writer factory and investigator queries."""

    def __init__(self, backend: Backend, url: StoreUrl, *, pseudonym_key: str, applied: list[int]) -> None:
        self._backend = backend
        self.url = url
        self.database = url.database
        self.applied_migrations = applied
        self._pseudonym_key = pseudonym_key

    # --- basics --------------------------------------------------------------------------------

    @property
    def kind(self) -> str:
        """``chdb`` or ``server``."""
        return self._backend.kind

    @property
    def backend(self) -> Backend:
        """The connection (for tests and benchmarks that need raw SQL)."""
        return self._backend

    def version(self) -> str:
        """The ClickHouse engine version behind this store."""
        return self._backend.version()

    def schema_version(self) -> int:
        """The highest migration applied."""
        return max(applied_versions(self._backend, self.database), default=0)

    def close(self) -> None:
        """Close the connection (writers must be closed first)."""
        self._backend.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _sql(self, sql: str) -> list[tuple[Any, ...]]:
        return self._backend.query(render(sql, self.database))

    def writer(
        self,
        *,
        batch_rows: int = 10_000,
        flush_interval_s: float = 1.0,
        max_retries: int = 5,
        backoff_s: float = 0.5,
        max_backoff_s: float = 30.0,
        max_pending_rows: int = 2_000_000,
        pseudonymizer: Pseudonymizer | None = None,
    ) -> HistoryWriter:
        """A batched, idempotent writer for events, dead letters, snapshots, verdicts and flags.

        Pass the detect loop's own ``pseudonymizer`` (same key) to share its cache of pseudonyms.
        """
        return HistoryWriter(
            self._backend,
            self.database,
            pseudonymizer or Pseudonymizer(self._pseudonym_key),
            batch_rows=batch_rows,
            flush_interval_s=flush_interval_s,
            max_retries=max_retries,
            backoff_s=backoff_s,
            max_backoff_s=max_backoff_s,
            max_pending_rows=max_pending_rows,
        )

    def counts(self, *, logical: bool = True) -> dict[str, int]:
        """Rows per table: logical (one per key, what queries see) or physical (before merges)."""
        out: dict[str, int] = {}
        for table, key in KEYS.items():
            if logical:
                rows = self._sql(f"SELECT count() FROM (SELECT {key} FROM {{db}}.{table} GROUP BY {key})")
            else:
                rows = self._sql(f"SELECT count() FROM {{db}}.{table}")
            out[table] = int(rows[0][0])
        return out

    def _insert_retrying(self, table: str, row: Mapping[str, Any], attempts: int = 4) -> None:
        """Insert one row (a decision, a model), retried on connection loss; inline VALUES are avoided
        because old servers wait for data blocks after an INSERT sent over the native protocol."""
        columns = {name: [value] for name, value in row.items()}
        for attempt in range(1, attempts + 1):
            try:
                self._backend.insert(f"{self.database}.{table}", columns)
                return
            except StoreUnavailable:
                if attempt == attempts:
                    raise
                time.sleep(0.25 * 2 ** (attempt - 1))

    # --- flagged -------------------------------------------------------------------------------

    def flagged(
        self,
        *,
        site: str | None = None,
        since: datetime | int | None = None,
        until: datetime | int | None = None,
        reason_kind: str | None = None,
        decision: str | None = None,
        offset: int = 0,
        limit: int = 50,
    ) -> list[dict[str, Any]]:
        """Flagged accounts, highest current score first, with reasons and the latest decision.

        An account is flagged when its current verdict (latest ``scored_at``) says so; an account
        with a flag but no flagged verdict (verdicts not written yet) is listed from its flag.
        ``since`` / ``until`` keep accounts flagged at or after / before those event times;
        ``reason_kind`` (a name of ``storage.evidence.REASON_KINDS``) those with a reason of that kind;
        ``decision`` those whose latest decision is that one (``undecided``: none yet). ``offset``
        skips that many rows of the ranking (pages).
        """
        n = max(0, int(limit))
        skip = max(0, int(offset))
        site_cond = f" AND site = {lit(site)}" if site else ""
        ranked_rows = self._sql(
            "SELECT account_id, s FROM ("
            + self._ranked_sql(site, since, until, reason_kind)
            + ")"
            + self._decision_filter(decision)
            + f" ORDER BY s DESC, account_id LIMIT {skip:d}, {n:d}"
        )
        top = [r[0] for r in ranked_rows]
        if not top:
            return []
        # 2. details of the few accounts shown, by primary key
        details: dict[str, dict[str, Any]] = {}
        for account_id, row_site, model, scored_ms, score, flagged_ms, reasons, category in self._sql(
            "SELECT account_id, site, model_version, scored_ms, score, flagged_ms, reasons, category"
            f" FROM {{db}}.current_verdicts WHERE account_id IN {lits(top)}{site_cond}"
            " ORDER BY account_id, scored_ms DESC, row_version DESC LIMIT 1 BY account_id"
        ):
            details[account_id] = _flagged_row(account_id, row_site, score, flagged_ms, reasons, model, scored_ms)
            details[account_id]["category"] = category or None
        missing = [a for a in top if a not in details]
        if missing:
            for account_id, row_site, model, flagged_ms, score, reasons in self._sql(
                "SELECT account_id, site, model_version, flagged_ms, score, reasons FROM {db}.flags"
                f" WHERE account_id IN {lits(missing)}{site_cond}"
                " ORDER BY account_id, flagged_ms, row_version DESC LIMIT 1 BY account_id"
            ):
                details[account_id] = _flagged_row(account_id, row_site, score, flagged_ms, reasons, model, flagged_ms)
                details[account_id]["category"] = None
        ranked = [details[a] for a in top if a in details]
        latest = self._latest_decisions([r["account_id"] for r in ranked])
        for row in ranked:
            decision_row = latest.get(row["account_id"])
            row["decision"] = decision_row["decision"] if decision_row else None
            row["decided_by"] = decision_row["by"] if decision_row else None
            row["decided_at"] = decision_row["at"] if decision_row else None
        return ranked

    def queue_counts(
        self,
        *,
        site: str | None = None,
        since: datetime | int | None = None,
        until: datetime | int | None = None,
        reason_kind: str | None = None,
    ) -> dict[str, int]:
        """How many flagged accounts (same filters as :meth:`flagged`) are in each decision state."""
        rows = self._sql(
            "SELECT d, count() FROM (SELECT account_id FROM ("
            + self._ranked_sql(site, since, until, reason_kind)
            + ")) AS queue ANY LEFT JOIN ("
            + _LATEST_DECISION_SQL
            + ") AS latest USING account_id GROUP BY d"
        )
        counts = {state: 0 for state in QUEUE_STATES}
        for state, n in rows:
            counts[state or "undecided"] = counts.get(state or "undecided", 0) + int(n)
        counts["all"] = sum(counts[s] for s in QUEUE_STATES)
        return counts

    def _ranked_sql(
        self,
        site: str | None,
        since: datetime | int | None,
        until: datetime | int | None,
        reason_kind: str | None,
    ) -> str:
        """SQL of the ranking: (account_id, s = current score, fm = flagged at) of flagged accounts.

        The current verdict of every account that was ever flagged (latest scored_at, then latest
        write), plus accounts known only from a flag; verdict rows outrank flag rows. Narrow columns
        only (reasons only when filtering by their kind): this pass reads the whole current_verdicts table.
        """
        since_ms, until_ms = _since_ms(since), _since_ms(until)
        site_cond = f" AND site = {lit(site)}" if site else ""
        if reason_kind is not None and reason_kind not in evidence.KINDS_BY_NAME:
            raise ValueError(f"unknown reason kind {reason_kind!r}; known: {', '.join(evidence.KINDS_BY_NAME)}")
        with_reasons = reason_kind is not None
        reasons_col = ", reasons" if with_reasons else ""
        having = ["f = 1"]
        if since_ms is not None:
            having.append(f"fm >= {since_ms:d}")
        if until_ms is not None:
            having.append(f"fm < {until_ms:d}")
        if reason_kind is not None:
            having.append(evidence.kind_condition(reason_kind, "rs"))
        return (
            "SELECT account_id, argMax(score, k) AS s, argMax(flagged, k) AS f,"
            " argMax(ifNull(flagged_ms, 0), k) AS fm"
            + (", argMax(reasons, k) AS rs" if with_reasons else "")
            + f" FROM (SELECT account_id, score, flagged, flagged_ms{reasons_col},"
            " tuple(toUInt8(1), scored_ms, row_version) AS k FROM {db}.current_verdicts"
            " WHERE account_id IN (SELECT account_id FROM {db}.current_verdicts"
            f" WHERE flagged = 1{site_cond}){site_cond}"
            " UNION ALL SELECT account_id, score, toUInt8(1) AS flagged,"
            f" CAST(flagged_ms AS Nullable(Int64)) AS flagged_ms{reasons_col},"
            f" tuple(toUInt8(0), flagged_ms, row_version) AS k FROM {{db}}.flags WHERE 1{site_cond})"
            " GROUP BY account_id HAVING " + " AND ".join(having)
        )

    @staticmethod
    def _decision_filter(decision: str | None) -> str:
        if decision is None or decision == "all":
            return ""
        if decision == "undecided":
            return " WHERE account_id NOT IN (SELECT account_id FROM {db}.decisions)"
        if decision not in DECISIONS:
            raise ValueError(f"decision state must be one of {', '.join(QUEUE_STATES)}, not {decision!r}")
        return f" WHERE account_id IN (SELECT account_id FROM ({_LATEST_DECISION_SQL}) WHERE d = {lit(decision)})"

    def _latest_decisions(self, account_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        if not account_ids:
            return {}
        rows = self._sql(
            "SELECT account_id, decision_id, decision, note, decided_by, decided_ms FROM {db}.decisions "
            f"WHERE account_id IN {lits(account_ids)} "
            "ORDER BY account_id, decided_ms DESC, decision_id DESC LIMIT 1 BY account_id"
        )
        return {r[0]: {"decision_id": r[1], "decision": r[2], "note": r[3], "by": r[4], "at": iso(r[5])} for r in rows}

    # --- one account ---------------------------------------------------------------------------

    def account(
        self,
        account_id: str,
        *,
        max_events: int | None = 1000,
        handoff_window_s: float = HANDOFF_WINDOW_S,
        shared_activity: bool = True,
        event_fields: Sequence[str] | None = None,
        chains: bool = False,
    ) -> dict[str, Any]:
        """Everything about one account: timeline, current verdict, flags, decisions, linked accounts.

        ``events`` holds the latest ``max_events`` events in time order (all of them when None);
        ``events_total`` says how many there are. ``event_fields`` keeps only those fields of each
        event (names as returned, e.g. ``ts``; ``event_id`` and ``ts`` always; default: all), so
        only their columns are read. ``shared_activity=False`` leaves out how many of each linked
        account's events used the shared entities (their ``events``, then 0): the costliest query
        of the view, which the console does not show. ``chains=True`` adds ``handoff_chains``
        (:meth:`handoff_chains`, from the same reads as the handoffs). Raises UnknownAccount when
        nothing is known.
        """
        a = lit(account_id)
        (total, first_ms, last_ms, sites, devices, ips, applicants) = self._sql(
            "SELECT uniqExact(event_id), min(ts_ms), max(ts_ms), groupUniqArray(site), "
            "groupUniqArray(device_id), groupUniqArray(ip), groupUniqArray(applicant_id) "
            f"FROM {{db}}.events WHERE account_id = {a}"
        )[0]
        verdict = self._current_verdict(account_id)
        flags = self._flags_of(account_id)
        decisions = self._decisions_of(account_id)
        if not total and verdict is None and not flags and not decisions:
            raise UnknownAccount(account_id)
        columns = _event_columns(event_fields)
        latest = "ORDER BY ts_ms DESC, event_id DESC LIMIT 1 BY event_id"
        if max_events:
            # the latest events are found on the two narrow columns first (PREWHERE): the others are
            # read only where those events are, not for the account's whole history
            latest += f" LIMIT {int(max_events):d}"
            where = (
                f"PREWHERE (ts_ms, event_id) IN (SELECT ts_ms, event_id FROM {{db}}.events WHERE account_id = {a}"
                f" {latest}) WHERE account_id = {a}"
            )
        else:
            where = f"WHERE account_id = {a}"
        rows = self._sql(f"SELECT {', '.join(columns)} FROM {{db}}.events {where} {latest}")
        events = [_event_dict(columns, row) for row in reversed(rows)]
        window_ms = round(handoff_window_s * 1000)
        slots = self._slot_activity(account_id)
        linked = self._linked(
            account_id,
            devices=sorted(d for d in devices if d),
            ips=sorted(i for i in ips if i),
            applicants=sorted(x for x in applicants if x),
            window_ms=window_ms,
            slots=slots,
            shared_activity=shared_activity,
        )
        view = {
            "account_id": account_id,
            "sites": sorted(s for s in sites if s),
            "first_seen": iso(first_ms) if total else None,
            "last_seen": iso(last_ms) if total else None,
            "events_total": int(total),
            "events_shown": len(events),
            "events": events,
            "verdict": verdict,
            "flags": flags,
            "decisions": decisions,
            "label": _label(decisions[-1]["decision"]) if decisions else None,
            "linked": linked,
        }
        if chains:
            view["handoff_chains"] = _chains(account_id, slots, window_ms)
        return view

    def _current_verdict(self, account_id: str) -> dict[str, Any] | None:
        rows = self._sql(
            "SELECT site, model_version, scored_ms, score, flagged, flagged_ms, reasons, category, buyers "
            f"FROM {{db}}.current_verdicts WHERE account_id = {lit(account_id)} "
            "ORDER BY scored_ms DESC, row_version DESC LIMIT 1"
        )
        if not rows:
            return None
        site, model, scored_ms, score, flagged, flagged_ms, reasons, category, buyers = rows[0]
        return {
            "score": score,
            "flagged": bool(flagged),
            "flagged_at": iso(flagged_ms),
            "reasons": list(reasons),
            "category": category or None,
            "buyers": list(buyers),
            "model_version": model,
            "scored_at": iso(scored_ms),
            "site": site,
        }

    def _flags_of(self, account_id: str) -> list[dict[str, Any]]:
        rows = self._sql(
            "SELECT site, flagged_ms, score, threshold, reasons, model_version FROM {db}.flags "
            f"WHERE account_id = {lit(account_id)} "
            "ORDER BY flagged_ms, model_version, row_version DESC LIMIT 1 BY flagged_ms, model_version"
        )
        return [
            {
                "flagged_at": iso(flagged_ms),
                "score": score,
                "threshold": threshold,
                "reasons": list(reasons),
                "model_version": model,
                "site": site,
            }
            for site, flagged_ms, score, threshold, reasons, model in rows
        ]

    def _decisions_of(self, account_id: str) -> list[dict[str, Any]]:
        rows = self._sql(
            "SELECT decision_id, decision, note, decided_by, decided_ms FROM {db}.decisions "
            f"WHERE account_id = {lit(account_id)} "
            "ORDER BY decided_ms, decision_id, row_version DESC LIMIT 1 BY decision_id"
        )
        return [
            {"decision_id": d_id, "decision": decision, "note": note, "by": by, "at": iso(ms)}
            for d_id, decision, note, by, ms in rows
        ]

    def _linked(
        self,
        account_id: str,
        *,
        devices: list[str],
        ips: list[str],
        applicants: list[str],
        window_ms: int,
        slots: Mapping[str, list[tuple[int, str, str]]],
        shared_activity: bool = True,
    ) -> dict[str, Any]:
        a = lit(account_id)
        linked: dict[str, Any] = {name: [] for name in _LINK_KINDS.values()}
        counts: dict[str, int] = {name: 0 for name in _LINK_KINDS.values()}
        wanted = {"device": devices, "ip": ips, "applicant": applicants}
        # one branch per kind: each is a primary-key range (an OR of kinds would scan the table)
        branches = [
            "SELECT kind, account_id, entity, first_ms, last_ms FROM {db}.entity_links "
            f"WHERE kind = {lit(kind)} AND entity IN {lits(keys)} AND account_id != {a}"
            for kind, keys in wanted.items()
            if keys
        ]
        if branches:
            cap = 20 * LINKED_LIMIT
            rows = self._sql(
                "SELECT kind, account_id, uniqExact(entity) AS shared, min(first_ms), max(last_ms) FROM ("
                + " UNION ALL ".join(branches)
                + f") GROUP BY kind, account_id ORDER BY kind, shared DESC, account_id LIMIT {cap:d} BY kind"
            )
            per_kind: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
            for row in rows:
                per_kind[row[0]].append(row)
            for kind, found in per_kind.items():
                counts[_LINK_KINDS[kind]] = len(found)
            if any(len(found) >= cap for found in per_kind.values()):  # a hot entity: count them all
                for kind, n in self._sql(
                    "SELECT kind, uniqExact(account_id) FROM (" + " UNION ALL ".join(branches) + ") GROUP BY kind"
                ):
                    counts[_LINK_KINDS[kind]] = int(n)
            shown = [row for found in per_kind.values() for row in found[:LINKED_LIMIT]]
            activity = self._shared_activity(sorted({r[1] for r in shown}), wanted) if shared_activity else {}
            for kind, other, shared, first_ms, last_ms in shown:
                linked[_LINK_KINDS[kind]].append(
                    {
                        "account_id": other,
                        "shared": int(shared),
                        "events": activity.get((kind, other), 0),
                        "first_seen": iso(first_ms),
                        "last_seen": iso(last_ms),
                    }
                )
        out, into = _handoffs(account_id, slots, window_ms)
        linked["handoffs_out"] = out[:LINKED_LIMIT]
        linked["handoffs_in"] = into[:LINKED_LIMIT]
        counts["handoffs_out"] = len(out)
        counts["handoffs_in"] = len(into)
        linked["counts"] = counts
        linked["handoff_window_s"] = window_ms / 1000
        return linked

    def _shared_activity(self, others: list[str], wanted: Mapping[str, list[str]]) -> dict[tuple[str, str], int]:
        """(kind, account) -> how many of that account's events used one of the shared entities."""
        if not others:
            return {}
        column = {"device": "device_id", "ip": "ip", "applicant": "applicant_id"}
        kinds = [kind for kind, keys in wanted.items() if keys]
        counts = ", ".join(f"uniqExactIf(event_id, {column[kind]} IN {lits(wanted[kind])})" for kind in kinds)
        found: dict[tuple[str, str], int] = {}
        for row in self._sql(
            f"SELECT account_id, {counts} FROM {{db}}.events WHERE account_id IN {lits(others)} GROUP BY account_id"
        ):
            for kind, n in zip(kinds, row[1:], strict=True):
                found[(kind, row[0])] = int(n)
        return found

    def _slot_activity(self, account_id: str) -> dict[str, list[tuple[int, str, str]]]:
        """Per slot the account booked or cancelled: every booking and cancellation of it, by any
        account, as ``(ts_ms, type, account)`` in time order (one read for handoffs and chains)."""
        per_slot: dict[str, list[tuple[int, str, str]]] = defaultdict(list)
        for slot, other, kind, ts_ms in self._sql(
            "SELECT slot_id, account_id, type, ts_ms FROM {db}.slot_events WHERE slot_id IN ("
            f"SELECT slot_id FROM {{db}}.events WHERE account_id = {lit(account_id)} AND slot_id != ''"
            " AND type IN ('booking_cancelled', 'booking_created')) LIMIT 1 BY event_id"
        ):
            per_slot[slot].append((int(ts_ms), kind, other))
        for rows in per_slot.values():
            rows.sort()
        return per_slot

    # --- decisions and labels ------------------------------------------------------------------

    def known(self, account_id: str) -> bool:
        """Whether the store has any events, verdicts or flags for this account."""
        a = lit(account_id)
        return any(
            self._sql(f"SELECT 1 FROM {{db}}.{table} WHERE account_id = {a} LIMIT 1")
            for table in ("events", "verdicts", "flags")
        )

    def decide(
        self, account_id: str, decision: str, note: str, by: str, *, at: datetime | None = None
    ) -> dict[str, Any]:
        """Record an investigator's decision on an account (it becomes the account's training label)."""
        if decision not in DECISIONS:
            raise ValueError(f"decision must be one of {', '.join(DECISIONS)}, not {decision!r}")
        if not by.strip():
            raise ValueError("a decision needs the name of who made it (--by)")
        if not self.known(account_id):
            raise UnknownAccount(account_id)
        decided_ms = to_ms(at) if at is not None else int(time.time() * 1000)
        decision_id = uuid.uuid4().hex
        self._insert_retrying(
            "decisions",
            {
                "decision_id": decision_id,
                "account_id": account_id,
                "decision": decision,
                "note": note,
                "decided_by": by,
                "decided_ms": decided_ms,
                "row_version": time.time_ns(),
            },
        )
        return {
            "decision_id": decision_id,
            "account_id": account_id,
            "decision": decision,
            "note": note,
            "by": by,
            "at": iso(decided_ms),
            "label": _label(decision),
        }

    def labels(self) -> list[dict[str, Any]]:
        """The latest decision per account, as training labels (confirm 1, dismiss 0, escalate None)."""
        rows = self._sql(
            "SELECT account_id, decision, decided_by, decided_ms, note FROM {db}.decisions "
            "ORDER BY account_id, decided_ms DESC, decision_id DESC LIMIT 1 BY account_id"
        )
        return [
            {
                "account_id": account_id,
                "decision": decision,
                "label": _label(decision),
                "by": by,
                "at": iso(ms),
                "note": note,
            }
            for account_id, decision, by, ms, note in rows
        ]

    # --- the investigator console: evidence, score over time, operations, overview ----------

    def evidence(self, view: Mapping[str, Any]) -> list[dict[str, Any]]:
        """The events behind each reason of an account's current verdict (see ``storage.evidence``).

        ``view`` is what :meth:`account` returned for the account (its verdict, linked accounts).
        Each reason comes with its kind, family, the types of its events and the ids of its events
        in time order (at most ``evidence.MAX_EVIDENCE_EVENTS``; ``events_total`` counts them all).
        One query selects them (``evidence.plan``), and one more reads the releases of the booked
        slots when a reason is about booking speed.
        """
        verdict = view.get("verdict") or {}
        reasons: list[str] = list(verdict.get("reasons") or [])
        if not reasons and view.get("flags"):
            reasons = list(view["flags"][-1]["reasons"])
        plan = evidence.plan(reasons, str(view["account_id"]), view.get("linked") or {})
        if not plan.needed:
            return evidence.assemble(plan, None)
        return evidence.assemble(plan, self._sql(plan.sql())[0], self._releases)

    def _releases(self, slots: list[str]) -> dict[str, list[int]]:
        """Release times (ms) of these slots."""
        found: dict[str, list[int]] = defaultdict(list)
        for slot, ts_ms in self._sql(
            "SELECT slot_id, ts_ms FROM {db}.events WHERE account_id = '' AND type = 'slot_released'"
            f" AND slot_id IN {lits(slots)} LIMIT 1 BY event_id"
        ):
            found[slot].append(int(ts_ms))
        return found

    def events_by_id(
        self, account_id: str, event_ids: Sequence[str], *, fields: Sequence[str] | None = None
    ) -> list[dict[str, Any]]:
        """Some of an account's events, by id, in time order (a reason's evidence shown as a timeline).

        ``fields`` as :meth:`account`'s ``event_fields``. The ids are matched first (PREWHERE), so
        the other columns are read only for the events asked for.
        """
        if not event_ids:
            return []
        columns = _event_columns(fields)
        rows = self._sql(
            f"SELECT {', '.join(columns)} FROM {{db}}.events PREWHERE event_id IN {lits(sorted(set(event_ids)))}"
            f" WHERE account_id = {lit(account_id)} ORDER BY ts_ms, event_id LIMIT 1 BY event_id"
        )
        return [_event_dict(columns, row) for row in rows]

    def score_history(self, account_id: str, *, max_points: int = 240) -> dict[str, Any]:
        """The account's score over event time (peak per time bucket, from its snapshots) and the threshold."""
        a = lit(account_id)
        snapshots = self._sql(
            f"SELECT t_ms, max(score) FROM {{db}}.snapshots WHERE account_id = {a} GROUP BY t_ms ORDER BY t_ms"
        )
        points: list[dict[str, Any]] = []
        if snapshots:
            first_ms, last_ms = int(snapshots[0][0]), int(snapshots[-1][0])
            bucket = max(60_000, -(-(last_ms - first_ms + 1) // max(1, max_points)))
            peaks: dict[int, float] = {}
            for t_ms, score in snapshots:
                b = int(t_ms) // bucket * bucket
                peaks[b] = max(peaks.get(b, float(score)), float(score))
            points = [{"t": iso(b), "score": score} for b, score in sorted(peaks.items())]
        threshold = self._sql(
            f"SELECT threshold FROM {{db}}.flags WHERE account_id = {a} ORDER BY flagged_ms DESC LIMIT 1"
        )
        if not threshold:
            threshold = self._sql(
                "SELECT threshold FROM {db}.models WHERE version IN (SELECT model_version FROM {db}.current_verdicts"
                f" WHERE account_id = {a}) ORDER BY registered_ms DESC LIMIT 1"
            )
        return {"points": points, "threshold": float(threshold[0][0]) if threshold else None}

    def handoff_chains(
        self, account_id: str, *, handoff_window_s: float = HANDOFF_WINDOW_S, limit: int = 50
    ) -> list[dict[str, Any]]:
        """Per slot the account handed over or received: the chain of who cancelled it and who booked it.

        Each chain is the slot's hops in time order, ``{"from", "cancelled_at", "to", "booked_at",
        "gap_s"}``, where a hop is a cancel followed by another account's booking of the slot within
        the window; only chains with a hop involving the account are returned (at most ``limit``).
        """
        return _chains(account_id, self._slot_activity(account_id), round(handoff_window_s * 1000), limit)

    def verdicts_of(self, account_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The current verdict (score, flagged, category, site, reasons) of each of these accounts."""
        ids = sorted(set(account_ids))
        if not ids:
            return {}
        found: dict[str, dict[str, Any]] = {}
        for account_id, site, score, flagged, flagged_ms, reasons, category, buyers in self._sql(
            "SELECT account_id, site, score, flagged, flagged_ms, reasons, category, buyers"
            f" FROM {{db}}.current_verdicts WHERE account_id IN {lits(ids)}"
            " ORDER BY account_id, scored_ms DESC, row_version DESC LIMIT 1 BY account_id"
        ):
            found[account_id] = {
                "site": site,
                "score": float(score),
                "flagged": bool(flagged),
                "flagged_at": iso(flagged_ms),
                "reasons": list(reasons),
                "category": category or None,
                "buyers": list(buyers),
            }
        return found

    def operation(
        self,
        account_id: str,
        *,
        max_accounts: int = 60,
        max_depth: int = 3,
        handoff_window_s: float = HANDOFF_WINDOW_S,
    ) -> dict[str, Any]:
        """The connected group of accounts around one: an operation to judge once.

        Breadth first from the account, through handoffs (either way) and through devices,
        addresses (pseudonyms) and applicants shared with accounts that are themselves flagged: a
        shared device alone links nobody (a cyber-café PC), a shared device with a flagged account
        does. Only flagged members are expanded; handoff counterparts that are not flagged (the
        buyers, victims) are members but lead no further. At most ``max_accounts`` members.
        Raises UnknownAccount when nothing is known about the account.
        """
        if not self.known(account_id):
            raise UnknownAccount(account_id)
        window_ms = round(handoff_window_s * 1000)
        depth_of: dict[str, int] = {account_id: 0}
        edges: dict[tuple[str, str, str], int] = {}
        frontier = [account_id]
        verdicts = self.verdicts_of([account_id])
        truncated = False
        for depth in range(1, max_depth + 1):
            if not frontier:
                break
            candidates: dict[str, list[tuple[str, str, int]]] = defaultdict(list)  # other -> (via, kind, n)
            for (giver, taker), n in self._handoff_pairs(frontier, window_ms).items():
                inside, other = (giver, taker) if giver in frontier else (taker, giver)
                candidates[other].append((inside, "handoff", n))
                edges[(giver, taker, "handoff")] = n
            for inside, other, kind, n in self._shared_pairs(frontier):
                candidates[other].append((inside, kind, n))
            unseen = [a for a in candidates if a not in depth_of]
            verdicts.update(self.verdicts_of(unseen))
            next_frontier: list[str] = []
            # strongest ties first, so the cap keeps the operation's core
            for other in sorted(unseen, key=lambda a: (-len(candidates[a]), -verdicts.get(a, {}).get("score", 0), a)):
                verdict = verdicts.get(other, {})
                via_handoff = any(kind == "handoff" for _, kind, _ in candidates[other])
                if not verdict.get("flagged") and not via_handoff:
                    continue  # shared infrastructure with an account that does not behave suspiciously
                if len(depth_of) >= max_accounts:
                    truncated = True
                    break
                depth_of[other] = depth
                if verdict.get("flagged"):
                    next_frontier.append(other)
            for other, ties in candidates.items():
                for inside, kind, n in ties:
                    if kind != "handoff" and other in depth_of and inside in depth_of:
                        a, b = sorted((inside, other))
                        edges[(a, b, kind)] = max(edges.get((a, b, kind), 0), n)
            frontier = next_frontier
            if truncated:
                break
        decisions = self._latest_decisions(list(depth_of))
        members = []
        for member, depth in depth_of.items():
            verdict = verdicts.get(member, {})
            decision = decisions.get(member)
            members.append(
                {
                    "account_id": member,
                    "depth": depth,
                    "site": verdict.get("site", ""),
                    "score": verdict.get("score"),
                    "flagged": bool(verdict.get("flagged")),
                    "category": verdict.get("category"),
                    "reasons": verdict.get("reasons", []),
                    "decision": decision["decision"] if decision else None,
                }
            )
        members.sort(key=lambda m: (m["depth"], not m["flagged"], -(m["score"] or 0), m["account_id"]))
        kept = [
            {"a": a, "b": b, "kind": kind, "weight": n}
            for (a, b, kind), n in sorted(edges.items())
            if a in depth_of and b in depth_of
        ]
        return {
            "account_id": account_id,
            "members": members,
            "edges": kept,
            "flagged": sum(1 for m in members if m["flagged"]),
            "victims": sum(1 for m in members if m["category"] == "resale_buyer"),
            "truncated": truncated,
            "max_accounts": max_accounts,
            "handoff_window_s": window_ms / 1000,
        }

    def _handoff_pairs(self, accounts: Sequence[str], window_ms: int) -> dict[tuple[str, str], int]:
        """(giver, taker) -> handoffs, for handoffs where either side is one of ``accounts``."""
        mine = self._sql(
            "SELECT DISTINCT slot_id FROM {db}.events "
            f"WHERE account_id IN {lits(accounts)} AND slot_id != '' "
            "AND type IN ('booking_cancelled', 'booking_created')"
        )
        if not mine:
            return {}
        slots = sorted(r[0] for r in mine)
        per_slot: dict[str, list[tuple[int, str, str]]] = defaultdict(list)
        for slot, other, kind, ts_ms in self._sql(
            "SELECT slot_id, account_id, type, ts_ms FROM {db}.slot_events "
            f"WHERE slot_id IN {lits(slots)} LIMIT 1 BY event_id"
        ):
            per_slot[slot].append((int(ts_ms), kind, other))
        inside = set(accounts)
        pairs: dict[tuple[str, str], int] = defaultdict(int)
        for rows in per_slot.values():
            rows.sort()
            for _t_cancel, giver, rebookings in _rebookings(rows, window_ms):
                for _t_book, taker in rebookings:
                    if giver in inside or taker in inside:
                        pairs[(giver, taker)] += 1
        return pairs

    def _shared_pairs(self, accounts: Sequence[str]) -> list[tuple[str, str, str, int]]:
        """(member, other, kind, entities shared) for devices, addresses, applicants of ``accounts``."""
        rows = self._sql(
            "SELECT account_id, groupUniqArray(device_id), groupUniqArray(ip), groupUniqArray(applicant_id)"
            f" FROM {{db}}.events WHERE account_id IN {lits(accounts)} GROUP BY account_id"
        )
        owners: dict[tuple[str, str], set[str]] = defaultdict(set)  # (kind, entity) -> members using it
        for member, devices, ips, applicants in rows:
            for kind, keys in (("device", devices), ("ip", ips), ("applicant", applicants)):
                for key in keys:
                    if key:
                        owners[(kind, key)].add(member)
        if not owners:
            return []
        by_kind: dict[str, list[str]] = defaultdict(list)
        for kind, key in owners:
            by_kind[kind].append(key)
        branches = [
            "SELECT kind, entity, account_id FROM {db}.entity_links"
            f" WHERE kind = {lit(kind)} AND entity IN {lits(keys)}"
            for kind, keys in sorted(by_kind.items())
        ]
        shared: dict[tuple[str, str, str], int] = defaultdict(int)
        for kind, entity, other in self._sql(
            "SELECT DISTINCT kind, entity, account_id FROM (" + " UNION ALL ".join(branches) + ")"
        ):
            for member in owners[(kind, entity)]:
                if other != member:
                    shared[(member, other, kind)] += 1
        return [(member, other, kind, n) for (member, other, kind), n in shared.items()]

    def overview(self, *, site: str | None = None, handoff_window_s: float = HANDOFF_WINDOW_S) -> dict[str, Any]:
        """Per day and site: accounts flagged, handoffs, flags dismissed; and the top reason kinds."""
        site_cond = f" AND site = {lit(site)}" if site else ""
        days: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: {"flags": 0, "handoffs": 0, "dismissed": 0})
        # each account counts once, on the day it was first flagged (by an alert or by a verdict)
        first_flags = (
            "SELECT account_id, argMin(site, fm) AS site,"
            " toString(toDate(toDateTime(intDiv(min(fm), 1000), 'UTC'))) AS day FROM ("
            f"SELECT account_id, site, flagged_ms AS fm FROM {{db}}.flags WHERE 1{site_cond}"
            " UNION ALL SELECT account_id, site, assumeNotNull(flagged_ms) AS fm FROM {db}.current_verdicts"
            f" WHERE flagged = 1 AND isNotNull(flagged_ms){site_cond}) GROUP BY account_id"
        )
        for day, row_site, n in self._sql(f"SELECT day, site, count() FROM ({first_flags}) GROUP BY day, site"):
            days[(day, row_site)]["flags"] = int(n)
        for day, row_site, n in self._sql(
            f"SELECT day, site, count() FROM ({first_flags}) AS flagged ANY INNER JOIN ("
            + _LATEST_DECISION_SQL
            + ") AS latest USING account_id WHERE d = 'dismiss' GROUP BY day, site"
        ):
            days[(day, row_site)]["dismissed"] = int(n)
        window_ms = round(handoff_window_s * 1000)
        per_slot: dict[tuple[str, str], list[tuple[int, str, str]]] = defaultdict(list)
        for row_site, slot, ts_ms, kind, account in self._sql(
            "SELECT site, slot_id, ts_ms, type, account_id FROM {db}.events"
            f" WHERE type IN ('booking_cancelled', 'booking_created') AND slot_id != ''{site_cond}"
            " LIMIT 1 BY event_id"
        ):
            per_slot[(row_site, slot)].append((int(ts_ms), kind, account))
        for (row_site, _slot), rows in per_slot.items():
            rows.sort()
            for (t1, k1, a1), (t2, k2, a2) in pairwise(rows):
                if k1 == "booking_cancelled" and k2 == "booking_created" and a1 != a2 and t2 - t1 <= window_ms:
                    days[(str(iso(t2))[:10], row_site)]["handoffs"] += 1
        kinds: dict[str, int] = defaultdict(int)
        flagged = 0
        for (reasons,) in self._sql(
            "SELECT argMax(reasons, tuple(scored_ms, row_version)) FROM {db}.current_verdicts"
            f" WHERE account_id IN (SELECT account_id FROM {{db}}.current_verdicts WHERE flagged = 1{site_cond})"
            f"{site_cond} GROUP BY account_id HAVING argMax(flagged, tuple(scored_ms, row_version)) = 1"
        ):
            flagged += 1
            for name in {k.name for k in map(evidence.classify, reasons) if k is not None}:
                kinds[name] += 1
        per_day: list[dict[str, Any]] = [
            {"day": day, "site": row_site, **figures} for (day, row_site), figures in sorted(days.items())
        ]
        top = sorted(kinds.items(), key=lambda kv: (-kv[1], kv[0]))
        return {
            "days": per_day,
            "sites": sorted({r["site"] for r in per_day}),
            "flagged_now": flagged,
            "reason_kinds": [
                {"kind": name, "title": evidence.KINDS_BY_NAME[name].title, "accounts": n} for name, n in top
            ],
        }

    # --- console users and the audit trail -----------------------------------------------------

    def user(self, username: str) -> dict[str, Any] | None:
        """A console user (with its password hash), or None."""
        rows = self._sql(
            "SELECT username, role, password_hash, disabled, changed_by, changed_ms FROM {db}.users"
            f" WHERE username = {lit(username)} ORDER BY row_version DESC LIMIT 1"
        )
        if not rows:
            return None
        name, role, password_hash, disabled, changed_by, changed_ms = rows[0]
        return {
            "username": name,
            "role": role,
            "password_hash": password_hash,
            "disabled": bool(disabled),
            "changed_by": changed_by,
            "changed_at": iso(changed_ms),
        }

    def users(self) -> list[dict[str, Any]]:
        """Every console user (without password hashes), by name."""
        rows = self._sql(
            "SELECT username, role, disabled, changed_by, changed_ms FROM {db}.users"
            " ORDER BY username, row_version DESC LIMIT 1 BY username"
        )
        return [
            {"username": u, "role": r, "disabled": bool(d), "changed_by": by, "changed_at": iso(ms)}
            for u, r, d, by, ms in rows
        ]

    def save_user(self, username: str, role: str, password_hash: str, *, disabled: bool, by: str) -> dict[str, Any]:
        """Write a user's new state (added, disabled, enabled, new password): a new row version."""
        if not username.strip() or not role:
            raise ValueError("a user needs a name and a role")
        now_ms = int(time.time() * 1000)
        self._insert_retrying(
            "users",
            {
                "username": username,
                "role": role,
                "password_hash": password_hash,
                "disabled": 1 if disabled else 0,
                "changed_by": by,
                "changed_ms": now_ms,
                "row_version": time.time_ns(),
            },
        )
        return {"username": username, "role": role, "disabled": disabled, "changed_by": by, "changed_at": iso(now_ms)}

    def audit_append(
        self,
        *,
        username: str,
        role: str,
        action: str,
        target: str = "",
        purpose: str = "",
        address: str = "",
        session_id: str = "",
        detail: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Append one entry to the audit trail (there is no way to change or remove one)."""
        row = {
            "audit_id": uuid.uuid4().hex,
            "at_ms": int(time.time() * 1000),
            "username": username,
            "role": role,
            "action": action,
            "target": target,
            "purpose": purpose,
            "address": address,
            "session_id": session_id,
            "detail": msgspec.json.encode(dict(detail or {}), enc_hook=_enc_hook).decode(),
        }
        self._insert_retrying("audit", row)
        return _audit_dict(tuple(row[c] for c in _AUDIT_FIELDS))

    def audit(
        self,
        *,
        username: str | None = None,
        action: str | None = None,
        target: str | None = None,
        session_id: str | None = None,
        since: datetime | int | None = None,
        offset: int = 0,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        """Audit entries, newest first, optionally for one user, action, target, session or since a time."""
        conds = []
        for column, value in (
            ("username", username),
            ("action", action),
            ("target", target),
            ("session_id", session_id),
        ):
            if value:
                conds.append(f"{column} = {lit(value)}")
        since_ms = _since_ms(since)
        if since_ms is not None:
            conds.append(f"at_ms >= {since_ms:d}")
        where = " WHERE " + " AND ".join(conds) if conds else ""
        rows = self._sql(
            f"SELECT {', '.join(_AUDIT_FIELDS)} FROM {{db}}.audit{where}"
            f" ORDER BY at_ms DESC, audit_id DESC LIMIT {max(0, int(offset)):d}, {max(0, int(limit)):d}"
        )
        return [_audit_dict(row) for row in rows]

    # --- model registry ------------------------------------------------------------------------

    def register_model(self, metadata: Mapping[str, Any]) -> None:
        """Record a model version's metadata (idempotent by version; the latest registration wins).

        Key fields are stored as columns (version, created_at, feature names and hash, sklearn
        version, threshold) and the whole mapping as JSON (training summary, metrics, ...).
        """
        version = str(metadata.get("version") or "")
        if not version:
            raise ValueError("model metadata needs a 'version'")
        created = metadata.get("created_at")
        if isinstance(created, datetime):
            created_ms = to_ms(created)
        elif isinstance(created, str) and created:
            created_ms = to_ms(datetime.fromisoformat(created.replace("Z", "+00:00")))
        elif isinstance(created, int | float):
            created_ms = round(created * 1000)
        else:
            created_ms = int(time.time() * 1000)
        names = [str(n) for n in (metadata.get("feature_names") or [])]
        threshold = metadata.get("threshold")
        document = msgspec.json.encode(dict(metadata), enc_hook=_enc_hook).decode()
        self._insert_retrying(
            "models",
            {
                "version": version,
                "created_ms": created_ms,
                "feature_names": names,
                "feature_hash": str(metadata.get("feature_hash") or ""),
                "sklearn_version": str(metadata.get("sklearn_version") or ""),
                "threshold": float(threshold) if threshold is not None else 0.0,
                "metadata": document,
                "registered_ms": time.time_ns(),
            },
        )

    def models(self) -> list[dict[str, Any]]:
        """Registered model versions, newest first, with their full metadata."""
        rows = self._sql(
            "SELECT version, created_ms, feature_hash, sklearn_version, threshold, metadata FROM {db}.models "
            "ORDER BY version, registered_ms DESC LIMIT 1 BY version"
        )
        found = [
            {
                "version": version,
                "created_at": iso(created_ms),
                "feature_hash": feature_hash,
                "sklearn_version": sklearn_version,
                "threshold": threshold,
                "metadata": msgspec.json.decode(metadata) if metadata else {},
            }
            for version, created_ms, feature_hash, sklearn_version, threshold, metadata in rows
        ]
        return sorted(found, key=lambda m: (m["created_at"] or "", m["version"]), reverse=True)

    # --- retention -----------------------------------------------------------------------------

    def retention(self, months: int, *, as_of: date | None = None, dry_run: bool = True) -> list[retention.Partition]:
        """Partitions older than ``months`` (whole calendar months); dropped unless ``dry_run``."""
        as_of = as_of or datetime.now(UTC).date()
        doomed = retention.plan(self._backend, self.database, months, as_of)
        if not dry_run:
            retention.drop(self._backend, self.database, doomed)
        return doomed


_AUDIT_FIELDS: Final = (
    "audit_id",
    "at_ms",
    "username",
    "role",
    "action",
    "target",
    "purpose",
    "address",
    "session_id",
    "detail",
)


def _audit_dict(row: tuple[Any, ...]) -> dict[str, Any]:
    out = dict(zip(_AUDIT_FIELDS, row, strict=True))
    out["at"] = iso(out.pop("at_ms"))
    out["detail"] = msgspec.json.decode(out["detail"]) if out["detail"] else {}
    return out


def _label(decision: str) -> int | None:
    return {"confirm": 1, "dismiss": 0}.get(decision)


def _event_columns(fields: Sequence[str] | None) -> tuple[str, ...]:
    """The event columns to read for these fields (all when None), in the table's order."""
    if fields is None:
        return _EVENT_FIELDS
    unknown = set(fields) - set(_FIELD_COLUMNS)
    if unknown:
        raise ValueError(f"unknown event fields {sorted(unknown)}; known: {', '.join(_FIELD_COLUMNS)}")
    wanted = {_FIELD_COLUMNS[f] for f in fields} | {"event_id", "ts_ms"}  # ts_ms: the timeline's order
    return tuple(c for c in _EVENT_FIELDS if c in wanted)


def _event_dict(columns: Sequence[str], row: tuple[Any, ...]) -> dict[str, Any]:
    """An event as stored, in contract field names, without empty fields (the IP as its pseudonym)."""
    out: dict[str, Any] = {}
    for name, value in zip(columns, row, strict=True):
        if value is None or value == "":
            continue
        if name == "ts_ms":
            out["ts"] = iso(value)
        elif name == "slot_start_ms":
            out["slot_start"] = iso(value)
        elif name == "success":
            out["success"] = bool(value)
        else:
            out[name] = value
    return out


def _handoffs(
    account_id: str, per_slot: Mapping[str, list[tuple[int, str, str]]], window_ms: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Who booked the slots this account cancelled, and whose cancelled slots it booked, in the window
    (``per_slot`` as ``Store._slot_activity`` returns it)."""
    out: dict[str, list[tuple[str, float]]] = defaultdict(list)
    into: dict[str, list[tuple[str, float]]] = defaultdict(list)
    for slot, rows in per_slot.items():
        mine = [(t, kind) for t, kind, who in rows if who == account_id]
        others = [(t, kind, who) for t, kind, who in rows if who != account_id]
        for ts_ms, kind in mine:
            for t, other_kind, other in others:
                if kind == "booking_cancelled" and other_kind == "booking_created" and 0 <= t - ts_ms <= window_ms:
                    out[other].append((slot, (t - ts_ms) / 1000))
                elif kind == "booking_created" and other_kind == "booking_cancelled" and 0 <= ts_ms - t <= window_ms:
                    into[other].append((slot, (ts_ms - t) / 1000))

    def summarise(found: dict[str, list[tuple[str, float]]]) -> list[dict[str, Any]]:
        rows = [
            {
                "account_id": other,
                "count": len(pairs),
                "min_gap_s": min(gap for _, gap in pairs),
                "slots": sorted({slot for slot, _ in pairs})[:10],
            }
            for other, pairs in found.items()
        ]
        return sorted(rows, key=lambda r: (-r["count"], r["account_id"]))

    return summarise(out), summarise(into)


def _rebookings(
    rows: Sequence[tuple[int, str, str]], window_ms: int
) -> Iterator[tuple[int, str, Iterator[tuple[int, str]]]]:
    """For each cancellation in a slot's time-sorted ``(ts_ms, type, account)`` rows: its time, who
    cancelled, and the bookings of the slot by other accounts within ``window_ms`` after it, in order."""

    def after(i: int, t_cancel: int, giver: str) -> Iterator[tuple[int, str]]:
        for t_book, kind, taker in rows[i + 1 :]:
            if t_book - t_cancel > window_ms:
                return
            if kind == "booking_created" and taker != giver:
                yield t_book, taker

    for i, (t_cancel, kind, giver) in enumerate(rows):
        if kind == "booking_cancelled":
            yield t_cancel, giver, after(i, t_cancel, giver)


def _chains(
    account_id: str, per_slot: Mapping[str, list[tuple[int, str, str]]], window_ms: int, limit: int = 50
) -> list[dict[str, Any]]:
    """The handoff chains of the slots in ``per_slot`` with a hop involving the account (see
    ``Store.handoff_chains``)."""
    chains: list[dict[str, Any]] = []
    for slot, rows in sorted(per_slot.items()):
        hops: list[dict[str, Any]] = []
        for t_cancel, giver, rebookings in _rebookings(rows, window_ms):
            for t_book, taker in rebookings:  # the first rebooking is the hop
                hops.append(
                    {
                        "from": giver,
                        "cancelled_at": iso(t_cancel),
                        "to": taker,
                        "booked_at": iso(t_book),
                        "gap_s": (t_book - t_cancel) / 1000,
                    }
                )
                break
        if any(account_id in (h["from"], h["to"]) for h in hops):
            chains.append({"slot_id": slot, "hops": hops})
    chains.sort(key=lambda c: str(c["hops"][0]["cancelled_at"]))
    return chains[:limit]


def _flagged_row(
    account_id: str, site: str, score: float, flagged_ms: int, reasons: Sequence[str], model: str, scored_ms: int
) -> dict[str, Any]:
    """One line of the investigator's queue (from a verdict, or from a flag when no verdict is stored)."""
    return {
        "account_id": account_id,
        "site": site,
        "score": score,
        "flagged_at": iso(flagged_ms),
        "reasons": list(reasons),
        "model_version": model,
        "scored_at": iso(scored_ms),
    }
