"""Investigator console benchmark: page latency with 10M events stored on a ClickHouse server.

Targets (issue 9): the queue page and the account page served in < 300 ms at p95, an operation page
of 60 accounts in < 1 s, through the ASGI app (Starlette's test client: routing, session, audit
writes, templates; no network), the app connected as the application database user
``slotguard_app`` (allow_ddl = 0).

The history: a simulated world (seed 7, 2,000 accounts, 5 days: about 206k events) is detected
once into a base database (events, snapshots, verdicts, flags: what ``detect --store`` writes),
then replicated under new ids until 10M events are stored: every copy's accounts, events,
sessions, slots, bookings and applicants get the copy's suffix; devices and addresses are shared by
five consecutive copies (so the biggest operation spans copies and reaches the 60-account cap). Rows go in
through the store's columnar insert (``Backend.insert``, as ``HistoryWriter`` flushes them), with the
materialized views firing. Raw lines are copied as they are (they keep the base ids). Load time is
reported; the replicated store is kept under ``--dir`` and reused by the next run.

    .venv/bin/python -m tests.bench.console_bench              # 10M events
    .venv/bin/python -m tests.bench.console_bench --events 2000000 --runs 20
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import re
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from console.app import create_app
from console.auth import hash_password
from ingest.pseudonym import Pseudonymizer
from models.artifact import load
from simulator import WorldParams, simulate
from slotguard.config import DEFAULT_MODEL, resolve
from slotguard.runner import detect
from storage import Store, open_store
from tests.clickhouse_server import ClickHouseServer

KEY = "bench-key"
#: the benchmark's own server ports (the tests use 19100, the storage benchmark 19300)
TCP_PORT = int(os.environ.get("CONSOLE_BENCH_TCP_PORT", "19400"))
HTTP_PORT = int(os.environ.get("CONSOLE_BENCH_HTTP_PORT", "18423"))
QUEUE_TARGET_MS = 300.0
ACCOUNT_TARGET_MS = 300.0
OPERATION_TARGET_MS = 1000.0
PASSWORD = "bench password long enough"
#: consecutive copies sharing devices and addresses (the database name says it, so a change rebuilds)
SHARED_BY = 5
BENCH_DB = f"console_bench_s{SHARED_BY}"
#: per table: columns copied, and the id columns a copy suffixes (shared: suffixed per group of 4 copies)
TABLES: dict[str, tuple[str, tuple[str, ...], tuple[str, ...]]] = {
    "events": (
        "event_id, type, ts_ms, site, account_id, session_id, ip, network, asn, user_agent, device_id, slot_id, "
        "booking_id, applicant_id, service, slot_start_ms, reason, success, results, email_hash, phone_hash, "
        "email_domain, raw",
        ("event_id", "account_id", "session_id", "slot_id", "booking_id", "applicant_id"),
        ("ip", "device_id"),
    ),
    "snapshots": (
        "account_id, site, t_ms, model_version, feature_set, feature_values, score, row_version",
        ("account_id",),
        (),
    ),
    "verdicts": (
        "account_id, site, model_version, scored_ms, score, flagged, flagged_ms, reasons, category, buyers,"
        " row_version",
        ("account_id",),
        (),
    ),
    "flags": (
        "account_id, site, flagged_ms, score, threshold, reasons, model_version, row_version",
        ("account_id",),
        (),
    ),
}


def _count(store: Store, table: str) -> int:
    return int(store.backend.query(f"SELECT count() FROM {store.database}.{table}")[0][0])


def ensure_base(base: str, directory: Path) -> dict[str, Any]:
    """The simulated world, detected into the base database (once)."""
    world = directory / "world"
    if not (world / "events.jsonl").exists():
        simulate(WorldParams(seed=7, accounts=2000, days=5), world)
    with open_store(f"{base}/console_base", pseudonym_key=KEY) as store:
        if _count(store, "verdicts") == 0:
            model = load(DEFAULT_MODEL)
            store.register_model(model.metadata)
            pseudonymizer = Pseudonymizer(KEY)
            writer = store.writer(pseudonymizer=pseudonymizer, batch_rows=50_000)
            detect(
                world / "events.jsonl",
                model,
                resolve(environ={"SLOTGUARD_PSEUDONYM_KEY": KEY}),
                verdicts_out=io.BytesIO(),
                dead_letters=None,
                history=writer,
                pseudonymizer=pseudonymizer,
            )
        return {table: _count(store, table) for table in TABLES}


def ensure_replicas(base: str, events: int) -> dict[str, Any]:
    """Copies of the base world in ``BENCH_DB`` until ``events`` events are stored; load time."""
    with (
        open_store(f"{base}/console_base", pseudonym_key=KEY) as source,
        open_store(f"{base}/{BENCH_DB}", pseudonym_key=KEY) as target,
    ):
        per_copy = _count(source, "events")
        copies = -(-events // per_copy)
        done = _count(target, "events") // per_copy
        info: dict[str, Any] = {"copies": copies, "events_per_copy": per_copy, "copies_already_stored": done}
        if done >= copies:
            info["load_s"] = None
            return info
        columns: dict[str, dict[str, list[Any]]] = {}
        for table, (names, _, _) in TABLES.items():
            rows = source.backend.query(f"SELECT {names} FROM console_base.{table}")
            split = [n.strip() for n in names.split(",")]
            columns[table] = {name: [r[i] for r in rows] for i, name in enumerate(split)}
        models = source.models()
        for model in models:
            target.register_model(model["metadata"])
        started = time.perf_counter()
        rows_written = 0
        for k in range(done, copies):
            for table, (_, own, shared) in TABLES.items():
                cols = dict(columns[table])
                for name in own:
                    cols[name] = [f"{v}~{k}" if v else v for v in cols[name]]
                for name in shared:
                    cols[name] = [f"{v}~{k // SHARED_BY}" if v else v for v in cols[name]]
                if table == "verdicts":
                    cols["buyers"] = [[f"{b}~{k}" for b in bs] for bs in cols["buyers"]]
                target.backend.insert(f"{BENCH_DB}.{table}", cols)
                rows_written += len(cols["account_id"])
            elapsed = time.perf_counter() - started
            print(f"  copy {k + 1}/{copies} stored ({elapsed:.0f} s)", file=sys.stderr, flush=True)
        info["load_s"] = round(time.perf_counter() - started, 1)
        info["rows_written"] = rows_written
        info["rows_per_s"] = round(rows_written / info["load_s"])
        return info


def _decide_some(store: Store) -> int:
    """A tenth of the flagged accounts get a decision (the queue's counts per state are not all zero)."""
    if _count(store, "decisions"):
        return _count(store, "decisions")
    flagged = [r["account_id"] for r in store.flagged(limit=100_000)]
    chosen = flagged[::10]
    for i, account_id in enumerate(chosen):
        store.decide(account_id, ("confirm", "dismiss", "escalate")[i % 3], "benchmark decision", "bench")
    return len(chosen)


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))], 1)


