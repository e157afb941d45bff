"""Every Prometheus metric slotguard exports, defined here and nowhere else.

The shells (``slotguard detect``'s runner, the streaming worker) own one :class:`Metrics` and hand
it what they already count, at batch boundaries: cumulative totals (events by site and type,
duplicates, invalid lines by reason kind, handoffs by site, history rows) become counter
increments here, new flags and scored batches are added as they come. The detection core knows
nothing of Prometheus. Metrics live in their own :class:`~prometheus_client.CollectorRegistry`
(not the process-global one), are exposed over HTTP by :meth:`Metrics.serve` and pushed nowhere.

Conventions (Prometheus' own): a ``slotguard_`` prefix, base units (seconds), ``_total`` counters,
and label values from closed sets only: sites (configured, or first seen, up to a cap; any further
site is counted as ``other``), event types and invalid-line kinds from the contract, reason kinds
from the feature registry's families, history tables from the store's schema, the model version.
Never an account, address, device, applicant or slot id.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
from prometheus_client import CollectorRegistry, Counter, Gauge, disable_created_metrics
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from features.registry import FAMILIES
from ingest.contract import EVENT_TYPES
from models.explain import COMBINED

logger = logging.getLogger(__name__)

#: the label value a site beyond the cap is counted under
OTHER_SITE = "other"
#: sites labelled by name at most (configured ones first, then in order of first sight)
DEFAULT_MAX_SITES = 32
#: kinds of invalid input lines (``ingest.contract.ContractError.kind``)
INVALID_KINDS: tuple[str, ...] = ("unparsable", "invalid", "timestamp", "address")
#: reason kind of a flag: the family of its strongest cited evidence, or ``combined`` when no
#: single feature was strong enough to cite (several mildly unusual behaviours together)
COMBINED_REASON = COMBINED
REASON_KINDS: tuple[str, ...] = (*FAMILIES, COMBINED_REASON)
#: score buckets (the model's score: rarity in decades, higher is more suspicious)
SCORE_BUCKETS: tuple[float, ...] = (0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0, 2.25, 2.5, 3.0, 3.5, 4.0, 5.0, 6.0, 8.0)


class SiteLabels:
    """Maps a site name to its label value: a bounded set (configured sites, then first sight, then ``other``)."""

    def __init__(self, configured: Sequence[str] = (), cap: int = DEFAULT_MAX_SITES) -> None:
        if cap < 1:
            raise ValueError("the site cap must be at least 1")
        self.cap = max(cap, len(configured))
        self._labels: dict[str, str] = {site: site for site in configured}
        self._lock = threading.Lock()
        self.overflowed = 0

    def __call__(self, site: str) -> str:
        label = self._labels.get(site)
        if label is not None:
            return label
        with self._lock:
            label = self._labels.get(site)
            if label is None:
                named = sum(1 for v in self._labels.values() if v != OTHER_SITE)
                label = site if named < self.cap and site and site != OTHER_SITE else OTHER_SITE
                if label == OTHER_SITE:
                    self.overflowed += 1
                    logger.warning("site %r beyond the cap of %d named sites: counted as %r", site, self.cap, label)
                self._labels[site] = label
        return label

    @property
    def named(self) -> list[str]:
        """The sites labelled by their own name."""
        return sorted({v for v in self._labels.values() if v != OTHER_SITE})


class _Totals:
    """Turns cumulative totals, keyed, into increments (a total that went down restarted from zero)."""

    def __init__(self) -> None:
        self._last: dict[Any, float] = {}

    def delta(self, key: Any, total: float) -> float:
        last = self._last.get(key, 0.0)
        self._last[key] = total
        return total - last if total >= last else total


class _ScoreHistogram(Collector):
    """A histogram of scores by model version, filled a whole batch at a time with numpy."""

    def __init__(self, buckets: Sequence[float]) -> None:
        self.edges = np.asarray(buckets, dtype=np.float64)
        self._counts: dict[str, np.ndarray] = {}
        self._sums: dict[str, float] = {}
        self._lock = threading.Lock()

    def observe(self, model_version: str, scores: np.ndarray) -> None:
        if not len(scores):
            return
        # bucket i counts scores <= edges[i]; the last slot is +Inf
        index = np.searchsorted(self.edges, scores, side="left")
        counts = np.bincount(index, minlength=len(self.edges) + 1)
        with self._lock:
            held = self._counts.get(model_version)
            self._counts[model_version] = counts if held is None else held + counts
            self._sums[model_version] = self._sums.get(model_version, 0.0) + float(np.sum(scores))

    def collect(self) -> Iterator[Metric]:
        family = HistogramMetricFamily(
            "slotguard_score",
            "Scores given to accounts (higher is more suspicious), by model version",
            labels=["model_version"],
        )
        with self._lock:
            items = [(v, c.copy(), self._sums[v]) for v, c in self._counts.items()]
        for version, counts, total in items:
            cumulative = np.cumsum(counts)
            pairs = zip(self.edges.tolist(), cumulative[:-1].tolist(), strict=True)
            buckets = [(_le(edge), float(n)) for edge, n in pairs]
            buckets.append(("+Inf", float(cumulative[-1])))
            family.add_metric([version], buckets, total)
        yield family

    def describe(self) -> Iterator[Metric]:
        yield HistogramMetricFamily("slotguard_score", "", labels=["model_version"])


def _le(edge: float) -> str:
    return repr(float(edge))


class _EventTimeLag(Collector):
    """Wall clock (or the replay's clock) minus the newest event time seen per site, computed when
    scraped, so that the lag of a stalled pipeline keeps growing."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.newest: dict[str, float] = {}

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "slotguard_event_time_lag_seconds",
            "Clock time minus the event time of the newest event processed, per site",
            labels=["site"],
        )
        now = self.clock()
        for site, t in sorted(dict(self.newest).items()):
            family.add_metric([site], max(now - t, 0.0))
        yield family
        newest = GaugeMetricFamily(
            "slotguard_newest_event_timestamp_seconds",
            "Event time of the newest event processed, per site (Unix seconds)",
            labels=["site"],
        )
        for site, t in sorted(dict(self.newest).items()):
            newest.add_metric([site], t)
        yield newest

    def describe(self) -> Iterator[Metric]:
        yield GaugeMetricFamily("slotguard_event_time_lag_seconds", "", labels=["site"])
        yield GaugeMetricFamily("slotguard_newest_event_timestamp_seconds", "", labels=["site"])


