"""Metrics from a real run over a simulated world: figures match the run, labels are bounded and carry no ids."""

from __future__ import annotations

import io
import json
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families

from alerts.metrics import INVALID_KINDS, OTHER_SITE, REASON_KINDS, SCORE_BUCKETS, Metrics, SiteLabels
from ingest.contract import EVENT_TYPES
from models.artifact import load
from simulator import WorldParams, simulate
from slotguard.config import resolve
from slotguard.runner import Replay, detect
from storage.writer import TABLES

#: event fields whose values identify a person, an account, a device, an address or a slot
ID_FIELDS = ("event_id", "account_id", "session_id", "ip", "device_id", "slot_id", "booking_id", "applicant_id",
             "email_hash", "phone_hash", "user_agent")  # fmt: skip


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("metrics-world")
    simulate(WorldParams(seed=41, accounts=700, days=3, sites=4), out)
    events = out / "events.jsonl"
    # a few invalid lines of two kinds, and a duplicate, so those counters have something to count
    lines = events.read_bytes().splitlines(keepends=True)
    bad = [b"{not json\n", b'{"type": "login"}\n', lines[10]]
    events.write_bytes(b"".join(lines[:100] + bad + lines[100:]))
    return out


def _valid_events(world: Path) -> list[dict[str, object]]:
    events = []
    for line in (world / "events.jsonl").read_text().splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if "site" in event:
            events.append(event)
    return events


