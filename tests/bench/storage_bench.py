"""History store benchmark: writer throughput, and investigator query latency over 10M stored events.

Both engines are measured the same way: a ClickHouse server (Debian's clickhouse-server, started
privately by ``scripts/clickhouse.sh`` on 127.0.0.1:19300 unless ``--server URL`` names one) and the
embedded chDB store.

Writer (target: >= 200k rows/s): realistic event rows (heavy-tailed accounts, stable devices and
addresses, ~330-byte raw lines) go through the store's columnar batch insert, 100k rows per batch,
which is what the writer does when it flushes, including the materialized views that index
devices, addresses and slots. The end-to-end figure (contract structs -> pseudonymised columns ->
insert) is printed next to it.

Queries (targets: ``flagged`` < 100 ms, ``account`` < 300 ms with 10M events stored): 10M events,
1M verdicts, flags and decisions are generated inside the engine (INSERT ... SELECT from
numbers(), with the same views firing), then ``Store.flagged()`` and ``Store.account()`` are timed,
median of several runs after a warm-up. The generated store is kept under ``--dir`` and reused by
the next run.

    .venv/bin/python -m tests.bench.storage_bench                 # both engines, 10M events
    .venv/bin/python -m tests.bench.storage_bench --events 1000000 --engines chdb
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ingest.contract import AnyEvent, BookingCancelled, BookingCreated, Login, SlotSearch, encode
from ingest.pseudonym import Pseudonymizer
from storage import Store, open_store
from storage.rows import event_columns
from storage.schema import applied_versions, load_migrations
from tests.clickhouse_server import ClickHouseServer

KEY = "bench-key"
WRITER_TARGET = 200_000
FLAGGED_TARGET_MS = 100.0
ACCOUNT_TARGET_MS = 300.0
BENCH_PORTS = (19300, 18323)  # native, HTTP
START_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z

USER_AGENT = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"
)
EVENT_COLUMNS = (
    "event_id, type, ts_ms, site, account_id, session_id, ip, network, asn, user_agent, device_id, slot_id, "
    "booking_id, applicant_id, service, slot_start_ms, reason, success, results, email_hash, phone_hash, "
    "email_domain, raw"
)

# 60% of events from 10k busy accounts, the rest from 200k; accounts < 4000 are farms sharing a device
# by twenties; a cancellation (m = 94) is followed by another account's booking of the same slot (m = 95)
# 0.8 s later (a handoff); events every 0.8 s from 2026-01-01: 10M events span about three months.
EVENTS_SQL = (
    """
INSERT INTO {db}.events (EVENT_COLUMNS)
SELECT
    concat('ev-', toString(n)),
    multiIf(m < 80, 'slot_search', m < 88, 'login', m = 94, 'booking_cancelled', m < 96, 'booking_created',
            m < 98, 'booking_attended', m < 99, 'booking_no_show', 'account_created') AS kind,
    toInt64(START_MS + n * 800) AS t,
    concat('site-', toString(a % 40)) AS site_,
    concat('acc-', toString(a)) AS acc,
    concat('s-', toString(intDiv(n, 50))) AS sess,
    concat('ip:', lower(hex(intHash64(a % 120000 + n % 2)))) AS addr,
    concat('net:', lower(hex(intHash64(intDiv(a % 120000, 200))))),
    toUInt32(3215 + a % 50) AS asn_,
    'USER_AGENT' AS ua,
    if(a < 4000, concat('farm-', toString(intDiv(a, 20))), concat('dev-', toString(a % 150000))) AS dev,
    if(m IN (94, 95), concat('slot-', toString(intDiv(n, 2) % 400000)), ''),
    if(m >= 94 AND m < 99, concat('b-', toString(a), '-', toString(intDiv(n, 1000))), ''),
    if(m = 95, concat('app-', toString(a % 90000)), ''),
    if(m < 80 OR m = 95, 'titre-sejour', ''),
    if(m = 95, toInt64(START_MS + n * 800 + 864000000), NULL),
    '',
    if(m >= 80 AND m < 88, toUInt8(1), NULL),
    if(m < 80, toUInt32(n % 4), NULL),
    if(m = 99, concat('h-', toString(a)), ''),
    '',
    if(m = 99, 'example.org', ''),
    concat('{"event_id":"ev-', toString(n), '","type":"', kind,
           '","ts":"2026-01-01T00:00:00.000+01:00","site":"', site_, '","account_id":"', acc,
           '","session_id":"', sess, '","ip":"', addr, '","asn":', toString(asn_),
           ',"user_agent":"', ua, '","device_id":"', dev, '"}')
