"""The worker's history on a real ClickHouse server, through faults, with a real Kafka broker.

Two workers share the stream and write history to the server. Mid-stream the server goes down for
30 s while the workers keep consuming, and one worker is stopped for good, so its partitions move
to the other. Afterwards: the surviving worker reaches ``detect``'s verdicts for every partition,
and the history holds every event once, every flag, and a current verdict for every account,
written by the workers' retries while they run (not only at shutdown); the log says the store was
unreachable and reachable again.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from storage import open_store
from tests.clickhouse_server import ClickHouseServer
from tests.conftest import SmallWorld
from tests.kafka_broker import KafkaBroker
from tests.stream_support import Worker, last_tick, read_verdicts, sg, wait_for_tick
from tests.test_stream_worker import _produce, assert_same

pytestmark = pytest.mark.integration

# a server of this test's own (the storage tests' server uses 19100/18223)
TCP_PORT = int(os.environ.get("SLOTGUARD_TEST_HISTORY_TCP_PORT", "19110"))
HTTP_PORT = int(os.environ.get("SLOTGUARD_TEST_HISTORY_HTTP_PORT", "18233"))
OUTAGE_S = 30.0


@pytest.fixture
def history_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClickHouseServer]:
    server = ClickHouseServer(tmp_path_factory.mktemp("history-server"), TCP_PORT, HTTP_PORT)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _counts(url: str) -> dict[str, int]:
    with open_store(url, pseudonym_key="any") as store:
        return store.counts(logical=True)


def _current_verdicts(url: str) -> int:
    with open_store(url, pseudonym_key="any") as store:
        rows = store.backend.query(f"SELECT uniqExact(account_id) FROM {store.database}.current_verdicts")
    return int(rows[0][0])


def test_history_survives_a_store_outage_and_a_worker_leaving(
    kafka_broker: KafkaBroker,
    history_server: ClickHouseServer,
    small_world: SmallWorld,
    stream_world: tuple[Path, Path],
    tmp_path: Path,
) -> None:
    events, detect_out = stream_world
    url = f"{history_server.base_url}/stream_history"
    topic = "booking-events-history"
    _produce(kafka_broker, events, topic)
    survivor = Worker(tmp_path, "w1", kafka_broker, small_world.model_dir, "sg-history")
    leaver = Worker(tmp_path, "w2", kafka_broker, small_world.model_dir, "sg-history")
    for worker in (survivor, leaver):
        worker.args += ["--events-topic", topic, "--store", url]
    target = last_tick(events)
    try:
        survivor.start()
        leaver.start()
        wait_for_tick([survivor, leaver], target - 500, timeout=240)
        history_server.stop()
        down_at = time.monotonic()
        leaver.process.send_signal(signal.SIGTERM)  # type: ignore[union-attr]
        leaver.stop()  # its partitions move to the survivor
        time.sleep(max(0.0, OUTAGE_S - (time.monotonic() - down_at)))
        history_server.start()
        wait_for_tick([survivor], target, timeout=300)
        # the survivor's sink writes what was held back while the store was down, still running
        expected = read_verdicts(detect_out)
        want = {
            "events": len(events.read_bytes().splitlines()),
            "flags": sum(bool(v["flagged"]) for v in expected.values()),
            "current_verdicts": len(expected),
        }
        deadline = time.monotonic() + 90
        got: dict[str, int] = {}
        while time.monotonic() < deadline:
            counts = _counts(url)
            got = {"events": counts["events"], "flags": counts["flags"], "current_verdicts": _current_verdicts(url)}
            if got == want:
                break
            time.sleep(1.0)
    finally:
        survivor.stop()
        leaver.stop()
    verdicts = read_verdicts(survivor.verdicts_file)
    assert_same(verdicts, expected)
    assert want["flags"] > 0
    assert got == want, f"history {got}, expected {want}"
    logs = survivor.log.read_text(errors="replace") + leaver.log.read_text(errors="replace")
    assert "store unreachable" in logs and "store reachable again" in logs
    assert "dropped the" not in logs  # nothing was given up


@pytest.fixture(scope="module")
def stream_world(tmp_path_factory: pytest.TempPathFactory, small_world: SmallWorld) -> Iterator[tuple[Path, Path]]:
    """(events with the closing events, detect's verdicts over them), as in the worker's tests."""
    from simulator import WorldParams, simulate
    from tests.stream_support import PARTITIONS, with_closing_events

    root = tmp_path_factory.mktemp("stream-history")
    simulate(WorldParams(seed=809, accounts=400, days=3), root / "world")
    # the last partition gets no closing event: it goes quiet and closes its ticks by heartbeats
    events = with_closing_events(root / "world" / "events.jsonl", root / "events.jsonl", skip={PARTITIONS - 1})
    done = sg("--model", str(small_world.model_dir), "detect", str(events), "--out", str(root / "detect.jsonl"),
              env={**os.environ})  # fmt: skip
    assert done.returncode == 0, done.stderr
    yield events, root / "detect.jsonl"
