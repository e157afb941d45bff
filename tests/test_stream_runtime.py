"""The streaming worker's partitions without a broker: logs stand in for Kafka partitions.

Each partition reads its input log and its exchange log from a position, as a consumer does;
what it sends is appended to the other partitions' exchange logs; state goes to a backend that
survives a "crash" (the runtime is thrown away and built again from the backend, reading its logs
again from the lowest offset not yet done, as a restarted worker does from committed offsets).
The verdicts must be exactly those of the embedded runner over the same events.

With ``in_process``, every partition stands in one worker: what a partition sends is also handed
to its receiver at once, and the copy in the log carries the receiver runtime's key, so that the
receiver takes it without decoding (a receiver started again after a crash has another key, and
decodes the copies the one before it got in process).
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pytest

from features.config import EngineConfig
from features.engine import EmbeddedEngine, event_key, stable_route
from ingest.contract import AnyEvent, decode
from ingest.pseudonym import Pseudonymizer
from ingest.reader import EventReader
from models.artifact import ModelArtifact
from models.detector import Detector
from models.records import Verdict
from streaming.runtime import (
    PartitionRuntime,
    encode_exchange,
    local_copy_key,
    local_copy_tick,
    pack_exchange,
    unpack_exchange,
)
from streaming.state import DictBackend
from tests.conftest import KEY, SmallWorld


def read_events(world: SmallWorld) -> list[AnyEvent]:
    with world.events.open("rb") as stream:
        return [event for _, event in EventReader(stream, lambda row: None)]


def embedded_verdicts(events: list[AnyEvent], model: ModelArtifact, config: EngineConfig) -> dict[str, Verdict]:
    detector = Detector(model)
    EmbeddedEngine.on_dicts(detector, config, KEY).run(events)
    return dict(detector.verdicts)


def applied_once(events: list[AnyEvent]) -> int:
    """How many of ``events`` a partition applies (a repeated ``event_id`` once)."""
    return len({ev.event_id for ev in events})


@dataclass
class LogPartition:
    """One partition's two logs, its read positions and which offsets are done."""

    inputs: list[AnyEvent] = field(default_factory=list)
    #: (key, value) as on the exchange topic
    exchange: list[tuple[bytes | None, bytes]] = field(default_factory=list)
    read_in: int = 0
    read_ex: int = 0
    done_in: set[int] = field(default_factory=set)
    done_ex: set[int] = field(default_factory=set)

    def committed(self, done: set[int], upto: int) -> int:
        offset = 0
        while offset < upto and offset in done:
            offset += 1
        return offset


class LogCluster:
    """Partitions of the stream over in-memory logs, with crashes on demand."""

    def __init__(
        self,
        events: list[AnyEvent],
        partitions: int,
        model: ModelArtifact,
        config: EngineConfig,
        live: bool = False,
        in_process: bool = False,
    ) -> None:
        #: ``live``: a stream without end of input, where a partition that has read all its input
        #: sends itself heartbeats (through its exchange log) as a worker does when it goes quiet
        self.live = live
        self.in_process = in_process
        self.heartbeats = 0
        #: exchange messages taken without decoding (copies of what was handed over in process)
        self.local_copies = 0
        self.n = partitions
        self.model, self.config = model, config
        self.route = stable_route(partitions)
        self.logs = [LogPartition() for _ in range(partitions)]
        for ev in events:
            self.logs[self.route(event_key(ev))].inputs.append(ev)
        self.backends = [DictBackend() for _ in range(partitions)]
        self.runtimes = [self._runtime(p) for p in range(partitions)]

    def _runtime(self, p: int) -> PartitionRuntime:
        return PartitionRuntime(p, self.n, self.backends[p], self.model, self.config, Pseudonymizer(KEY), self.route)

    def crash(self, p: int) -> None:
        """Lose everything of ``p`` but its backend; read again from its committed offsets."""
        log = self.logs[p]
        log.read_in = log.committed(log.done_in, log.read_in)
        log.read_ex = log.committed(log.done_ex, log.read_ex)
        self.runtimes[p] = self._runtime(p)

    def poll(self, p: int, n: int) -> None:
        """``p`` reads up to ``n`` messages of each log, steps, sends, writes its state, acks."""
        log, rt = self.logs[p], self.runtimes[p]
        for offset in range(log.read_in, min(log.read_in + n, len(log.inputs))):
            if not rt.take_input(log.inputs[offset], offset):
                log.done_in.add(offset)
            log.read_in = offset + 1
        for offset in range(log.read_ex, min(log.read_ex + n, len(log.exchange))):
            key, value = log.exchange[offset]
            tick = local_copy_tick(key, rt.token)
            if tick is None:
                rt.take_exchange(unpack_exchange(value), offset)
            else:
                rt.take_local_copy(tick, offset)
                self.local_copies += 1
            log.read_ex = offset + 1
        if log.read_in == len(log.inputs):
            if self.live:
                rt.partition.input_read_to(len(log.inputs))
                beat = rt.partition.heartbeat()
                if beat is not None:
                    log.exchange.append((None, encode_exchange(beat)))
                    self.heartbeats += 1
            else:
                rt.partition.end_input()
        outgoing: dict[int, list[Any]] = {}
        for dest, message in rt.step():
            outgoing.setdefault(dest, []).append(message)
        for dest, messages in outgoing.items():
            key = None
            if self.in_process:
                receiver = self.runtimes[dest]
                for message in messages:
                    receiver.deliver(message)
                key = local_copy_key(receiver.token, max(m.tick for m in messages))
            self.logs[dest].exchange += [(key, value) for value in pack_exchange(messages)]
        items = rt.drain()
        if items:
            self.backends[p].write(items)
            rt.written()
            done_in, done_ex = rt.settle()
            log.done_in.update(done_in)
            log.done_ex.update(done_ex)

    def run(self, rng: random.Random, crashes: int = 0, max_polls: int = 200_000) -> None:
        """Poll random partitions, crashing some, until every partition has finished."""
        if not self._poll_until(lambda: all(rt.partition.finished for rt in self.runtimes), rng, crashes, max_polls):
            raise AssertionError("the partitions did not finish")

    def run_to(self, rng: random.Random, tick: int, crashes: int = 0, max_polls: int = 200_000) -> None:
        """Poll (live) until every partition has completed ``tick``."""
        if not self._poll_until(
            lambda: all((rt.partition.completed or -1) >= tick for rt in self.runtimes), rng, crashes, max_polls
        ):
            raise AssertionError(f"stuck at ticks {[rt.partition.completed for rt in self.runtimes]}, not {tick}")

    def _poll_until(self, done: Callable[[], bool], rng: random.Random, crashes: int, max_polls: int) -> bool:
        crash_at = sorted(rng.sample(range(50, 2000), crashes)) if crashes else []
        for i in range(max_polls):
            if crash_at and i == crash_at[0]:
                crash_at.pop(0)
                self.crash(rng.randrange(self.n))
            self.poll(rng.randrange(self.n), rng.choice((1, 7, 64, 500)))
            if done():
                return True
        return False

    def applied_durable(self) -> int:
        """Input events in the partitions' durable state (every runtime each has had)."""
        return sum(rt.applied_durable for rt in self.runtimes)

    def verdicts(self) -> dict[str, Verdict]:
        out: dict[str, Verdict] = {}
        for rt in self.runtimes:
            for account in rt.verdicts:
                out[account] = rt.verdicts[account]
        return out


