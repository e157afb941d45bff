"""The embedded runner: one process, dict stores, events applied in event-time order.

It deduplicates by ``event_id``, reorders events inside a bounded lateness (ties broken by
``event_id``), runs the :class:`~features.core.FeatureCore` steps, and every
``score_interval_s`` of event time (or when ``max_batch`` accounts are waiting) hands the
accounts whose features changed to ``on_batch`` as one matrix, so scoring is batched. It evicts
idle state by event time. It knows nothing of models, storage or metrics: the caller passes
``on_batch``.
"""

from __future__ import annotations

import heapq
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np

from features.config import EngineConfig
from features.core import FeatureCore
from features.registry import FEATURE_NAMES, vector
from features.state import AccountState, Stores
from ingest.contract import AnyEvent
from ingest.dedup import Deduplicator
from ingest.pseudonym import Pseudonymizer

logger = logging.getLogger(__name__)


@dataclass
class FeatureBatch:
    """Accounts whose features changed, with their vectors as of event time ``times[i]``."""

    account_ids: list[str]
    sites: list[str]
    times: list[float]
    matrix: np.ndarray
    states: list[AccountState]

    def __len__(self) -> int:
        return len(self.account_ids)


@dataclass
class EngineStats:
    """Counters for the run summary."""

    accepted: int = 0
    duplicates: int = 0
    late: int = 0
    applied: int = 0
    batches: int = 0
    scored_rows: int = 0
    evicted: dict[str, int] = field(default_factory=dict)


BatchHandler = Callable[[FeatureBatch], None]


class EmbeddedEngine:
    """Feeds events through the feature core and calls ``on_batch`` with batches to score."""

    def __init__(
        self,
        core: FeatureCore,
        on_batch: BatchHandler,
        config: EngineConfig | None = None,
    ) -> None:
        self.core = core
        self.stores: Stores = core.stores
        self.on_batch = on_batch
        self.config = config or EngineConfig()
        self.stats = EngineStats()
        self._dedup = Deduplicator(self.config.dedup_horizon_s)
        self._pending: list[tuple[float, str, AnyEvent]] = []
        self._max_t = float("-inf")
        self._applied_t = float("-inf")
        self._dirty: dict[str, None] = {}
        self._dirty_set = _DirtyView(self._dirty)
        self._next_score_t: float | None = None
        self._next_sweep_t: float | None = None

    @classmethod
    def on_dicts(
        cls, on_batch: BatchHandler, config: EngineConfig, pseudonymizer: Pseudonymizer | str
    ) -> EmbeddedEngine:
        """An engine over fresh dict stores: the embedded default (a key makes a new pseudonymizer)."""
        if isinstance(pseudonymizer, str):
            pseudonymizer = Pseudonymizer(pseudonymizer)
        return cls(FeatureCore(Stores(), pseudonymizer), on_batch, config)

    # -------------------------------------------------------------- input
    def push(self, ev: AnyEvent) -> bool:
        """Accept one validated event; False if it is a duplicate (and was not applied)."""
        t = ev.ts.timestamp()
        if self._dedup.seen(ev.event_id, t):
            self.stats.duplicates += 1
            return False
        self.stats.accepted += 1
        if t > self._max_t:
            self._max_t = t
        pending = self._pending
        heapq.heappush(pending, (t, ev.event_id, ev))
        limit = self._max_t - self.config.lateness_s
        while pending and pending[0][0] <= limit:
            t0, _, first = heapq.heappop(pending)
            self._apply(first, t0)
        return True

    def run(self, events: Iterable[AnyEvent]) -> EngineStats:
        """Push every event, then finish."""
        for ev in events:
            self.push(ev)
        self.finish()
        return self.stats

    def finish(self) -> None:
        """Apply everything still held for reordering and score what is left."""
        pending = self._pending
        while pending:
            t0, _, ev = heapq.heappop(pending)
            self._apply(ev, t0)
        self.flush()

    # -------------------------------------------------------------- core
    def _apply(self, ev: AnyEvent, t: float) -> None:
        if t < self._applied_t:
            self.stats.late += 1
        else:
            self._applied_t = t
        self.core.apply(ev, t, self._dirty_set)
        self.stats.applied += 1
        if self._next_score_t is None:
            self._next_score_t = t + self.config.score_interval_s
            self._next_sweep_t = t + self.config.sweep_interval_s
        elif t >= self._next_score_t or len(self._dirty) >= self.config.max_batch:
            self.flush()
            self._next_score_t = t + self.config.score_interval_s
            if t >= self._next_sweep_t:  # type: ignore[operator]
                self.sweep(t)
                self._next_sweep_t = t + self.config.sweep_interval_s

    def flush(self) -> None:
        """Score every account whose features changed since the last batch."""
        if not self._dirty:
            return
        accounts = self.stores.accounts
        ids = list(self._dirty)
        self._dirty.clear()
        states = [accounts[a] for a in ids]
        matrix = np.array([vector(st) for st in states], dtype=np.float64).reshape(len(ids), len(FEATURE_NAMES))
        batch = FeatureBatch(ids, [st.site for st in states], [st.last_t for st in states], matrix, states)
        self.stats.batches += 1
        self.stats.scored_rows += len(ids)
        self.on_batch(batch)

    def sweep(self, now: float) -> None:
        """Evict state idle for longer than its time-to-live (event time)."""
        cfg = self.config
        evicted = self.stats.evicted
        account_horizon = now - cfg.account_ttl_s
        entity_horizon = now - cfg.entity_ttl_s
        accounts = self.stores.accounts
        stale = [k for k, st in accounts.items() if st.last_t < account_horizon and k not in self._dirty]
        for key in stale:
            del accounts[key]
        evicted["accounts"] = evicted.get("accounts", 0) + len(stale)
        for st in accounts.values():
            if st.open:
                self.core.prune_open(st, now)
        for name in ("slots", "devices", "addresses", "domains", "phones", "networks", "applicants"):
            store = getattr(self.stores, name)
            stale = [k for k, v in store.items() if v.last_t < entity_horizon]
            for key in stale:
                del store[key]
            evicted[name] = evicted.get(name, 0) + len(stale)
        for name in ("devices", "addresses", "domains", "phones"):
            for link in getattr(self.stores, name).values():
                if len(link.accounts) > 1:
                    old = [a for a, seen in link.accounts.items() if seen < entity_horizon]
                    for account in old:
                        del link.accounts[account]


class _DirtyView:
    """A set-like ``add`` over an insertion-ordered dict, so batches have a deterministic order."""

    __slots__ = ("_backing",)

    def __init__(self, backing: dict[str, None]) -> None:
        self._backing = backing

    def add(self, account_id: str, /) -> object:
        self._backing[account_id] = None
        return None