def _samples(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out.setdefault(sample.name, []).append((sample.labels, sample.value))
    return out


def _total(samples: dict[str, list[tuple[dict[str, str], float]]], name: str) -> float:
    return sum(v for _, v in samples.get(name, []))


def test_scrape_of_a_run_matches_its_summary_and_holds_no_ids(world: Path) -> None:
    settings = resolve(environ={})
    model = load(settings.model)
    metrics = Metrics()
    server = metrics.serve(0)
    try:
        summary, detector = detect(
            world / "events.jsonl", model, settings, verdicts_out=io.BytesIO(), dead_letters=None, metrics=metrics
        )
        port = server.server_port
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
            text = response.read().decode()
    finally:
        server.shutdown()
    samples = _samples(text)
    figures = summary.as_dict()

    assert _total(samples, "slotguard_events_processed_total") == figures["valid"] - figures["duplicates"]
    assert figures["duplicates"] >= 1
    assert _total(samples, "slotguard_events_duplicate_total") == figures["duplicates"]
    invalid = {labels["reason_kind"]: v for labels, v in samples["slotguard_events_invalid_total"]}
    assert invalid == {kind: float(figures["invalid_by_kind"].get(kind, 0)) for kind in INVALID_KINDS}
    assert sum(invalid.values()) == 2
    assert _total(samples, "slotguard_flags_raised_total") == detector.flags_raised > 0
    scored = [v for labels, v in samples["slotguard_score_count"] if labels["model_version"] == model.version]
    assert scored == [float(figures["scored_rows"])]
    assert samples["slotguard_accounts_in_state"][0][1] == figures["accounts"]
    info = samples["slotguard_model_info"]
    assert [(labels["version"], float(labels["threshold"])) for labels, _ in info] == [(model.version, model.threshold)]

    # every label value comes from a closed set
    sites = {event["site"] for event in _valid_events(world)}
    allowed = {
        "site": sites,
        "type": set(EVENT_TYPES),
        "reason_kind": set(REASON_KINDS) | set(INVALID_KINDS),
        "model_version": {model.version},
        "table": set(TABLES),
        "le": {repr(float(b)) for b in SCORE_BUCKETS} | {"+Inf"},
    }
    seen_labels: set[str] = set()
    for name, rows in samples.items():
        for labels, _ in rows:
            for key, value in labels.items():
                seen_labels.add(key)
                if key in allowed:
                    assert value in allowed[key], f"{name}: {key}={value!r} is not in the closed set"
    assert {"site", "type", "reason_kind", "model_version", "le"} <= seen_labels

    # and no value anywhere in the exposition is an id from the world
    ids: set[str] = set()
    for event in _valid_events(world):
        ids.update(str(event[f]) for f in ID_FIELDS if event.get(f) is not None)
    label_values = {value for rows in samples.values() for labels, _ in rows for value in labels.values()}
    assert ids
    assert not label_values & ids
    assert not [i for i in ids if len(i) >= 6 and i in text], "an id appears in the exposition"


def test_handoffs_by_site_are_the_cores_count(world: Path) -> None:
    settings = resolve(environ={})
    model = load(settings.model)
    metrics = Metrics()
    detect(world / "events.jsonl", model, settings, verdicts_out=None, dead_letters=None, metrics=metrics)
    samples = _samples(metrics.exposition().decode())
    by_site = {labels["site"]: v for labels, v in samples.get("slotguard_handoffs_detected_total", [])}
    assert sum(by_site.values()) > 0, "the default mix hands slots off"
    # the same world through a plain engine counts the same handoffs
    from features.engine import EmbeddedEngine
    from ingest.reader import EventReader, open_source
    from models.detector import Detector

    engine = EmbeddedEngine.on_dicts(Detector(model), settings.engine, settings.pseudonym_key)
    stream, _ = open_source(world / "events.jsonl")
    with stream:
        for _, ev in EventReader(stream, lambda row: None):
            engine.push(ev)
    engine.finish()
    # every site seen has a handoff series (from zero, so that its first handoffs count in increase())
    assert by_site == {site: float(engine.core.handoffs_by_site.get(site, 0)) for site in by_site}
    assert set(engine.core.handoffs_by_site) <= set(by_site)


def test_sites_beyond_the_cap_are_counted_as_other() -> None:
    labels = SiteLabels(configured=["75-paris"], cap=2)
    assert labels("75-paris") == "75-paris"
    assert labels("93-bobigny") == "93-bobigny"
    assert labels("13-marseille") == OTHER_SITE
    assert labels("69-lyon") == OTHER_SITE
    assert labels("93-bobigny") == "93-bobigny"
    assert labels.named == ["75-paris", "93-bobigny"]
    assert labels.overflowed == 2

    metrics = Metrics(max_sites=1)
    metrics.events_total({("a-site", "login"): 3, ("b-site", "login"): 2, ("c-site", "slot_search"): 1})
    metrics.events_total({("a-site", "login"): 5, ("b-site", "login"): 2, ("c-site", "slot_search"): 4})
    samples = _samples(metrics.exposition().decode())
    got = {(lab["site"], lab["type"]): v for lab, v in samples["slotguard_events_processed_total"]}
    assert got == {("a-site", "login"): 5.0, (OTHER_SITE, "login"): 2.0, (OTHER_SITE, "slot_search"): 4.0}


def test_score_histogram_counts_a_batch_like_numpy() -> None:
    metrics = Metrics()
    rng = np.random.default_rng(3)
    scores = rng.gamma(1.2, 0.8, size=5000)
    metrics.scored("m1", scores[:2000])
    metrics.scored("m1", scores[2000:])
    samples = _samples(metrics.exposition().decode())
    buckets = {lab["le"]: v for lab, v in samples["slotguard_score_bucket"]}
    for edge in SCORE_BUCKETS:
        assert buckets[repr(float(edge))] == float(np.sum(scores <= edge))
    assert buckets["+Inf"] == 5000
    assert samples["slotguard_score_sum"][0][1] == pytest.approx(float(scores.sum()))


def test_event_time_lag_grows_while_nothing_new_arrives() -> None:
    now = [1_000_000.0]
    metrics = Metrics(clock=lambda: now[0])
    metrics.newest_event_times({"75-paris": 999_990.0})
    lag = _samples(metrics.exposition().decode())["slotguard_event_time_lag_seconds"]
    assert lag == [({"site": "75-paris"}, 10.0)]
    now[0] += 50
    lag = _samples(metrics.exposition().decode())["slotguard_event_time_lag_seconds"]
    assert lag == [({"site": "75-paris"}, 60.0)]
    metrics.newest_event_times({"75-paris": 999_000.0})  # older than what was seen: ignored
    assert _samples(metrics.exposition().decode())["slotguard_event_time_lag_seconds"][0][1] == 60.0


def test_history_totals_become_counters() -> None:
    from storage.writer import TableReport, WriteReport

    metrics = Metrics()
    metrics.history_report(WriteReport({"events": TableReport(written=10, retries=1)}))
    metrics.history_report(WriteReport({"events": TableReport(written=25, retries=2, rejected=3, dropped=1)}))
    samples = _samples(metrics.exposition().decode())
    assert samples["slotguard_history_rows_written_total"] == [({"table": "events"}, 25.0)]
    assert samples["slotguard_history_write_retries_total"] == [({"table": "events"}, 2.0)]
    assert samples["slotguard_history_rows_failed_total"] == [({"table": "events"}, 4.0)]


def test_a_replay_keeps_to_its_pace(tmp_path: Path) -> None:
    settings = resolve(environ={})
    model = load(settings.model)
    source = tmp_path / "events.jsonl"
    base = 1_772_438_400  # 2026-03-02T08:00:00Z
    lines = [
        json.dumps(
            {
                "event_id": f"e{i}",
                "type": "login",
                "ts": _iso(base + 10 * i),
                "site": "75-paris",
                "account_id": f"acc{i % 3}",
                "success": True,
            }
        )
        for i in range(21)
    ]
    source.write_text("\n".join(lines) + "\n")
    metrics = Metrics()
    started = time.monotonic()
    summary, _ = detect(
        source, model, settings, verdicts_out=None, dead_letters=None, metrics=metrics, replay=Replay(200.0)
    )
    elapsed = time.monotonic() - started
    assert summary.read.valid == 21
    assert 0.9 <= elapsed <= 3.0, f"200 s of events at 200x took {elapsed:.2f} s"
    # lag is measured against the replay's clock: about zero just after the last event
    lag = _samples(metrics.exposition().decode())["slotguard_event_time_lag_seconds"][0][1]
    assert lag < 200.0


def _iso(t: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds")
