"""Speed and memory of `slotguard detect`, as ratios against baselines measured in the same run.

Speed: detect over a 1M-event file vs stdlib ``json.loads`` over the same lines (target: <= 2x).
Both are timed in this process, interleaved, best of ``--repeat`` runs, so machine load shifts
both alike. Memory: peak RSS of a separate ``slotguard detect`` process over the same file
(target: < 1 GiB for ~10k accounts), next to the peak RSS of a process that only reads the file.
"""

from __future__ import annotations

import argparse
import io
import itertools
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from models.artifact import load
from slotguard.config import resolve
from slotguard.runner import detect
from tests.bench.worlds import cached_world

GIB = 1 << 30


def ensure_world(directory: Path, events: int, accounts: int, days: int, seed: int) -> Path:
    """A world of exactly ``events`` lines (a time-sorted prefix of a simulated world), cached."""
    target = directory / f"events-{events}.jsonl"
    if target.is_file():
        return target
    world = cached_world(directory / "world", seed, accounts, days)
    with (world / "events.jsonl").open("rb") as src, target.open("wb") as dst:
        dst.writelines(itertools.islice(src, events))
    return target


def time_json(path: Path) -> float:
    started = time.perf_counter()
    with path.open("rb") as stream:
        for line in stream:
            json.loads(line.decode())
    return time.perf_counter() - started


def time_detect(path: Path, with_metrics: bool = False) -> tuple[float, dict[str, Any]]:
    """detect over ``path``; with ``with_metrics``, as ``--metrics-port`` runs it (counting, metrics updated
    every chunk, the endpoint served), so the two timings give the metrics' overhead."""
    settings = resolve()
    model = load(settings.model)
    metrics = server = None
    if with_metrics:
        from alerts.metrics import Metrics

        metrics = Metrics()
        server = metrics.serve(0)
    started = time.perf_counter()
    try:
        summary, _ = detect(path, model, settings, verdicts_out=io.BytesIO(), dead_letters=None, metrics=metrics)
    finally:
        if server is not None:
            server.shutdown()
    return time.perf_counter() - started, summary.as_dict()


def peak_rss(command: list[str]) -> int:
    """Peak resident set size (bytes) of one child process (``wait4`` reports that child alone)."""
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise subprocess.CalledProcessError(child.returncode, command)
    return usage.ru_maxrss * 1024


def run(directory: Path, events: int, accounts: int, days: int, seed: int, repeat: int) -> dict[str, Any]:
    directory.mkdir(parents=True, exist_ok=True)
    path = ensure_world(directory, events, accounts, days, seed)
    # memory first, in fresh processes (ru_maxrss of children is a running maximum)
    reader_rss = peak_rss([sys.executable, "-c", f"import json\nfor l in open({str(path)!r}, 'rb'): json.loads(l)"])
    detect_rss = peak_rss(
        [
            sys.executable,
            "-m",
            "slotguard.cli",
            "detect",
            str(path),
            "--out",
            str(directory / "verdicts.jsonl"),
            "--no-progress",
            "--format",
            "json",
        ]
    )
    json_times, detect_times, metrics_times = [], [], []
    summary: dict[str, Any] = {}
    for _ in range(repeat):
        json_times.append(time_json(path))
        elapsed, summary = time_detect(path)
        detect_times.append(elapsed)
        metrics_times.append(time_detect(path, with_metrics=True)[0])
    json_s, detect_s, metrics_s = min(json_times), min(detect_times), min(metrics_times)
    return {
        "events": summary["valid"],
        "accounts": summary["accounts"],
        "flagged": summary["flagged"],
        "json_loads_s": round(json_s, 3),
        "detect_s": round(detect_s, 3),
        "detect_over_json_ratio": round(detect_s / json_s, 3),
        "detect_with_metrics_s": round(metrics_s, 3),
        "detect_with_metrics_over_json_ratio": round(metrics_s / json_s, 3),
        "metrics_overhead": round(metrics_s / detect_s - 1.0, 4),
        "detect_events_per_s": round(summary["valid"] / detect_s),
        "speed_target_ratio": 2.0,
        "detect_peak_rss_mib": round(detect_rss / (1 << 20), 1),
        "read_only_peak_rss_mib": round(reader_rss / (1 << 20), 1),
        "memory_target_mib": GIB >> 20,
        "scored_rows": summary["scored_rows"],
        "scoring_batches": summary["scoring_batches"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dir", type=Path, default=Path("var/bench"))
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--seed", type=int, default=424242)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args(argv)
    result = run(args.dir, args.events, args.accounts, args.days, args.seed, args.repeat)
    print(json.dumps(result, indent=2))
    ok = result["detect_over_json_ratio"] <= 2.0 and result["detect_peak_rss_mib"] < 1024
    print(
        f"detect: {result['detect_over_json_ratio']:.2f}x json.loads (target <= 2x); "
        f"peak RSS {result['detect_peak_rss_mib']:.0f} MiB (target < 1024 MiB) -> {'OK' if ok else 'MISSED'}"
    )
    print(f"with metrics (--metrics-port): {result['detect_with_metrics_over_json_ratio']:.2f}x json.loads, "
          f"overhead {result['metrics_overhead']:+.1%}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
