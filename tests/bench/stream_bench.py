"""Throughput and restart of the streaming worker on a real broker, against baselines in the same run.

One world is preloaded into ``booking-events`` (with a closing event per partition, so every
tick holding real events closes). Then, over the same events:

- a plain aiokafka consumer reads the topic (the ceiling: what Python gets off the broker at all);
- ``slotguard detect`` runs over the file (the same work in one process, without Kafka);
- one ``slotguard worker`` runs until every partition has completed the last tick: events/s from its
  first input to the end (Kafka in, features, scoring, flags out, state written behind);
- a second worker run is killed with SIGKILL half-way and started again: seconds until every
  partition completes ticks again (local RocksDB state, no changelog replay);
- a third worker gets the events at a steady 2,000 per second: p50 and p99 from an account's event
  being sent to its flag arriving on ``slotguard-flags``.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from ingest.producer import event_key
from models.artifact import load
from slotguard.config import resolve
from slotguard.runner import detect
from tests.bench.detect_bench import ensure_world
from tests.kafka_broker import start_broker
from tests.stream_support import PARTITIONS, Worker, completed, last_tick, with_closing_events

PORT, CONTROLLER_PORT = 29192, 29195


async def preload(bootstrap: str, topic: str, path: Path) -> int:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=20, max_batch_size=512 * 1024, acks="all")
    await producer.start()
    n = 0
    try:
        pending = []
        for line in path.read_bytes().splitlines():
            if line.strip():
                pending.append(await producer.send(topic, value=line, key=event_key(line)))
                n += 1
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return n


async def plain_consume(bootstrap: str, topic: str, expected: int) -> float:
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None)
    await consumer.start()
    try:
        started, seen = time.perf_counter(), 0
        while seen < expected:
            batches = await consumer.getmany(timeout_ms=1000, max_records=10_000)
            seen += sum(len(records) for records in batches.values())
        return time.perf_counter() - started
    finally:
        await consumer.stop()


async def paced_produce(bootstrap: str, topic: str, lines: list[bytes], rate: float) -> dict[tuple[str, float], float]:
    """Send ``lines`` at ``rate`` per second; return each account event's send time by (account, ts)."""
    from aiokafka import AIOKafkaProducer

    from ingest.contract import decode

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=1, acks="all")
    await producer.start()
    sent: dict[tuple[str, float], float] = {}
    try:
        started = time.monotonic()
        for i, line in enumerate(lines):
            ahead = started + i / rate - time.monotonic()
            if ahead > 0:
                await asyncio.sleep(ahead)
            ev = decode(line)
            now = time.time()
            if ev.account_id is not None:
                sent[(ev.account_id, round(ev.ts.timestamp(), 3))] = now
            await producer.send(topic, value=line, key=event_key(line))
        await producer.flush()
    finally:
        await producer.stop()
    return sent


async def read_flags(bootstrap: str, topic: str, seconds: float) -> list[tuple[dict[str, Any], float]]:
    """Every flag on ``topic`` within ``seconds``, with the time the worker sent it."""
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None)
    await consumer.start()
    out = []
    try:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=500)
            for records in batches.values():
                out += [(json.loads(r.value), r.timestamp / 1000.0) for r in records]
    finally:
        await consumer.stop()
    return out


