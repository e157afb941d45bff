"""``slotguard detect``: run events through the features and the model, write one verdict per account."""

from __future__ import annotations

import argparse
import json
import sys
from contextlib import nullcontext
from pathlib import Path
from typing import Any

from ingest.pseudonym import Pseudonymizer
from models.artifact import ModelError, load
from slotguard.config import Settings
from slotguard.output import add_format_flag, key_values
from slotguard.runner import Replay, detect

DESCRIPTION = """\
Reads booking events (contract v1, JSON Lines; '-' for stdin), computes each account's behavioural
features in event time, scores them with the model and writes one verdict per account (JSON Lines;
'-' for stdout): account_id, score (higher = more suspicious), flagged, flagged_at, reasons.

Invalid lines never stop the run: each goes to the dead-letter file with its reason and the raw
line, and is counted in the summary (printed to stderr). Duplicate event_ids are applied once.
With --store, events, feature snapshots, verdicts, flags and dead letters are also kept in the
history store for investigators (see `slotguard flagged`, `slotguard account`). If the store goes
away mid-run, the writer retries with backoff and keeps what it holds; rows it still could not
write are counted in the summary and the exit code is 3 (re-running is safe: writes are
idempotent).

With --metrics-port, Prometheus metrics (events by site and type, flags by site and reason kind,
handoffs, lags, dead letters, history rows, the score distribution; no account or slot ids) are
served on 127.0.0.1:PORT/metrics while the run lasts, and --metrics-hold seconds after it, so a
Prometheus can scrape the last figures. --replay-speed N reads the events at their own pace, N
times faster than they happened (a simulated day in 864 s at 100), so that a wave reaches
Prometheus and its alerts in wall time; event-time lag is then measured against the replay's clock.

exit codes: 0 done, 2 bad input file / model / unreachable store, 3 some history rows unwritten.

examples:
  slotguard detect var/world/events.jsonl --out var/world/verdicts.jsonl
  cat events.jsonl | slotguard detect - --out - | jq 'select(.flagged)'
  slotguard detect events.jsonl --out verdicts.jsonl --store chdb:var/store
  slotguard detect events.jsonl --out verdicts.jsonl --store clickhouse://default:@127.0.0.1:9000/slotguard
  slotguard detect var/world/events.jsonl --out - --metrics-port 9108 --replay-speed 600 --metrics-hold 600
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("events", help="events file (JSON Lines), or - for stdin")
    parser.add_argument("--out", required=True, help="verdicts file (JSON Lines), or - for stdout")
    parser.add_argument(
        "--dead-letters",
        help="where invalid lines go (default: next to --out as *.dead-letters.jsonl, or var/ for stdout)",
    )
    parser.add_argument("--store", help="also keep history in this store: chdb:PATH or clickhouse://...")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar even on a terminal")
    parser.add_argument("--metrics-port", type=int, help="serve Prometheus metrics on 127.0.0.1:PORT/metrics")
    parser.add_argument(
        "--metrics-hold", type=float, default=0.0, help="keep serving metrics this many seconds after the run"
    )
    parser.add_argument(
        "--replay-speed", type=float, help="read events at their own pace, this many times faster (e.g. 600)"
    )
    parser.add_argument(
        "--sites", help="comma-separated sites labelled by name in metrics (others: first seen, up to a cap)"
    )
    add_format_flag(parser)


def _dead_letter_path(args: argparse.Namespace, settings: Settings) -> Path:
    if args.dead_letters:
        return Path(args.dead_letters)
    if args.out != "-":
        out = Path(args.out)
        return out.with_name(out.stem + ".dead-letters.jsonl")
    return settings.data_dir / "dead-letters.jsonl"


def _hold(server: Any, seconds: float) -> None:
    """Keep the metrics endpoint up for ``seconds`` (Ctrl-C ends it early), then stop it."""
    import time

    print(f"slotguard detect: serving metrics for {seconds:g} s more (Ctrl-C to stop)", file=sys.stderr)
    try:
        time.sleep(seconds)
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()


def run(args: argparse.Namespace, settings: Settings) -> int:
    try:
        model = load(settings.model)
    except ModelError as exc:
        print(f"slotguard detect: {exc}", file=sys.stderr)
        return 2
    history: Any = None
    pseudonymizer = Pseudonymizer(settings.pseudonym_key)
    if args.store:
        from storage import StoreError, open_store

        try:
            store = open_store(settings.store_url, pseudonym_key=settings.pseudonym_key)
            store.register_model(model.metadata)
            history = store.writer(pseudonymizer=pseudonymizer)
        except StoreError as exc:
            print(f"slotguard detect: {exc}", file=sys.stderr)
            return 2
    out_stream = sys.stdout.buffer if args.out == "-" else None
    if args.out != "-":
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    progress = not args.no_progress and sys.stderr.isatty()
    metrics: Any = None
    server: Any = None
    replay = None
    if args.replay_speed is not None:
        if args.replay_speed <= 0:
            print("slotguard detect: --replay-speed must be positive", file=sys.stderr)
            return 2
        replay = Replay(args.replay_speed)
    if args.metrics_port is not None:
        from alerts.metrics import Metrics

        sites = [s.strip() for s in (args.sites or "").split(",") if s.strip()]
        metrics = Metrics(sites=sites)
        try:
            server = metrics.serve(args.metrics_port)
        except OSError as exc:
            print(f"slotguard detect: cannot serve metrics on port {args.metrics_port}: {exc}", file=sys.stderr)
            return 2
    try:
        with open(args.out, "wb") if out_stream is None else nullcontext(out_stream) as out:
            summary, _ = detect(
                args.events,
                model,
                settings,
                verdicts_out=out,
                dead_letters=_dead_letter_path(args, settings),
                history=history,
                progress=progress,
                pseudonymizer=pseudonymizer,
                metrics=metrics,
                replay=replay,
            )
    except FileNotFoundError as exc:
        print(f"slotguard detect: {exc}", file=sys.stderr)
        return 2
    finally:
        if server is not None and args.metrics_hold <= 0:
            server.shutdown()
    if server is not None and args.metrics_hold > 0:
        _hold(server, args.metrics_hold)
    figures = summary.as_dict()
    if args.format == "json":
        print(json.dumps(figures), file=sys.stderr)
    else:
        shown = {k: v for k, v in figures.items() if k not in ("history", "invalid_by_kind")}
        if figures["invalid_by_kind"]:
            shown["invalid_by_kind"] = ", ".join(f"{k}: {v}" for k, v in figures["invalid_by_kind"].items())
        if figures["history"]:
            shown["history written"] = figures["history"]["written"]
            shown["history NOT written"] = figures["history"]["unwritten"]
        key_values(shown.items(), title="detect", stream=sys.stderr)
    unwritten = int(figures["history"].get("unwritten", 0)) if figures["history"] else 0
    if unwritten:
        print(
            f"slotguard detect: {unwritten} rows could not be written to the history store "
            "(verdicts were still written to --out); run again with the same input once the store is "
            "back: writes are idempotent",
            file=sys.stderr,
        )
        return 3
    return 0
