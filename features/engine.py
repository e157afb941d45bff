"""The embedded runner: the dataflow of :mod:`features.dataflow` in one process, over dict stores.

``slotguard detect``, training and evaluation run events through it. By default it is one
partition holding all state; ``sharded`` splits the same work over several partitions in process
(the stream's layout, without Kafka: tests use it to show the partition count changes nothing). It
knows nothing of models, storage or metrics: the caller passes the scorer.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterable, Sequence

from features.config import EngineConfig
from features.core import FeatureCore
from features.dataflow import EngineStats, FeatureBatch, Partition, Scorer, run_in_process
from features.state import Stores
from ingest.contract import AnyEvent
from ingest.pseudonym import Pseudonymizer

__all__ = ["BatchHandler", "EmbeddedEngine", "EngineStats", "FeatureBatch", "event_key", "stable_route"]

#: scores a batch; may return facts for the core to fold in (e.g. ``SellerFlagged``)
BatchHandler = Scorer


def event_key(ev: AnyEvent) -> str:
    """The key an input event is partitioned by (the contract's: its account, else its slot)."""
    account_id = ev.account_id
    return account_id if account_id is not None else ev.slot_id  # type: ignore[union-attr]


def stable_route(partitions: int) -> Callable[[str], int]:
    """A partitioner for in-process shards (any stable hash will do; Kafka's is murmur2)."""
    if partitions == 1:
        return _only
    return lambda key: zlib.crc32(key.encode()) % partitions


def _only(_key: str) -> int:
    return 0


class EmbeddedEngine:
    """Feeds events through the dataflow's partitions in process; scorers get the batches."""

    def __init__(self, core: FeatureCore, on_batch: Scorer, config: EngineConfig | None = None) -> None:
        self._init([(core, on_batch)], config or EngineConfig())

    def _init(self, parts: Sequence[tuple[FeatureCore, Scorer]], config: EngineConfig) -> None:
        self.config = config
        route = stable_route(len(parts))
        self.route = route
        self.partitions = [
            Partition(i, len(parts), core, scorer, config, route) for i, (core, scorer) in enumerate(parts)
        ]
        self.core = parts[0][0]
        self.stores: Stores = self.core.stores
        self._step_every = max(config.reorder_block, 1)
        self._until_step = self._step_every
        self._offer = self.partitions[0].offer if len(parts) == 1 else None
        self._arrival = 0

    @classmethod
    def on_dicts(cls, on_batch: Scorer, config: EngineConfig, pseudonymizer: Pseudonymizer | str) -> EmbeddedEngine:
        """An engine over fresh dict stores: the embedded default (a key makes a new pseudonymizer)."""
        if isinstance(pseudonymizer, str):
            pseudonymizer = Pseudonymizer(pseudonymizer)
        return cls(FeatureCore(Stores(), pseudonymizer), on_batch, config)

    @classmethod
    def sharded(cls, parts: Sequence[tuple[FeatureCore, Scorer]], config: EngineConfig) -> EmbeddedEngine:
        """An engine over several partitions, each with its own stores and scorer."""
        engine = cls.__new__(cls)
        engine._init(parts, config)
        return engine

    # -------------------------------------------------------------- input
    def push(self, ev: AnyEvent) -> bool:
        """Accept one validated event; False if it is a duplicate (and was not applied).

        Work runs every ``reorder_block`` events: ticks whose events are all in (the newest event
        minus the lateness is past their end) are processed then.
        """
        offer = self._offer
        if offer is not None:
            accepted = offer(ev)
        else:
            # in one process the input is one stream: what closes a tick is the newest event of all
            arrival = self._arrival
            self._arrival += 1
            owner = self.partitions[self.route(event_key(ev))]
            accepted = owner.offer(ev, arrival)
            t = ev.ts.timestamp()
            for partition in self.partitions:
                if partition is not owner:
                    partition.observe(t, arrival)
        self._until_step -= 1
        if not self._until_step:
            self._until_step = self._step_every
            run_in_process(self.partitions)
        return accepted

    def run(self, events: Iterable[AnyEvent]) -> EngineStats:
        """Push every event, then finish."""
        for ev in events:
            self.push(ev)
        self.finish()
        return self.stats

    def finish(self) -> None:
        """Process every tick still open and score what is left."""
        for partition in self.partitions:
            partition.end_input()
        run_in_process(self.partitions)
        unfinished = [p.index for p in self.partitions if not p.finished]
        if unfinished:
            raise RuntimeError(f"partitions {unfinished} did not finish: the dataflow is stuck")

    @property
    def stats(self) -> EngineStats:
        if len(self.partitions) == 1:
            return self.partitions[0].stats
        total = EngineStats()
        for partition in self.partitions:
            total.merge(partition.stats)
        return total
