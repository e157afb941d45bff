"""The streaming worker on a real Apache Kafka broker: the same verdicts as ``slotguard detect``.

A simulated world is produced to ``booking-events`` (with one last ``slot_released`` well after
it, so that every tick holding real events closes: a stream has no end of input), workers run as
real processes (``slotguard worker``), and their verdicts, written on shutdown, are compared with
``detect``'s over the same file: same flagged set, categories, flag times, scores within 1e-6.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from simulator import WorldParams, simulate
from tests.conftest import SmallWorld
from tests.kafka_broker import KafkaBroker
from tests.stream_support import (
    PARTITIONS,
    Worker,
    _env,
    applied_durable,
    applied_once,
    completed,
    last_tick,
    read_verdicts,
    sg,
    wait_for_tick,
    with_closing_events,
)

pytestmark = pytest.mark.integration


def assert_same(got: dict[str, dict[str, object]], want: dict[str, dict[str, object]]) -> None:
    assert set(got) == set(want)
    for account, verdict in want.items():
        mine = got[account]
        assert mine["flagged"] == verdict["flagged"], account
        assert mine.get("category") == verdict.get("category"), account
        assert mine["flagged_at"] == verdict["flagged_at"], account
        assert mine["score"] == pytest.approx(verdict["score"], abs=1e-6), account
        assert sorted(mine.get("buyers", [])) == sorted(verdict.get("buyers", [])), account


@pytest.fixture(scope="module")
def stream_world(tmp_path_factory: pytest.TempPathFactory, small_world: SmallWorld) -> Iterator[tuple[Path, Path]]:
    """(events with the closing event, detect's verdicts over them)."""
    root = tmp_path_factory.mktemp("stream")
    simulate(WorldParams(seed=808, accounts=400, days=3), root / "world")
    events = with_closing_events(root / "world" / "events.jsonl", root / "events.jsonl")
    model = str(small_world.model_dir)
    done = sg("--model", model, "detect", str(events), "--out", str(root / "detect.jsonl"), env={**os.environ})
    assert done.returncode == 0, done.stderr
    yield events, root / "detect.jsonl"


def _produce(broker: KafkaBroker, events: Path, topic: str) -> None:
    done = sg("produce", str(events), "--topic", topic, "--partitions", str(PARTITIONS), "--format", "json",
              env=_env(broker))  # fmt: skip
    assert done.returncode == 0, done.stderr


def test_two_workers_reach_detects_verdicts_and_a_killed_one_starts_again(
    kafka_broker: KafkaBroker, small_world: SmallWorld, stream_world: tuple[Path, Path], tmp_path: Path
) -> None:
    events, detect_out = stream_world
    topic = "booking-events"
    _produce(kafka_broker, events, topic)
    first = Worker(tmp_path, "w1", kafka_broker, small_world.model_dir, "sg-equivalence")
    second = Worker(tmp_path, "w2", kafka_broker, small_world.model_dir, "sg-equivalence")
    workers = [first, second]
    try:
        first.start()
        second.start()
        target = last_tick(events)
        # kill one worker mid-stream, then start it again on its local state
        wait_for_tick(workers, target - 400, timeout=240)
        first.kill()
        at_kill = min(completed([second]).values(), default=0)
        restarted = first.start()
        # processing again: every partition past where it stood at the kill (how fast is a benchmark's
        # business, `make bench-stream`; here a generous bound only tells "stuck" from "slow")
        while time.monotonic() < restarted + 90.0:
            ticks = completed(workers)
            if len(ticks) == PARTITIONS and min(ticks.values()) > at_kill:
                break
            time.sleep(0.2)
        else:
            raise AssertionError(f"no progress 90 s after the restart: {completed(workers)}\n{first.tail()}")
        wait_for_tick(workers, target, timeout=300)
        applied = applied_durable(workers)
    finally:
        _stop_together(workers)
    # every event is in the durable state once: none lost, none counted twice across the kill
    assert sum(applied.values()) == applied_once(events), applied
    _assert_verdicts_as_detects(workers, detect_out)


def _stop_together(workers: list[Worker]) -> None:
    """SIGTERM to every running worker at once (neither takes over the other's partitions on the
    way out), then wait for each."""
    for worker in workers:
        if worker.process is not None and worker.process.poll() is None:
            worker.process.send_signal(signal.SIGTERM)
    for worker in workers:
        worker.stop()


def _assert_verdicts_as_detects(workers: list[Worker], detect_out: Path) -> None:
    """The workers' verdicts together equal detect's (which flags someone)."""
    got: dict[str, dict[str, object]] = {}
    for worker in workers:
        if worker.verdicts_file.exists():
            got.update(read_verdicts(worker.verdicts_file))
    want = read_verdicts(detect_out)
    assert sum(bool(v["flagged"]) for v in want.values()) > 0
    assert_same(got, want)


def _halves(events: Path, root: Path) -> tuple[Path, Path]:
    """The stream cut in two files at its middle line (the closing events end the second)."""
    lines = events.read_bytes().splitlines()
    first, second = root / "first.jsonl", root / "second.jsonl"
    first.write_bytes(b"\n".join(lines[: len(lines) // 2]) + b"\n")
    second.write_bytes(b"\n".join(lines[len(lines) // 2 :]) + b"\n")
    return first, second


def _held(worker: Worker) -> set[str]:
    return set((worker.status() or {}).get("partitions", {}))  # type: ignore[arg-type]


def test_a_worker_joining_mid_stream_takes_partitions_and_the_verdicts_stay_detects(
    kafka_broker: KafkaBroker, small_world: SmallWorld, stream_world: tuple[Path, Path], tmp_path: Path
) -> None:
    """One worker holds every partition and has processed half the stream; a second joins the group
    while the rest is produced: the partitions are split between them, and together they reach
    ``detect``'s verdicts, with every event in the durable state exactly once."""
    events, detect_out = stream_world
    topic = "booking-events-join"
    first_half, second_half = _halves(events, tmp_path)
    _produce(kafka_broker, first_half, topic)
    first = Worker(tmp_path, "w1", kafka_broker, small_world.model_dir, "sg-join")
    joiner = Worker(tmp_path, "w2", kafka_broker, small_world.model_dir, "sg-join")
    workers = [first, joiner]
    for worker in workers:
        worker.args += ["--events-topic", topic]
    try:
        first.start()
        wait_for_tick([first], last_tick(first_half) - 20, timeout=240)
        assert len(_held(first)) == PARTITIONS
        joiner.start()
        deadline = time.monotonic() + 90
        while not _held(joiner) and time.monotonic() < deadline:
            time.sleep(0.2)
        _produce(kafka_broker, second_half, topic)  # while the group settles
        while time.monotonic() < deadline and not (_held(joiner) and len(_held(first)) < PARTITIONS):
            time.sleep(0.2)
        assert _held(joiner), "the joining worker got no partition:\n" + joiner.tail()
        assert len(_held(first)) < PARTITIONS, "the first worker kept every partition:\n" + first.tail()
        wait_for_tick(workers, last_tick(events), timeout=300)
        held = {worker.dir.name: sorted(_held(worker)) for worker in workers}
        applied = applied_durable(workers)
    finally:
        _stop_together(workers)
    assert sorted(held["w1"] + held["w2"]) == [str(p) for p in range(PARTITIONS)], held
    # every event is in the durable state once: none lost, none counted twice across the rebalance
    assert sum(applied.values()) == applied_once(events), applied
    _assert_verdicts_as_detects(workers, detect_out)


def _read_topic(broker: KafkaBroker, topic: str, timeout_s: float = 10.0) -> list[tuple[bytes | None, bytes]]:
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=broker.bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=int(timeout_s * 1000),
    )
    try:
        return [(record.key, record.value) for record in consumer]
    finally:
        consumer.close()


def test_a_broker_restart_and_a_malformed_message_leave_the_verdicts_as_detects(
    kafka_broker: KafkaBroker, small_world: SmallWorld, stream_world: tuple[Path, Path], tmp_path: Path
) -> None:
    events, _ = stream_world
    lines = events.read_bytes().splitlines()
    # a malformed message in the middle of the stream: dead-lettered with its reason, the rest goes on
    middle = len(lines) // 2
    broken = tmp_path / "events.jsonl"
    garbage = b'{"event_id": "broken-1", "type": "booking_created", "ts": "yesterday", "account_id": "a"}'
    broken.write_bytes(b"\n".join([*lines[:middle], garbage, *lines[middle:]]) + b"\n")
    detect_out = tmp_path / "detect.jsonl"
    done = sg(
        "--model", str(small_world.model_dir), "detect", str(broken), "--out", str(detect_out), env={**os.environ}
    )
    assert done.returncode == 0, done.stderr
    topic = "booking-events-faults"
    worker = Worker(tmp_path, "w", kafka_broker, small_world.model_dir, "sg-faults")
    worker.args += ["--events-topic", topic]
    _produce(kafka_broker, broken, topic)
    try:
        worker.start()
        target = last_tick(events)
        wait_for_tick([worker], target - 600, timeout=240)
        kafka_broker.restart()  # the worker reconnects by itself
        wait_for_tick([worker], target, timeout=300)
        applied = applied_durable([worker])
    finally:
        worker.stop()
    assert sum(applied.values()) == applied_once(broken), applied
    assert_same(read_verdicts(worker.verdicts_file), read_verdicts(detect_out))
    letters = [json.loads(value) for _, value in _read_topic(kafka_broker, "booking-events-dead-letter")]
    mine = [letter for letter in letters if "broken-1" in letter["raw"]]
    assert len(mine) == 1 and "ts" in mine[0]["reason"] and mine[0]["source"].startswith(topic)
