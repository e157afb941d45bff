"""The detection run: reader -> engine (feature core) -> detector -> verdicts, dead letters, history.

This is wiring only: every decision lives in ``ingest``, ``features`` and ``models``. It is the
same path for ``slotguard detect``, the demo and the benchmarks.
"""

from __future__ import annotations

import gc
import logging
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Protocol

import msgspec
import numpy as np

from features.engine import EmbeddedEngine, EngineStats, FeatureBatch
from features.records import Snapshot
from features.registry import FEATURE_NAMES
from ingest.contract import TYPE_NAMES, AnyEvent
from ingest.deadletter import DeadLetter
from ingest.pseudonym import Pseudonymizer
from ingest.reader import EventReader, ReadStats, open_source
from models.artifact import ModelArtifact
from models.detector import Detector
from models.records import Flag, Verdict
from slotguard.config import Settings

if TYPE_CHECKING:
    from alerts.metrics import Metrics

logger = logging.getLogger(__name__)

#: events are handed to the history writer in chunks of this many
EVENT_CHUNK = 4096
#: metrics are updated every this many events (and, in a replay, at least every METRICS_EVERY_S)
METRICS_CHUNK = 4096
METRICS_EVERY_S = 0.25


@dataclass(frozen=True)
class Replay:
    """Replay a file at the pace it happened, compressed: ``speed`` event-time seconds per wall second.

    The first event is read at once; each later one when the wall clock has advanced by its event
    time's distance from the first, divided by ``speed``. The replay's clock (the first event's
    time plus the wall time elapsed times ``speed``) is what event-time lag is measured against.
    """

    speed: float

    def __post_init__(self) -> None:
        if not self.speed > 0:
            raise ValueError("the replay speed must be positive")


class _ReplayClock:
    """Paces a replay and tells its time (event time the replay stands at)."""

    def __init__(self, speed: float) -> None:
        self.speed = speed
        self.origin_t: float | None = None
        self.origin_wall = 0.0

    def wait_for(self, t: float) -> None:
        if self.origin_t is None:
            self.origin_t, self.origin_wall = t, time.monotonic()
            return
        due = self.origin_wall + (t - self.origin_t) / self.speed
        ahead = due - time.monotonic()
        if ahead > 0.002:
            time.sleep(ahead)

    def now(self) -> float:
        if self.origin_t is None:
            return time.time()
        return self.origin_t + (time.monotonic() - self.origin_wall) * self.speed


class HistorySink(Protocol):
    """What the run needs from a history store writer (see ``storage``)."""

    def add_events(self, events: Sequence[AnyEvent], raws: Sequence[str]) -> None: ...
    def add_dead_letters(self, rows: Sequence[DeadLetter]) -> None: ...
    def add_snapshots(
        self, rows: Sequence[Snapshot], scores: Sequence[float], model_version: str, feature_names: Sequence[str]
    ) -> None: ...
    def add_verdicts(self, rows: Sequence[Verdict]) -> None: ...
    def add_flags(self, rows: Sequence[Flag]) -> None: ...
    def close(self) -> Any: ...


@dataclass
class RunSummary:
    """What happened in one detection run."""

    read: ReadStats
    engine: EngineStats
    accounts: int
    flagged: int
    model_version: str
    threshold: float
    seconds: float
    dead_letters_path: str | None = None
    history: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "events_read": self.read.lines - self.read.blank,
            "valid": self.read.valid,
            "invalid": self.read.invalid,
            "invalid_by_kind": dict(self.read.invalid_by_kind),
            "duplicates": self.engine.duplicates,
            "late": self.engine.late,
            "applied": self.engine.applied,
            "accounts": self.accounts,
            "flagged": self.flagged,
            "scoring_batches": self.engine.batches,
            "scored_rows": self.engine.scored_rows,
            "model_version": self.model_version,
            "threshold": self.threshold,
            "seconds": round(self.seconds, 3),
            "dead_letters": self.dead_letters_path,
            "history": self.history,
        }