def assert_same_verdicts(got: dict[str, Verdict], want: dict[str, Verdict]) -> None:
    assert set(got) == set(want)
    for account, verdict in want.items():
        mine = got[account]
        assert mine.flagged == verdict.flagged, account
        assert mine.category == verdict.category, account
        assert mine.score == pytest.approx(verdict.score, rel=1e-6, abs=1e-9), account
        assert mine.flagged_at == verdict.flagged_at, account
        assert sorted(mine.buyers) == sorted(verdict.buyers), account


@pytest.fixture(scope="module")
def world_events(small_world: SmallWorld) -> list[AnyEvent]:
    return read_events(small_world)


CONFIG = EngineConfig()


def test_partitions_over_logs_reach_the_embedded_verdicts(
    small_world: SmallWorld, world_events: list[AnyEvent]
) -> None:
    want = embedded_verdicts(world_events, small_world.model, CONFIG)
    assert sum(v.flagged for v in want.values()) > 0  # the world has something to find
    cluster = LogCluster(world_events, 3, small_world.model, CONFIG)
    cluster.run(random.Random(5))
    assert_same_verdicts(cluster.verdicts(), want)
    assert (
        cluster.applied_durable()
        == sum(rt.partition.stats.applied for rt in cluster.runtimes)
        == applied_once(world_events)
    )


@pytest.mark.parametrize("in_process", [False, True], ids=["workers", "one-worker"])
def test_crashed_partitions_start_again_and_count_nothing_twice(
    small_world: SmallWorld, world_events: list[AnyEvent], in_process: bool
) -> None:
    want = embedded_verdicts(world_events, small_world.model, CONFIG)
    cluster = LogCluster(world_events, 3, small_world.model, CONFIG, in_process=in_process)
    cluster.run(random.Random(11), crashes=6)
    assert_same_verdicts(cluster.verdicts(), want)
    applied = sum(rt.partition.stats.applied for rt in cluster.runtimes)
    assert applied <= len(world_events)  # the restarted ones applied only what was not yet durable
    # and the durable state holds every event exactly once
    assert cluster.applied_durable() == applied_once(world_events)
    if in_process:
        assert cluster.local_copies > 0


def _released(slot: str, at: datetime) -> AnyEvent:
    line = json.dumps(
        {
            "event_id": f"closing-{slot}", "type": "slot_released", "ts": at.isoformat(), "site": "closing-site",
            "slot_id": slot, "service": "titre-sejour", "slot_start": (at + timedelta(days=30)).isoformat(),
            "reason": "opening",
        }
    )  # fmt: skip
    return decode(line.encode())


def test_a_quiet_partition_closes_its_ticks_by_heartbeat_through_its_log(
    small_world: SmallWorld, world_events: list[AnyEvent]
) -> None:
    """A stream has no end of input. Two partitions get one event an hour past the world; the third
    gets nothing more: it closes its ticks by heartbeats sent to itself through its exchange log
    (carrying the others' watermark), also across crashes, and the verdicts are the embedded runner's."""
    events = world_events[: len(world_events) // 3]
    last = max(ev.ts for ev in events)
    route = stable_route(3)
    slots: dict[int, str] = {}
    i = 0
    while len(slots) < 2:
        part = route(f"closing-slot-{i}")
        if part != 2:
            slots.setdefault(part, f"closing-slot-{i}")
        i += 1
    stream = events + [_released(slot, last + timedelta(hours=1)) for slot in slots.values()]
    want = embedded_verdicts(stream, small_world.model, CONFIG)
    cluster = LogCluster(stream, 3, small_world.model, CONFIG, live=True)
    target = int(last.timestamp() // CONFIG.score_interval_s)
    cluster.run_to(random.Random(3), target, crashes=3)
    assert cluster.heartbeats > 0
    assert_same_verdicts(cluster.verdicts(), want)