def _summary(samples: list[float]) -> dict[str, float]:
    return {
        "n": len(samples),
        "p50_ms": round(statistics.median(samples), 1),
        "p95_ms": _pct(samples, 0.95),
        "max_ms": round(max(samples), 1),
    }


def measure(base: str, runs: int, port: int) -> dict[str, Any]:
    """Page latencies through the ASGI app, connected as the application user."""
    from starlette.testclient import TestClient

    with open_store(f"{base}/{BENCH_DB}", pseudonym_key=KEY) as admin:
        for name, role in (("bench-investigator", "investigator"), ("bench-it", "it")):
            if admin.user(name) is None:
                admin.save_user(name, role, hash_password(PASSWORD), disabled=False, by="bench")
        decisions = _decide_some(admin)
        stored = admin.counts()
    app_url = f"clickhouse://slotguard_app:slotguard-app@127.0.0.1:{port}/{BENCH_DB}"
    store = open_store(app_url, pseudonym_key=KEY, create=False)
    result: dict[str, Any] = {"stored": stored, "decisions": decisions, "database_user": "slotguard_app"}
    try:
        app = create_app(store, secret_key="bench-secret-0123456789abcdef0123456789")
        client = TestClient(app)
        page = client.get("/login")
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
        client.post("/login", data={"username": "bench-investigator", "password": PASSWORD, "csrf_token": csrf})
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/queue").text).group(1)  # type: ignore[union-attr]

        def timed(path: str, params: dict[str, Any] | None = None) -> float:
            started = time.perf_counter()
            response = client.get(path, params=params)
            elapsed = (time.perf_counter() - started) * 1000
            assert response.status_code == 200, (path, response.status_code)
            return elapsed

        flagged = [r["account_id"] for r in store.flagged(limit=100_000)]
        sites = sorted({r["site"] for r in store.flagged(limit=200)})
        rng = random.Random(7)
        queue_params = [
            {},
            {"page": 2},
            {"state": "undecided"},
            {"state": "confirm"},
            {"site": sites[0]},
            {"reason": "polling"},
            {"reason": "shared_infrastructure", "page": 3},
            {"since": "2026-03-03", "until": "2026-03-04"},
        ]
        timed("/queue")  # warm-up
        queue = [timed("/queue", queue_params[i % len(queue_params)]) for i in range(runs)]
        result["queue"] = _summary(queue)

        sample = flagged[:10] + rng.sample(flagged, min(len(flagged) - 10, runs - 10))
        account_ms, account_events = [], []
        for account_id in sample:
            purpose = {"kind": "account", "target": account_id, "purpose": "bench", "csrf_token": csrf}
            client.post("/purpose", data=purpose)
            account_ms.append(timed(f"/account/{account_id}"))
            account_events.append(store.account(account_id, max_events=1)["events_total"])
        result["account"] = {**_summary(account_ms), "events_per_account_max": max(account_events)}

        sizes = {a: len(store.operation(a)["members"]) for a in flagged[:120]}
        root = max(sizes, key=lambda a: sizes[a])
        client.post("/purpose", data={"kind": "operation", "target": root, "purpose": "bench", "csrf_token": csrf})
        timed(f"/operation/{root}")
        operation = [timed(f"/operation/{root}") for _ in range(max(5, runs // 4))]
        result["operation"] = {**_summary(operation), "members": sizes[root], "root": root}
        client.cookies.clear()
        page = client.get("/login")
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
        client.post("/login", data={"username": "bench-it", "password": PASSWORD, "csrf_token": csrf})
        overview = [timed("/overview") for _ in range(5)]
        result["overview"] = _summary(overview)
    finally:
        store.close()
    result["ratios"] = {
        "queue_p95_to_target": round(result["queue"]["p95_ms"] / QUEUE_TARGET_MS, 2),
        "account_p95_to_target": round(result["account"]["p95_ms"] / ACCOUNT_TARGET_MS, 2),
        "operation_p95_to_target": round(result["operation"]["p95_ms"] / OPERATION_TARGET_MS, 2),
    }
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dir", type=Path, default=Path("var/bench/console"))
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--runs", type=int, default=40, help="timed requests per page kind")
    args = parser.parse_args(argv)
    args.dir.mkdir(parents=True, exist_ok=True)
    server = ClickHouseServer(args.dir / "clickhouse-server", TCP_PORT, HTTP_PORT)
    server.start()
    try:
        result: dict[str, Any] = {"base": ensure_base(server.base_url, args.dir)}
        result["load"] = ensure_replicas(server.base_url, args.events)
        result.update(measure(server.base_url, args.runs, server.tcp_port))
    finally:
        server.stop()
    print(json.dumps(result, indent=2))
    q, a, o = result["queue"], result["account"], result["operation"]
    print(
        f"console with {result['stored']['events']:,} events on ClickHouse: queue p95 {q['p95_ms']} ms "
        f"({result['ratios']['queue_p95_to_target']:.2f}x of 300 ms), account p95 {a['p95_ms']} ms "
        f"({result['ratios']['account_p95_to_target']:.2f}x of 300 ms), operation of {o['members']} accounts "
        f"p95 {o['p95_ms']} ms ({result['ratios']['operation_p95_to_target']:.2f}x of 1 s); "
        f"overview p95 {result['overview']['p95_ms']} ms (no target)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