FROM (
    SELECT number AS n,
           if(intHash32(number) % 10 < 6, intHash32(number + 7) % 10000, intHash32(number) % 200000) AS a,
           number % 100 AS m
    FROM system.numbers LIMIT {limit} OFFSET {offset}
)
""".replace("EVENT_COLUMNS", EVENT_COLUMNS)
    .replace("START_MS", str(START_MS))
    .replace("USER_AGENT", USER_AGENT)
)

# one verdict per account every ~200k rows (1M rows = 5 per account), 3% of accounts flagged
VERDICTS_SQL = f"""
INSERT INTO {{db}}.verdicts
    (account_id, site, model_version, scored_ms, score, flagged, flagged_ms, reasons, row_version)
SELECT concat('acc-', toString(a)), concat('site-', toString(a % 40)), 'bench-1',
       toInt64({START_MS} + n * 8000), s, toUInt8(s > 0.97),
       if(s > 0.97, toInt64({START_MS} + n * 8000), NULL),
       if(s > 0.97, ['polls for free slots day and night', 'books within seconds of a release'],
          emptyArrayString()),
       toUInt64(n)
FROM (SELECT number AS n, number % 200000 AS a, (intHash32(number % 200000) % 1000) / 1000 AS s
      FROM system.numbers LIMIT {{limit}})
"""

FLAGS_SQL = f"""
INSERT INTO {{db}}.flags (account_id, site, flagged_ms, score, threshold, reasons, model_version, row_version)
SELECT concat('acc-', toString(a)), concat('site-', toString(a % 40)), toInt64({START_MS} + a * 1000),
       s, 0.97, ['polls for free slots day and night'], 'bench-1', toUInt64(a)
FROM (SELECT number AS a, (intHash32(number) % 1000) / 1000 AS s FROM system.numbers LIMIT 200000)
WHERE s > 0.97
"""

DECISIONS_SQL = f"""
INSERT INTO {{db}}.decisions (decision_id, account_id, decision, note, decided_by, decided_ms, row_version)
SELECT concat('d-', toString(a)), concat('acc-', toString(a)), if(a % 3 = 0, 'dismiss', 'confirm'), 'bench',
       'bench', toInt64({START_MS} + a * 1000), toUInt64(a)
