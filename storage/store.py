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
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any, Final

import msgspec

from ingest.pseudonym import Pseudonymizer
from storage import retention
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
}

#: an account's timeline: every stored event column but the account itself (implied), its
#: registration contact hashes and the raw line
_EVENT_FIELDS: Final = tuple(
    c for c in TABLE_COLUMNS["events"] if c not in ("account_id", "email_hash", "phone_hash", "email_domain", "raw")
)
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
        self, *, site: str | None = None, since: datetime | int | None = None, limit: int = 50
    ) -> list[dict[str, Any]]:
        """Flagged accounts, highest current score first, with reasons and the latest decision.

        An account is flagged when its current verdict (latest ``scored_at``) says so; an account
        with a flag but no flagged verdict (verdicts not written yet) is listed from its flag.
        ``since`` keeps accounts flagged at or after that event time.
        """
        since_ms = _since_ms(since)
        n = max(0, int(limit))
        site_cond = f" AND site = {lit(site)}" if site else ""
        # 1. rank: the current verdict of every account that was ever flagged (latest scored_at, then
        #    latest write), plus accounts known only from a flag; verdict rows outrank flag rows.
        #    Narrow columns only: this pass reads the whole current_verdicts table.
        ranked_rows = self._sql(
            "SELECT account_id, argMax(score, k) AS s, argMax(flagged, k) AS f,"
            " argMax(ifNull(flagged_ms, 0), k) AS fm"
            " FROM (SELECT account_id, score, flagged, flagged_ms,"
            " tuple(toUInt8(1), scored_ms, row_version) AS k FROM {db}.current_verdicts"
            " WHERE account_id IN (SELECT account_id FROM {db}.current_verdicts"
            f" WHERE flagged = 1{site_cond}){site_cond}"
            " UNION ALL SELECT account_id, score, toUInt8(1) AS flagged,"
            " CAST(flagged_ms AS Nullable(Int64)) AS flagged_ms,"
            f" tuple(toUInt8(0), flagged_ms, row_version) AS k FROM {{db}}.flags WHERE 1{site_cond})"
            " GROUP BY account_id HAVING f = 1"
            + (f" AND fm >= {since_ms:d}" if since_ms is not None else "")
            + f" ORDER BY s DESC, account_id LIMIT {n:d}"
        )
        top = [r[0] for r in ranked_rows]
        if not top:
            return []
        # 2. details of the few accounts shown, by primary key
        details: dict[str, dict[str, Any]] = {}
        for account_id, row_site, model, scored_ms, score, flagged_ms, reasons in self._sql(
            "SELECT account_id, site, model_version, scored_ms, score, flagged_ms, reasons"
            f" FROM {{db}}.current_verdicts WHERE account_id IN {lits(top)}{site_cond}"
            " ORDER BY account_id, scored_ms DESC, row_version DESC LIMIT 1 BY account_id"
        ):
            details[account_id] = _flagged_row(account_id, row_site, score, flagged_ms, reasons, model, scored_ms)
        missing = [a for a in top if a not in details]
        if missing:
            for account_id, row_site, model, flagged_ms, score, reasons in self._sql(
                "SELECT account_id, site, model_version, flagged_ms, score, reasons FROM {db}.flags"
                f" WHERE account_id IN {lits(missing)}{site_cond}"
                " ORDER BY account_id, flagged_ms, row_version DESC LIMIT 1 BY account_id"
            ):
                details[account_id] = _flagged_row(account_id, row_site, score, flagged_ms, reasons, model, flagged_ms)
        ranked = [details[a] for a in top if a in details]
        latest = self._latest_decisions([r["account_id"] for r in ranked])
        for row in ranked:
            decision = latest.get(row["account_id"])
            row["decision"] = decision["decision"] if decision else None
            row["decided_by"] = decision["by"] if decision else None
            row["decided_at"] = decision["at"] if decision else None
        return ranked

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
    ) -> dict[str, Any]:
        """Everything about one account: timeline, current verdict, flags, decisions, linked accounts.

        ``events`` holds the latest ``max_events`` events in time order (all of them when None);
        ``events_total`` says how many there are. Raises UnknownAccount when nothing is known.
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
        limit = f" LIMIT {int(max_events):d}" if max_events else ""
        rows = self._sql(
            f"SELECT {', '.join(_EVENT_FIELDS)} FROM {{db}}.events WHERE account_id = {a} "
            f"ORDER BY ts_ms DESC, event_id DESC LIMIT 1 BY event_id{limit}"
        )
        events = [_event_dict(row) for row in reversed(rows)]
        linked = self._linked(
            account_id,
            devices=sorted(d for d in devices if d),
            ips=sorted(i for i in ips if i),
            applicants=sorted(x for x in applicants if x),
            window_ms=round(handoff_window_s * 1000),
        )
        return {
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
            activity = self._shared_activity(sorted({r[1] for r in shown}), wanted)
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
        out, into = self._handoffs(account_id, window_ms)
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

    def _handoffs(self, account_id: str, window_ms: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Who booked the slots this account cancelled, and whose cancelled slots it booked, in the window."""
        mine = self._sql(
            "SELECT type, slot_id, ts_ms FROM {db}.events "
            f"WHERE account_id = {lit(account_id)} AND slot_id != '' "
            "AND type IN ('booking_cancelled', 'booking_created') LIMIT 1 BY event_id"
        )
        if not mine:
            return [], []
        slots = sorted({slot for _, slot, _ in mine})
        others = self._sql(
            "SELECT slot_id, account_id, type, ts_ms FROM {db}.slot_events "
            f"WHERE slot_id IN {lits(slots)} AND account_id != {lit(account_id)} LIMIT 1 BY event_id"
        )
        booked: dict[str, list[tuple[str, int]]] = defaultdict(list)
        cancelled: dict[str, list[tuple[str, int]]] = defaultdict(list)
        for slot, other, kind, ts_ms in others:
            (booked if kind == "booking_created" else cancelled)[slot].append((other, ts_ms))
        out: dict[str, list[tuple[str, float]]] = defaultdict(list)
        into: dict[str, list[tuple[str, float]]] = defaultdict(list)
        for kind, slot, ts_ms in mine:
            if kind == "booking_cancelled":
                for taker, t in booked.get(slot, ()):
                    if 0 <= t - ts_ms <= window_ms:
                        out[taker].append((slot, (t - ts_ms) / 1000))
            else:
                for giver, t in cancelled.get(slot, ()):
                    if 0 <= ts_ms - t <= window_ms:
                        into[giver].append((slot, (ts_ms - t) / 1000))

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


def _label(decision: str) -> int | None:
    return {"confirm": 1, "dismiss": 0}.get(decision)


def _event_dict(row: tuple[Any, ...]) -> dict[str, Any]:
    """An event as stored, in contract field names, without empty fields (the IP as its pseudonym)."""
    out: dict[str, Any] = {}
    for name, value in zip(_EVENT_FIELDS, row, strict=True):
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