def measure_latency(root: Path, broker: Any, model: Path, events: Path, rate: float, seconds: float) -> dict[str, Any]:
    """p50/p99 from an account's event being sent to its flag on slotguard-flags, at a steady rate."""
    from datetime import datetime

    lines = [line for line in events.read_bytes().splitlines() if line.strip()][: int(rate * seconds)]
    topic = "booking-events-latency"
    broker.create_topic(topic, PARTITIONS)
    worker = Worker(root, "latency", broker, model, "bench-latency")
    worker.args += ["--events-topic", topic]
    worker.start()
    try:
        time.sleep(8.0)  # joined and assigned before the clock starts
        since = time.time()
        sent = asyncio.run(paced_produce(broker.bootstrap, topic, lines, rate))
        time.sleep(5.0)
    finally:
        worker.stop()
    flags = asyncio.run(read_flags(broker.bootstrap, "slotguard-flags", 5.0))
    delays = []
    flags = [(flag, at) for flag, at in flags if at >= since]  # earlier runs flagged the same world
    for flag, at in flags:
        key = (flag["account_id"], round(datetime.fromisoformat(flag["flagged_at"]).timestamp(), 3))
        if key in sent:
            delays.append(at - sent[key])
    delays.sort()
    if not delays:
        return {"flags": len(flags), "matched": 0}
    return {
        "rate": rate,
        "flags": len(flags),
        "matched": len(delays),
        "p50_s": round(delays[len(delays) // 2], 3),
        "p99_s": round(delays[min(len(delays) - 1, int(len(delays) * 0.99))], 3),
    }


#: py-spy (a dev dependency) beside this interpreter
PY_SPY = str(Path(sys.executable).with_name("py-spy"))


def where_time_goes(folded: Path, top: int = 12) -> list[tuple[str, float]]:
    """From py-spy's collapsed stacks: the share of samples in which each function is on the stack
    (the worker's own modules, Faust, aiokafka, msgspec, ...), largest first."""
    total = 0
    inclusive: dict[str, int] = {}
    for line in folded.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        total += n
        seen = set()
        for frame in stack.split(";"):
            name = frame.split(" (")[0] + " (" + frame.split(" (")[-1].split(":")[0].rsplit("/", 1)[-1] + ")"
            if name not in seen:
                seen.add(name)
                inclusive[name] = inclusive.get(name, 0) + n
    ranked = sorted(inclusive.items(), key=lambda kv: -kv[1])
    skip = ("<module>", "run_until_complete", "run_forever", "_run_once", "_run (events.py)", "main (", "execute")
    return [(name, round(n / total, 3)) for name, n in ranked if not name.startswith(skip)][:top] if total else []


def run_worker(
    root: Path, name: str, broker: Any, model: Path, target: int, kill_at: float | None, profile: Path | None = None
) -> dict[str, Any]:
    """Run one worker to the target tick; with ``kill_at`` (a share of the ticks), SIGKILL and restart it;
    with ``profile``, sample it with py-spy meanwhile (collapsed stacks into that file)."""
    worker = Worker(root, name, broker, model, f"bench-{name}")
    worker.args += ["--state", "rocksdb"]
    out: dict[str, Any] = {}
    started = worker.start()
    spy = None
    if profile is not None and worker.process is not None:
        spy = subprocess.Popen(
            [PY_SPY, "record", "--pid", str(worker.process.pid), "--format", "raw", "--rate", "50",
             "--nonblocking", "-o", str(profile)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
    first_input = None
    first_tick = None
    killed = False
    try:
        while True:
            status = worker.status() or {}
            if first_input is None and status.get("input_messages"):
                first_input = time.monotonic()
            ticks = completed([worker])
            if ticks and first_tick is None:
                first_tick = min(ticks.values())
            if len(ticks) == PARTITIONS and min(ticks.values()) >= target:
                break
            due = kill_at is not None and not killed and first_tick is not None and len(ticks) == PARTITIONS
            if due and min(ticks.values()) >= first_tick + kill_at * (target - first_tick):  # type: ignore[operator]
                at_kill = min(ticks.values())
                worker.kill()
                killed = True
                restarted = worker.start()
                while True:
                    ticks = completed([worker])
                    if len(ticks) == PARTITIONS and min(ticks.values()) > at_kill:
                        out["consuming_again_s"] = round(time.monotonic() - restarted, 2)
                        break
                    if time.monotonic() - restarted > 120:
                        raise RuntimeError("no progress 120 s after the restart:\n" + worker.tail())
                    time.sleep(0.05)
            if worker.process is not None and worker.process.poll() is not None:
                raise RuntimeError("worker exited:\n" + worker.tail())
            time.sleep(0.05)
        ended = time.monotonic()
    finally:
        if spy is not None:
            spy.send_signal(signal.SIGINT)  # py-spy writes its file on interrupt
            spy.wait(timeout=30)
        worker.stop()
    out["wall_s"] = round(ended - started, 2)
    out["processing_s"] = round(ended - (first_input or started), 2)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=200_000, help="events in the world")
    parser.add_argument("--out", default="var/bench/stream.json")
    parser.add_argument("--profile", action="store_true", help="sample the worker with py-spy (where the time goes)")
    args = parser.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="sg-stream-bench-"))
    world = ensure_world(Path("var/bench"), args.events, accounts=max(args.events // 100, 500), days=8, seed=4242)
    events = with_closing_events(world, root / "events.jsonl")
    settings = resolve()
    model = load(settings.model)
    report: dict[str, Any] = {"events": args.events, "partitions": PARTITIONS}
    started = time.perf_counter()
    detect(events, model, settings, verdicts_out=io.BytesIO(), dead_letters=None)
    report["detect_s"] = round(time.perf_counter() - started, 2)
    broker = start_broker(root / "kafka", PORT, CONTROLLER_PORT)
    try:
        broker.create_topic("booking-events", PARTITIONS)
        n = asyncio.run(preload(broker.bootstrap, "booking-events", events))
        report["plain_consumer_s"] = round(asyncio.run(plain_consume(broker.bootstrap, "booking-events", n)), 2)
        target = last_tick(events)
        profile = Path(args.out).with_suffix(".folded") if args.profile else None
        report["worker"] = run_worker(root, "one", broker, settings.model, target, kill_at=None, profile=profile)
        if profile is not None and profile.exists():
            report["worker_profile"] = where_time_goes(profile)
        report["restart"] = run_worker(root, "restart", broker, settings.model, target, kill_at=0.5)
        report["latency"] = measure_latency(root, broker, settings.model, events, rate=2000.0, seconds=60.0)
    finally:
        broker.stop()
        shutil.rmtree(root, ignore_errors=True)
    per_s = {
        "plain_consumer": n / report["plain_consumer_s"],
        "detect": n / report["detect_s"],
        "worker": n / report["worker"]["processing_s"],
    }
    report["events_per_s"] = {k: round(v) for k, v in per_s.items()}
    report["worker_vs_plain_consumer"] = round(per_s["worker"] / per_s["plain_consumer"], 3)
    report["worker_vs_detect"] = round(per_s["worker"] / per_s["detect"], 3)
    report["worker_vs_target_15k"] = round(per_s["worker"] / 15_000, 3)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
    print(
        f"stream: worker {per_s['worker']:,.0f} events/s ({report['worker_vs_target_15k']:.2f}x of 15k), "
        f"{report['worker_vs_plain_consumer']:.3f}x a plain consumer, {report['worker_vs_detect']:.2f}x detect; "
        f"consuming again {report['restart'].get('consuming_again_s')} s after SIGKILL (target <= 15 s); "
        f"p99 event-to-flag {report['latency'].get('p99_s')} s at 2,000 events/s (target <= 1 s)",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