class _DeadLetterFile:
    """Writes dead letters as JSON Lines, creating the file only when the first one arrives."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._stream: BinaryIO | None = None
        self._encoder = msgspec.json.Encoder()

    def write(self, row: DeadLetter) -> None:
        if self.path is None:
            return
        if self._stream is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._stream = self.path.open("wb")
        self._stream.write(self._encoder.encode(row) + b"\n")

    def close(self) -> str | None:
        if self._stream is None:
            return None
        self._stream.close()
        return str(self.path)


def detect(
    source: str | Path,
    model: ModelArtifact,
    settings: Settings,
    *,
    verdicts_out: BinaryIO | None,
    dead_letters: Path | None,
    history: HistorySink | None = None,
    progress: bool = False,
    pseudonymizer: Pseudonymizer | None = None,
    metrics: Metrics | None = None,
    replay: Replay | None = None,
) -> tuple[RunSummary, Detector]:
    """Run detection over a JSON Lines source; write verdicts and dead letters; return the summary.

    With ``metrics``, events are also counted by site and type, and the run's totals are handed to
    the metrics every ``METRICS_CHUNK`` events (batch boundaries: nothing per event but a count).
    With ``replay``, events are read at their own pace, compressed, instead of as fast as possible.
    """
    started = time.perf_counter()
    tune_garbage_collector()
    dead_file = _DeadLetterFile(dead_letters)
    clock = _ReplayClock(replay.speed) if replay is not None else None
    if metrics is not None:
        metrics.set_model(model.version, str(model.metadata.get("feature_hash", "")), model.threshold)
        if clock is not None:
            metrics.lag.clock = clock.now

    def on_dead_letter(row: DeadLetter) -> None:
        dead_file.write(row)
        if history is not None:
            history.add_dead_letters([row])

    on_flag = None
    on_scored = None
    if history is not None or metrics is not None:

        def on_flag(flag: Flag) -> None:
            if history is not None:
                history.add_flags([flag])
            if metrics is not None:
                metrics.flags([flag])

        def on_scored(batch: FeatureBatch, scores: np.ndarray) -> None:
            if history is not None:
                history.add_snapshots(batch.snapshots(), scores.tolist(), model.version, FEATURE_NAMES)
            if metrics is not None:
                metrics.scored(model.version, scores)

    detector = Detector(model, on_flag=on_flag, on_scored=on_scored)
    engine = EmbeddedEngine.on_dicts(detector, settings.engine, pseudonymizer or settings.pseudonym_key)
    stream, size = open_source(source)
    reader = EventReader(stream, on_dead_letter, source_name=str(source))
    bar = _progress(size, progress)
    pending_events: list[AnyEvent] = []
    pending_raws: list[str] = []
    push = engine.push
    #: (site, event class) -> events accepted; site -> the last event accepted there
    counts: dict[tuple[str, type], int] = {}
    last_by_site: dict[str, AnyEvent] = {}
    wait_for = clock.wait_for if clock is not None else None
    counting = metrics is not None
    # a replay reports at least every minute of event time (its lag is measured against that)
    report_every = METRICS_EVERY_S if replay is None else max(0.02, min(METRICS_EVERY_S, 60.0 / replay.speed))
    next_report = time.monotonic() + report_every

    def report() -> None:
        if metrics is None:
            return
        metrics.events_total({(site, TYPE_NAMES[cls]): n for (site, cls), n in counts.items()})
        metrics.newest_event_times({site: ev.ts.timestamp() for site, ev in last_by_site.items()})
        metrics.invalid_total(reader.stats.invalid_by_kind)
        stats = engine.stats
        metrics.engine_totals(stats.duplicates, stats.late)
        metrics.handoffs_total(engine.core.handoffs_by_site)
        if history is not None and hasattr(history, "report"):
            metrics.history_report(history.report())
        metrics.batch_done(len(engine.stores.accounts))

    try:
        for count, (raw, event) in enumerate(reader, 1):
            if wait_for is not None:
                wait_for(event.ts.timestamp())
            if push(event):
                if counting:
                    key = (event.site, event.__class__)
                    counts[key] = counts.get(key, 0) + 1
                    last_by_site[event.site] = event
                if history is not None:
                    pending_events.append(event)
                    pending_raws.append(raw.rstrip(b"\r\n").decode())
                    if len(pending_events) >= EVENT_CHUNK:
                        history.add_events(pending_events, pending_raws)
                        pending_events, pending_raws = [], []
            if counting and (count % METRICS_CHUNK == 0 or (wait_for is not None and time.monotonic() >= next_report)):
                report()
                next_report = time.monotonic() + report_every
            if bar is not None and count % 20_000 == 0:
                bar.update(reader.stats.bytes_read - bar.n)
        engine.finish()
    finally:
        if stream is not sys.stdin.buffer:
            stream.close()
        if bar is not None:
            bar.update(reader.stats.bytes_read - bar.n)
            bar.close()
    results = list(detector.results())
    if verdicts_out is not None:
        encoder = msgspec.json.Encoder()
        verdicts_out.write(b"".join(encoder.encode(v.contract_dict()) + b"\n" for v in results))
        verdicts_out.flush()
    closed_report: dict[str, Any] = {}
    if history is not None:
        if pending_events:
            history.add_events(pending_events, pending_raws)
        history.add_verdicts(results)
        closed = history.close()
        if metrics is not None and hasattr(closed, "tables"):
            metrics.history_report(closed)
        closed_report = closed.as_dict() if hasattr(closed, "as_dict") else dict(closed or {})
    if counting:
        report()
    summary = RunSummary(
        read=reader.stats,
        engine=engine.stats,
        accounts=len(results),
        flagged=sum(1 for v in results if v.flagged),
        model_version=model.version,
        threshold=model.threshold,
        seconds=time.perf_counter() - started,
        dead_letters_path=dead_file.close(),
        history=closed_report,
    )
    return summary, detector


def tune_garbage_collector() -> None:
    """Collect young objects less often during a run.

    The feature state is hundreds of thousands of small long-lived records without reference
    cycles; with the default thresholds the cyclic collector keeps rescanning them (about a third
    of detect's time on 1M events). Reference counting still frees everything as usual.
    """
    gc.freeze()
    gc.set_threshold(100_000, 50, 100)


def _progress(total: int | None, enabled: bool) -> Any:
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit="B", unit_scale=True, desc="detect", file=sys.stderr, leave=False)