class Metrics:
    """slotguard's metrics in their own registry, with the update calls the shells make."""

    def __init__(
        self,
        sites: Sequence[str] = (),
        max_sites: int = DEFAULT_MAX_SITES,
        clock: Callable[[], float] = time.time,
    ) -> None:
        # ``*_created`` series would double the series count for nothing an alert or dashboard reads
        disable_created_metrics()
        self.registry = registry = CollectorRegistry(auto_describe=True)
        self.site = SiteLabels(sites, max_sites)
        self.events_processed = Counter(
            "slotguard_events_processed", "Valid events accepted for detection, by site and event type",
            ["site", "type"], registry=registry,
        )  # fmt: skip
        self.events_invalid = Counter(
            "slotguard_events_invalid", "Input rejected by the contract (sent to dead letters), by reason kind",
            ["reason_kind"], registry=registry,
        )  # fmt: skip
        self.events_duplicate = Counter(
            "slotguard_events_duplicate", "Events whose event_id was seen before (applied once)", registry=registry
        )
        self.events_late = Counter(
            "slotguard_events_late", "Events that arrived after their tick closed (applied in the next one)",
            registry=registry,
        )  # fmt: skip
        self.flags_raised = Counter(
            "slotguard_flags_raised", "Accounts flagged for scalping, by site and reason kind (strongest evidence)",
            ["site", "reason_kind"], registry=registry,
        )  # fmt: skip
        self.handoffs = Counter(
            "slotguard_handoffs_detected", "Slots cancelled by one account and booked by another just after, by site",
            ["site"], registry=registry,
        )  # fmt: skip
        self.accounts_in_state = Gauge(
            "slotguard_accounts_in_state", "Accounts whose features are held in state", registry=registry
        )
        self.model_info = Gauge(
            "slotguard_model_info", "The model scoring now (value 1): version, feature-set hash, threshold",
            ["version", "feature_hash", "threshold"], registry=registry,
        )  # fmt: skip
        self.model_threshold = Gauge(
            "slotguard_model_threshold", "Score at or above which an account is flagged", registry=registry
        )
        self.consumer_lag = Gauge(
            "slotguard_kafka_consumer_lag_messages", "Messages in a partition not yet read (highwater minus position)",
            ["topic", "partition"], registry=registry,
        )  # fmt: skip
        self.history_written = Counter(
            "slotguard_history_rows_written", "Rows written to the history store, by table", ["table"],
            registry=registry,
        )  # fmt: skip
        self.history_retried = Counter(
            "slotguard_history_write_retries", "Failed history insert attempts that were retried, by table", ["table"],
            registry=registry,
        )  # fmt: skip
        self.history_failed = Counter(
            "slotguard_history_rows_failed", "History rows that could not be written (rejected or dropped), by table",
            ["table"], registry=registry,
        )  # fmt: skip
        self.batches = Counter(
            "slotguard_batches_processed", "Batches the shell handed to the detection core", registry=registry
        )
        self.last_batch = Gauge(
            "slotguard_last_batch_timestamp_seconds", "Wall-clock time the last batch was processed", registry=registry
        )
        self.scores = _ScoreHistogram(SCORE_BUCKETS)
        registry.register(self.scores)
        self.lag = _EventTimeLag(clock)
        registry.register(self.lag)
        self._totals = _Totals()
        self._model: tuple[str, str, str] | None = None
        self._sites_seen: set[str] = set()
        for kind in INVALID_KINDS:
            self.events_invalid.labels(kind)

    def _site(self, site: str) -> str:
        """The label of ``site``; the first time a label is used, its flag and handoff series start
        at zero, so that the first flags of a new site count in ``increase()`` (Prometheus cannot
        see the jump of a series that appears with its first value)."""
        label = self.site(site)
        if label not in self._sites_seen:
            self._sites_seen.add(label)
            for kind in REASON_KINDS:
                self.flags_raised.labels(label, kind)
            self.handoffs.labels(label)
        return label

    # ------------------------------------------------------------------ model
    def set_model(self, version: str, feature_hash: str, threshold: float) -> None:
        """The model now scoring (the previous one's info series is removed)."""
        labels = (version, feature_hash[:12], f"{threshold:g}")
        if self._model is not None and self._model != labels:
            self.model_info.remove(*self._model)
        self.model_info.labels(*labels).set(1)
        self.model_threshold.set(threshold)
        self._model = labels

    # ------------------------------------------------------------------ totals from the shells
    def events_total(self, counts: Mapping[tuple[str, str], int], source: str = "") -> None:
        """Cumulative valid events by (site, type), from one source (a partition; '' in detect)."""
        for (site, event_type), total in counts.items():
            delta = self._totals.delta(("events", source, site, event_type), total)
            if delta:
                self.events_processed.labels(self._site(site), _event_type(event_type)).inc(delta)

    def newest_event_times(self, newest: Mapping[str, float]) -> None:
        """Event time of the newest event seen per site (Unix seconds)."""
        held = self.lag.newest
        for site, t in newest.items():
            label = self._site(site)
            if t > held.get(label, float("-inf")):
                held[label] = t

    def invalid_total(self, by_kind: Mapping[str, int], source: str = "") -> None:
        """Cumulative invalid lines by reason kind."""
        for kind, total in by_kind.items():
            delta = self._totals.delta(("invalid", source, kind), total)
            if delta:
                self.events_invalid.labels(kind if kind in INVALID_KINDS else "invalid").inc(delta)

    def engine_totals(self, duplicates: int, late: int, source: str = "") -> None:
        """Cumulative duplicates and late events (``features.engine.EngineStats``)."""
        self.events_duplicate.inc(self._totals.delta(("dup", source), duplicates))
        self.events_late.inc(self._totals.delta(("late", source), late))

    def handoffs_total(self, by_site: Mapping[str, int], source: str = "") -> None:
        """Cumulative handoffs detected, by site."""
        for site, total in by_site.items():
            delta = self._totals.delta(("handoffs", source, site), total)
            if delta:
                self.handoffs.labels(self._site(site)).inc(delta)

    def history_report(self, report: Any) -> None:
        """Cumulative history figures from a ``storage.writer.WriteReport`` (per table)."""
        for table, figures in report.tables.items():
            for counter, key, total in (
                (self.history_written, "written", figures.written),
                (self.history_retried, "retried", figures.retries),
                (self.history_failed, "failed", figures.rejected + figures.dropped),
            ):
                delta = self._totals.delta(("history", key, table), total)
                if delta:
                    counter.labels(table).inc(delta)

    def history_failures(self, table: str, rows: int) -> None:
        """Rows the shell could not hand to the history writer at all (it raised)."""
        self.history_failed.labels(table).inc(rows)

    # ------------------------------------------------------------------ what scoring produced
    def flags(self, flags: Iterable[Any]) -> None:
        """New flags (``models.records.Flag``): counted by site and reason kind."""
        for flag in flags:
            kind = flag.reason_kind if flag.reason_kind in REASON_KINDS else COMBINED_REASON
            self.flags_raised.labels(self._site(flag.site), kind).inc()

    def scored(self, model_version: str, scores: np.ndarray) -> None:
        """Scores of one scored batch."""
        self.scores.observe(model_version, np.asarray(scores, dtype=np.float64))

    def batch_done(self, accounts: int | None = None) -> None:
        """A batch was processed (and, when known, how many accounts the state holds)."""
        self.batches.inc()
        self.last_batch.set(time.time())
        if accounts is not None:
            self.accounts_in_state.set(accounts)

    def kafka_lag(self, topic: str, partition: int, lag: int) -> None:
        self.consumer_lag.labels(topic, str(partition)).set(max(lag, 0))

    def forget_partition(self, topic: str, partition: int) -> None:
        """A partition left this worker: its consumer lag is no longer ours to report."""
        with contextlib.suppress(KeyError):
            self.consumer_lag.remove(topic, str(partition))

    # ------------------------------------------------------------------ exposing
    def serve(self, port: int, address: str = "127.0.0.1") -> Any:
        """Serve ``/metrics`` on ``address:port`` in a daemon thread; returns the server (``shutdown()``)."""
        from prometheus_client import start_http_server

        server, _thread = start_http_server(port, addr=address, registry=self.registry)
        logger.info("metrics on http://%s:%d/metrics", address, server.server_port)
        return server

    def exposition(self) -> bytes:
        """The text exposition format, as a scrape would return it."""
        from prometheus_client import generate_latest

        return generate_latest(self.registry)


def _event_type(event_type: str) -> str:
    return event_type if event_type in EVENT_TYPES else "other"
