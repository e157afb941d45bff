"""How many Prometheus series slotguard's metrics make: a 10-site, 1M-event replay, scraped.

The simulator draws at most 8 sites, so the world is two simulated 5-site worlds merged in event
time, the second's sites renamed (``-b``): 10 sites. ``detect`` runs over its first 1M events with
metrics and a chDB history store (so the history series exist too); the exposition is scraped
over HTTP and its series counted per metric. Bounded cardinality means this count depends on the
number of sites, event types, reason kinds, tables and score buckets, not on accounts or events.
"""

from __future__ import annotations

import argparse
import heapq
import io
import itertools
import json
import sys
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from alerts.metrics import Metrics
from ingest.pseudonym import Pseudonymizer
from models.artifact import load
from simulator import WorldParams, simulate
from slotguard.config import resolve
from slotguard.runner import detect


def _timed(path: Path, rename: str) -> Iterator[tuple[str, bytes]]:
    with path.open("rb") as stream:
        for raw in stream:
            event = json.loads(raw)
            if rename:
                event["site"] += rename
                event["event_id"] += rename
                raw = (json.dumps(event, separators=(",", ":")) + "\n").encode()  # noqa: PLW2901
            yield event["ts"], raw


def ten_site_world(directory: Path, events: int, seed: int) -> Path:
    target = directory / f"ten-sites-{events}.jsonl"
    if target.is_file():
        return target
    worlds = []
    for i in range(2):
        world = directory / f"five-sites-{i}"
        if not (world / "events.jsonl").is_file():
            simulate(WorldParams(seed=seed + i, accounts=6000, days=10, sites=5), world)
        worlds.append(world / "events.jsonl")
    # the same start day and offset for both: ISO timestamps with one offset sort as text
    merged = heapq.merge(_timed(worlds[0], ""), _timed(worlds[1], "-b"), key=lambda item: item[0])
    with target.open("wb") as out:
        out.writelines(line for _, line in itertools.islice(merged, events))
    return target


def count(path: Path, directory: Path) -> dict[str, Any]:
    settings = resolve()
    model = load(settings.model)
    from storage import open_store

    store = open_store(f"chdb:{directory / 'series-store'}", pseudonym_key=settings.pseudonym_key)
    store.register_model(model.metadata)
    metrics = Metrics()
    server = metrics.serve(0)
    try:
        summary, _ = detect(path, model, settings, verdicts_out=io.BytesIO(), dead_letters=None, metrics=metrics,
                            history=store.writer(pseudonymizer=Pseudonymizer(settings.pseudonym_key)))  # fmt: skip
        with urllib.request.urlopen(f"http://127.0.0.1:{server.server_port}/metrics", timeout=30) as response:
            text = response.read().decode()
    finally:
        server.shutdown()
    per_metric: Counter[str] = Counter()
    sites: set[str] = set()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            per_metric[family.name] += 1
            if "site" in sample.labels:
                sites.add(sample.labels["site"])
    return {
        "events": summary.read.valid,
        "accounts": summary.accounts,
        "flagged": summary.flagged,
        "sites": len(sites),
        "series": sum(per_metric.values()),
        "series_per_metric": dict(per_metric.most_common()),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dir", type=Path, default=Path("var/bench/series"))
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=515151)
    args = parser.parse_args(argv)
    args.dir.mkdir(parents=True, exist_ok=True)
    result = count(ten_site_world(args.dir, args.events, args.seed), args.dir)
    print(json.dumps(result, indent=2))
    print(f"{result['series']} series for {result['sites']} sites and {result['events']:,} events")
    return 0


if __name__ == "__main__":
    sys.exit(main())