FROM (SELECT number AS a, (intHash32(number) % 1000) / 1000 AS s FROM system.numbers LIMIT 200000)
WHERE s > 0.97 AND a % 2 = 0
"""


# --- writer throughput ------------------------------------------------------------------------------


def realistic_events(n: int, seed: int = 7) -> tuple[list[AnyEvent], list[str]]:
    """Contract events shaped like the generated history: busy accounts, stable devices and addresses."""
    rnd = random.Random(seed)
    t0 = datetime(2026, 3, 2, 8, tzinfo=UTC)
    ua = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0"
    out: list[AnyEvent] = []
    for i in range(n):
        a = rnd.randrange(10_000) if rnd.random() < 0.6 else rnd.randrange(200_000)
        common: dict[str, Any] = {
            "event_id": f"w-{seed}-{i}",
            "ts": t0 + timedelta(milliseconds=800 * i),
            "site": f"site-{a % 40}",
            "account_id": f"acc-{a}",
            "session_id": f"s-{i // 50}",
            "ip": f"10.{a % 250}.{(a // 250) % 250}.{i % 2 + 1}",
            "asn": 3215 + a % 50,
            "user_agent": ua,
            "device_id": f"dev-{a % 150_000}",
        }
        m = i % 100
        if m < 80:
            out.append(SlotSearch(service="titre-sejour", results=i % 4, **common))
        elif m < 94:
            out.append(Login(success=True, **common))
        elif m == 94:
            out.append(BookingCancelled(booking_id=f"b-{a}", slot_id=f"slot-{i // 2}", **common))
        else:
            out.append(
                BookingCreated(
                    booking_id=f"b-{a}-{i}",
                    slot_id=f"slot-{i // 2}",
                    service="titre-sejour",
                    slot_start=common["ts"] + timedelta(days=10),
                    applicant_id=f"app-{a % 90_000}",
                    **common,
                )
            )
    return out, [encode(e).decode() for e in out]


def _fresh(url: str) -> Store:
    store = open_store(url, pseudonym_key=KEY)
    store.backend.command(f"DROP DATABASE IF EXISTS {store.database}")
    store.close()
    return open_store(url, pseudonym_key=KEY)


def measure_writer(url: str, evs: list[AnyEvent], raws: list[str], batch: int = 100_000) -> dict[str, float]:
    """Rows/s of the columnar batch insert (the writer's flush), and of the whole writer path."""
    cols = event_columns(evs, raws, Pseudonymizer(KEY))
    n = len(evs)
    store = _fresh(url)
    try:
        table = f"{store.database}.events"
        warm = {k: v[:batch] for k, v in cols.items()}
        store.backend.insert(table, warm)  # warm-up (connection, first parts)
        started = time.perf_counter()
        for lo in range(0, n, batch):
            store.backend.insert(table, {k: v[lo : lo + batch] for k, v in cols.items()})
        insert_s = time.perf_counter() - started
        started = time.perf_counter()
        writer = store.writer(batch_rows=batch, flush_interval_s=3600)
        for lo in range(0, n, 5000):
            writer.add_events(evs[lo : lo + 5000], raws[lo : lo + 5000])
        report = writer.close()
        writer_s = time.perf_counter() - started
        if not report.ok:
            raise RuntimeError(report.summary())
        store.backend.command(f"DROP DATABASE IF EXISTS {store.database}")
    finally:
        store.close()
    return {"insert_rows_per_s": round(n / insert_s), "writer_rows_per_s": round(n / writer_s)}


# --- 10M events, query latency --------------------------------------------------------------------------


def _fill(sql: str, **values: object) -> str:
    """Substitute ``{name}`` placeholders (str.format would trip over the JSON braces)."""
    for name, value in values.items():
        sql = sql.replace("{" + name + "}", str(value))
    return sql


def ensure_history(url: str, events: int, chunk: int = 1_000_000) -> tuple[Store, dict[str, Any]]:
    """Open (or generate once) a store with ``events`` events, 1M verdicts, flags and decisions."""
    store = open_store(url, pseudonym_key=KEY)
    have = int(store.backend.query(f"SELECT count() FROM {store.database}.events")[0][0])
    current = {m.version: m.checksum for m in load_migrations()}
    generated_s = 0.0
    if have != events or applied_versions(store.backend, store.database) != current:
        store.backend.command(f"DROP DATABASE IF EXISTS {store.database}")
        store.close()
        store = open_store(url, pseudonym_key=KEY)
        db = store.database
        started = time.perf_counter()
        for offset in range(0, events, chunk):
            limit = min(chunk, events - offset)
            store.backend.command(_fill(EVENTS_SQL, db=db, limit=limit, offset=offset))
            print(f"  {store.kind}: {offset + limit:,}/{events:,} events", file=sys.stderr, flush=True)
        store.backend.command(_fill(VERDICTS_SQL, db=db, limit=max(1, events // 10)))
        store.backend.command(_fill(FLAGS_SQL, db=db))
        store.backend.command(_fill(DECISIONS_SQL, db=db))
        generated_s = time.perf_counter() - started
    sizes = store.backend.query(
        f"SELECT table, sum(rows), sum(bytes_on_disk) FROM system.parts WHERE database = '{store.database}' "
        "AND active GROUP BY table ORDER BY table"
    )
    info = {
        "generated_s": round(generated_s, 1),
        "rows": {str(t): int(r) for t, r, _ in sizes},
        "disk_mib": round(sum(int(b) for _, _, b in sizes) / (1 << 20), 1),
    }
    return store, info


def median_ms(action: Callable[[], object], runs: int) -> float:
    action()  # warm-up: caches, marks
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        times.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(times), 1)


#: per kind of account: the one measured when it is stored (10M events), and its range of numbers
ACCOUNTS: dict[str, tuple[str, int, int]] = {
    "busy": ("acc-4017", 4000, 10_000),  # one of the 10k accounts sending 60% of the events
    "farm": ("acc-40", 0, 4000),  # busy too, and sharing a device with 19 others
    "ordinary": ("acc-150017", 10_000, 200_000),
}


def sample_accounts(store: Store) -> dict[str, str]:
    """A busy, a farm and an ordinary account of the generated history: the usual ones when they have
    events, else (a smaller ``--events``) the account of that kind with the most events."""
    db = store.database
    found: dict[str, str] = {}
    for kind, (usual, lo, hi) in ACCOUNTS.items():
        if store.backend.query(f"SELECT 1 FROM {db}.events WHERE account_id = '{usual}' LIMIT 1"):
            found[kind] = usual
            continue
        rows = store.backend.query(
            f"SELECT account_id, count() AS n FROM {db}.events"
            f" WHERE toUInt64OrZero(substring(account_id, 5)) BETWEEN {lo} AND {hi - 1}"
            " GROUP BY account_id ORDER BY n DESC, account_id LIMIT 1"
        )
        if not rows:
            raise RuntimeError(f"no {kind} account in the generated history: generate more events")
        found[kind] = str(rows[0][0])
    return found


def measure_queries(store: Store, runs: int) -> dict[str, Any]:
    """Median latencies of the investigator queries on the generated history."""
    flagged = median_ms(lambda: store.flagged(limit=50), runs)
    flagged_site = median_ms(lambda: store.flagged(site="site-7", limit=50), runs)
    accounts = sample_accounts(store)
    per_account = {name: median_ms(lambda a=account: store.account(a), runs) for name, account in accounts.items()}
    sample = store.account(accounts["farm"])
    return {
        "flagged_ms": flagged,
        "flagged_site_ms": flagged_site,
        "flagged_rows": len(store.flagged(limit=50)),
        "account_ms": per_account,
        "account_worst_ms": max(per_account.values()),
        "accounts": accounts,
        "farm_account_events": sample["events_total"],
        "farm_linked_devices": sample["linked"]["counts"]["shared_devices"],
    }


def run(
    directory: Path,
    events: int,
    write_rows: int,
    runs: int,
    engines: list[str],
    server: str | None,
) -> dict[str, Any]:
    directory.mkdir(parents=True, exist_ok=True)
    evs, raws = realistic_events(write_rows)
    results: dict[str, Any] = {"events_stored": events, "writer_rows": write_rows}
    private = ClickHouseServer(directory / "clickhouse-server", *BENCH_PORTS)
    started_server = False
    try:
        for engine in engines:
            if engine == "server":
                if server is None:
                    private.start()
                    base = private.base_url
                    started_server = True
                else:
                    base = server.rstrip("/").rsplit("/", 1)[0] if server.count("/") > 2 else server
                write_url, history_url = f"{base}/bench_writer", f"{base}/bench_history"
            else:
                path = directory / "chdb-store"
                write_url, history_url = (
                    f"chdb:{path}?database=bench_writer",
                    f"chdb:{path}?database=bench_history",
                )
            figures: dict[str, Any] = measure_writer(write_url, evs, raws)
            store, info = ensure_history(history_url, events)
            try:
                figures["engine_version"] = store.version()
                figures.update(info)
                figures.update(measure_queries(store, runs))
            finally:
                store.close()
            figures["writer_ratio_to_target"] = round(figures["insert_rows_per_s"] / WRITER_TARGET, 2)
            figures["flagged_ratio_to_target"] = round(figures["flagged_ms"] / FLAGGED_TARGET_MS, 2)
            figures["account_ratio_to_target"] = round(figures["account_worst_ms"] / ACCOUNT_TARGET_MS, 2)
            results[engine] = figures
    finally:
        if started_server:
            private.stop()
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dir", type=Path, default=Path("var/bench/storage"))
    parser.add_argument("--events", type=int, default=10_000_000, help="events stored for the query figures")
    parser.add_argument("--write-rows", type=int, default=400_000, help="rows written for the writer figures")
    parser.add_argument("--runs", type=int, default=7, help="timed runs per query (median)")
    parser.add_argument("--engines", default="server,chdb", help="comma-separated: server, chdb")
    parser.add_argument("--server", help="use this ClickHouse server (clickhouse://...) instead of starting one")
    args = parser.parse_args(argv)
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    result = run(args.dir, args.events, args.write_rows, args.runs, engines, args.server)
    print(json.dumps(result, indent=2))
    for engine in engines:
        r = result[engine]
        print(
            f"storage[{engine} {r['engine_version']}]: insert {r['insert_rows_per_s']:,} rows/s "
            f"({r['writer_ratio_to_target']:.2f}x of the 200k target; "
            f"whole writer path {r['writer_rows_per_s']:,}/s); with {args.events:,} events: "
            f"flagged {r['flagged_ms']} ms ({r['flagged_ratio_to_target']:.2f}x of 100 ms), "
            f"account {r['account_worst_ms']} ms worst ({r['account_ratio_to_target']:.2f}x of 300 ms)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
