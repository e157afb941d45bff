"""The embedded runner: one process, dict stores, events applied in event-time order.

It deduplicates by ``event_id``, reorders events inside a bounded lateness (ties broken by
``event_id``), runs the :class:`~features.core.FeatureCore` steps, and every
tick of ``score_interval_s`` of event time (multiples of it since the epoch, so any shell scoring on
the same ticks scores the same snapshots; or when ``max_batch`` accounts are waiting) hands the
accounts whose features changed to ``on_batch`` as one matrix, so scoring is batched. Whatever
facts ``on_batch`` returns (the deciding side telling buyers their seller was flagged) are folded
into the accounts at once, as any fact is. It evicts idle state by event time. It knows nothing of
models, storage or metrics: the caller passes ``on_batch``.
"""

from __future__ import annotations

import bisect
import logging
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np

from features.config import EngineConfig
from features.core import FeatureCore
from features.facts import AnyFact
from features.registry import FEATURE_NAMES, vector
from features.state import ENTITY_STATE_TYPES, AccountState, LinkState, Stores
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
    #: the event time the batch was scored at (a tick of ``score_interval_s``, or the end of input)
    at: float = 0.0

    def __len__(self) -> int:
        return len(self.account_ids)


@dataclass
class EngineStats:
    """Counters for the run summary."""

    duplicates: int = 0
    late: int = 0
    applied: int = 0
    batches: int = 0
    scored_rows: int = 0
    #: facts the scorer handed back (a seller flagged: its buyers are re-scored)
    scoring_facts: int = 0
    evicted: dict[str, int] = field(default_factory=dict)


#: scores a batch; may return facts for the core to fold in (e.g. ``SellerFlagged``)
BatchHandler = Callable[[FeatureBatch], "Iterable[AnyFact] | None"]


def _event_time(item: tuple[float, str, AnyEvent]) -> float:
    return item[0]


def _next_tick(t: float, interval: float) -> float:
    """The first multiple of ``interval`` (seconds since the epoch) strictly after ``t``."""
    return (math.floor(t / interval) + 1) * interval


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
        self._seen_now = self._dedup.seen_now
        self._pending: list[tuple[float, str, AnyEvent]] = []
        self._release_at = self.config.reorder_block
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
        """Accept one validated event; False if it is a duplicate (and was not applied).

        Events wait in a buffer; every ``reorder_block`` events the buffer is sorted by
        (event time, event_id) and those older than the newest event minus the lateness are
        applied. Input that is almost in order costs a near-linear sort in C per block, instead of
        a heap operation per event.
        """
        event_id = ev.event_id
        if self._seen_now(event_id):
            self.stats.duplicates += 1
            return False
        t = ev.ts.timestamp()
        if t > self._max_t:  # noqa: PLR1730 (per event: a comparison is cheaper than a call to max)
            self._max_t = t
        pending = self._pending
        pending.append((t, event_id, ev))
        if len(pending) >= self._release_at:
            self._dedup.advance(self._max_t)
            self._release(self._max_t - self.config.lateness_s)
        return True

    def run(self, events: Iterable[AnyEvent]) -> EngineStats:
        """Push every event, then finish."""
        for ev in events:
            self.push(ev)
        self.finish()
        return self.stats

    def finish(self) -> None:
        """Apply everything still held for reordering and score what is left."""
        self._release(float("inf"))
        self.flush(self._applied_t)

    # -------------------------------------------------------------- core
    def _release(self, limit: float) -> None:
        """Apply, in (event time, event_id) order, every buffered event at or before ``limit``."""
        pending = self._pending
        pending.sort()
        cut = bisect.bisect_right(pending, limit, key=_event_time)
        # events inside the lateness stay; the next drain waits for a whole new block
        self._release_at = len(pending) - cut + self.config.reorder_block
        if not cut:
            return
        self._pending = pending[cut:]
        apply = self.core.apply
        dirty_view, dirty = self._dirty_set, self._dirty
        config, stats = self.config, self.stats
        applied_t = self._applied_t
        interval = config.score_interval_s
        if self._next_score_t is None:
            self._next_score_t = _next_tick(pending[0][0], interval)
            self._next_sweep_t = _next_tick(pending[0][0], config.sweep_interval_s)
        next_score_t = self._next_score_t
        max_batch = config.max_batch
        for t, _, ev in pending[:cut]:
            if t >= next_score_t:
                # score the state as of the tick, before the first event after it: every shell
                # that scores on the same ticks of event time scores the same snapshots
                self.flush(next_score_t)
                next_score_t = _next_tick(t, interval)
                if t >= self._next_sweep_t:  # type: ignore[operator]
                    self.sweep(t)
                    self._next_sweep_t = _next_tick(t, config.sweep_interval_s)
            if t < applied_t:
                stats.late += 1
            else:
                applied_t = t
            apply(ev, t, dirty_view)
            if len(dirty) >= max_batch:
                self.flush(t)
        stats.applied += cut
        self._applied_t = applied_t
        self._next_score_t = next_score_t

    def flush(self, at: float) -> None:
        """Score every account whose features changed since the last batch, as of event time ``at``."""
        if not self._dirty:
            return
        accounts = self.stores.accounts
        ids = list(self._dirty)
        self._dirty.clear()
        states = [accounts[a] for a in ids]
        matrix = np.array([vector(st) for st in states], dtype=np.float64).reshape(len(ids), len(FEATURE_NAMES))
        batch = FeatureBatch(ids, [st.site for st in states], [st.last_t for st in states], matrix, states, at)
        self.stats.batches += 1
        self.stats.scored_rows += len(ids)
        facts = self.on_batch(batch)
        if facts:
            facts = list(facts)
            self.stats.scoring_facts += len(facts)
            self.core.apply_facts(facts, at, self._dirty_set)

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
        for key, st in accounts.items():
            if st.open:
                self.core.prune_open(st, now)
                accounts[key] = st
        for name in ENTITY_STATE_TYPES:
            if name == "accounts":
                continue
            store = getattr(self.stores, name)
            stale = [k for k, v in store.items() if v.last_t < entity_horizon]
            for key in stale:
                del store[key]
            evicted[name] = evicted.get(name, 0) + len(stale)
            if ENTITY_STATE_TYPES[name] is LinkState:
                for key, link in store.items():
                    old = [a for a, seen in link.accounts.items() if seen < entity_horizon]
                    if old and len(link.accounts) > 1:
                        for account in old:
                            del link.accounts[account]
                            link.holders.pop(account, None)
                        store[key] = link


class _DirtyView:
    """A set-like ``add`` over an insertion-ordered dict, so batches have a deterministic order."""

    __slots__ = ("_backing",)

    def __init__(self, backing: dict[str, None]) -> None:
        self._backing = backing

    def add(self, account_id: str, /) -> object:
        self._backing[account_id] = None
        return None
