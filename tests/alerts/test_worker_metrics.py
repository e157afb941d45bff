"""The streaming worker's metrics on a real broker (its own, on ports 19086/19087): a scrape after
the worker caught up counts every event, has each input partition's consumer lag back at zero, and
holds only closed-set label values."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from alerts.metrics import INVALID_KINDS, REASON_KINDS
from ingest.contract import EVENT_TYPES
from simulator import WorldParams, simulate
from tests.conftest import SmallWorld
from tests.kafka_broker import KafkaBroker, missing_prerequisites, start_broker
from tests.stream_support import PARTITIONS, Worker, _env, last_tick, sg, wait_for_tick, with_closing_events

pytestmark = pytest.mark.integration
METRICS_PORT = 19085


@pytest.fixture(scope="module")
def own_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaBroker]:
    missing = missing_prerequisites()
    if missing:
        pytest.fail(f"no Kafka broker: {missing}", pytrace=False)
    broker = start_broker(tmp_path_factory.mktemp("kafka-metrics"), 19086, 19087)
    try:
        yield broker
    finally:
        broker.stop()


def _scrape() -> dict[str, list[tuple[dict[str, str], float]]]:
    with urllib.request.urlopen(f"http://127.0.0.1:{METRICS_PORT}/metrics", timeout=5) as response:
        text = response.read().decode()
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out.setdefault(sample.name, []).append((sample.labels, sample.value))
    return out


def test_worker_metrics_after_it_caught_up(own_broker: KafkaBroker, small_world: SmallWorld, tmp_path: Path) -> None:
    simulate(WorldParams(seed=909, accounts=300, days=2), tmp_path / "world")
    events = with_closing_events(tmp_path / "world" / "events.jsonl", tmp_path / "events.jsonl")
    lines = events.read_text().splitlines()
    done = sg("produce", str(events), "--partitions", str(PARTITIONS), "--format", "json", env=_env(own_broker))
    assert done.returncode == 0, done.stderr
    worker = Worker(tmp_path, "w", own_broker, small_world.model_dir, "sg-metrics")
    worker.args += ["--metrics-port", str(METRICS_PORT)]
    worker.start()
    try:
        wait_for_tick([worker], last_tick(events), timeout=240)
        deadline = time.monotonic() + 30
        samples = _scrape()
        while time.monotonic() < deadline:
            samples = _scrape()
            lags = samples.get("slotguard_kafka_consumer_lag_messages", [])
            processed = sum(v for _, v in samples.get("slotguard_events_processed_total", []))
            if len(lags) == PARTITIONS and all(v == 0 for _, v in lags) and processed == len(lines):
                break
            time.sleep(0.5)
    finally:
        worker.stop()
    assert sum(v for _, v in samples["slotguard_events_processed_total"]) == len(lines)
    lags = samples["slotguard_kafka_consumer_lag_messages"]
    assert sorted(labels["partition"] for labels, _ in lags) == [str(p) for p in range(PARTITIONS)]
    assert all(labels["topic"] == "booking-events" and v == 0 for labels, v in lags), lags
    assert sum(v for _, v in samples["slotguard_flags_raised_total"]) > 0
    assert sum(v for labels, v in samples["slotguard_score_count"]) > 0
    assert samples["slotguard_model_info"][0][1] == 1
    sites = {json.loads(line)["site"] for line in lines}
    for name, rows in samples.items():
        for labels, _ in rows:
            assert labels.get("site", next(iter(sites))) in sites, (name, labels)
            assert labels.get("type", "login") in EVENT_TYPES, (name, labels)
            assert labels.get("reason_kind", "polling") in set(REASON_KINDS) | set(INVALID_KINDS), (name, labels)
