"""Tick rounds: the feature core as a partitioned dataflow that every shell runs the same way.

State lives in partitions: an account's record in the partition its id routes to, a slot's in the
partition ``slot:<id>`` routes to, and so on (``route_key``). An event is applied by the partition
that owns its account (or, for ``slot_released``, its slot); what it means for other entities
travels as :data:`~features.facts.AnyWork` to the partition owning that entity, whose step may send
:mod:`~features.facts` back to accounts, and so on.

Event time is cut into ticks of ``score_interval_s`` (multiples of it since the epoch). Every
partition processes every tick in bulk-synchronous rounds:

1. round 0: the tick's events, in (event time, ``event_id``) order, through the account step;
2. rounds 1, 2, ...: the messages sent to the partition in the previous round, in (event time of
   the event that caused them, its ``event_id``, position in the cascade) order, until a round in
   which no partition sent anything;
3. scoring: the accounts whose features changed, in one batch (after the scorer's ``share`` round
   when it needs one, e.g. to merge every partition's part of a site's reference);
4. rounds again for what scoring sent (a flagged seller's buyers are told).

A tick closes at a partition at the first input event (in arrival order: a Kafka partition's
offsets) at least ``lateness_s`` past the tick's end; events that arrive later but belong to it are
late and go to the next tick. Every tick is processed, empty or not. A round ends when the
partition holds a :class:`Barrier` for it from every partition (barriers travel behind the
messages on the same ordered channel, so all messages of the round are in). So a partition that
starts again from its last completed tick (:meth:`Partition.progress`) and reads its input again
from there recomputes exactly what it sent before; receivers drop the copies. The
order in which a partition applies anything depends only on event times and ids, never on how many
partitions there are or when messages arrive: one partition in one process (``slotguard detect``)
and twelve on Kafka compute the same state and the same verdicts. A :class:`Partition` does no I/O:
it takes events and messages and returns what to send; shells move them.
"""

from __future__ import annotations

import bisect
import logging
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import msgspec
import numpy as np

from features.config import EngineConfig
from features.core import FeatureCore
from features.facts import AnyFact, AnyMessage, Fact, route_key
from features.records import Snapshot
from features.registry import FEATURE_NAMES, vector
from features.state import ENTITY_STATE_TYPES, AccountState, LinkState
from ingest.contract import AnyEvent
from ingest.dedup import Deduplicator

logger = logging.getLogger(__name__)

#: a tick index later than any real one: "nothing more to process"
NO_TICK = 2**62
#: round of the start-up barrier, in which partitions agree on the first tick
HELLO_TICK = -1


class Envelope(msgspec.Struct, array_like=True, frozen=True):
    """A message between partitions, stamped with where it sits in the deterministic order."""

    tick: int
    round: int
    #: event time of the event that caused it (scoring facts: the tick's end)
    t: float
    #: ``event_id`` of that event (scoring facts: ``~`` and the account scored)
    cause: str
    #: position in the cascade that event started
    path: tuple[int, ...]
    message: AnyMessage
    #: the sending partition and its count of messages sent in this round (to drop resent copies)
    source: int = 0
    seq: int = 0


class Barrier(msgspec.Struct, array_like=True, frozen=True):
    """``source`` has sent all its messages of ``round`` of ``tick``: ``sent`` of them in all."""

    tick: int
    round: int
    source: int
    sent: int
    #: after scoring: the next tick (``NO_TICK``: ``source`` has no more input, ever)
    next_tick: int = NO_TICK
    #: the scorer's contribution to a share round
    shared: Any = None
    #: the newest event time ``source`` had read when it sent this (what a quiet partition may
    #: close its ticks up to, through a :class:`Heartbeat`)
    watermark: float = -math.inf


class Heartbeat(msgspec.Struct, array_like=True, frozen=True):
    """A quiet partition's note to itself, through its shell's log: its input up to arrival number
    ``arrival`` is all there is, and the stream has reached event time ``t`` elsewhere, so its ticks
    may close as an input event at ``t`` arriving at ``arrival`` would close them.

    It takes effect only once the partition has read its input up to ``arrival`` (after a restart,
    reading again), so the cutoffs it gives depend on the logs alone, never on arrival order.
    ``tick`` is the last tick it can close (a shell keeps it until that tick is durable).
    """

    tick: int
    source: int
    t: float
    arrival: int


Outgoing = tuple[int, Envelope | Barrier]
Message = Envelope | Barrier | Heartbeat


class Progress(msgspec.Struct, array_like=True, frozen=True):
    """Where a partition stands after a completed tick: enough to start again from there.

    Input events with an arrival number below ``cutoff`` and a time before ``tick_end`` were
    applied; every other one is still to come. ``shared`` is the scorer's last share round.
    """

    tick: int
    tick_end: float
    cutoff: int
    next_tick: int
    next_sweep_t: float | None
    shared: Any = None
    #: the tick end the last share round was for
    shared_at: float | None = None


@dataclass
class FeatureBatch:
    """Accounts whose features changed, with their vectors as of event time ``times[i]``."""

    account_ids: list[str]
    sites: list[str]
    times: list[float]
    matrix: np.ndarray
    states: list[AccountState]
    #: the event time the batch was scored at (the end of a tick)
    at: float = 0.0

    def __len__(self) -> int:
        return len(self.account_ids)

    def snapshots(self) -> list[Snapshot]:
        """The batch as one snapshot per account (what the history store keeps)."""
        return [
            Snapshot(a, s, t, tuple(v))
            for a, s, t, v in zip(self.account_ids, self.sites, self.times, self.matrix.tolist(), strict=True)
        ]


class Scorer(Protocol):
    """Scores a batch; may return facts for accounts (e.g. ``SellerFlagged``)."""

    def __call__(self, batch: FeatureBatch, /) -> Iterable[AnyFact] | None: ...


class SharingScorer(Scorer, Protocol):
    """A scorer whose decisions need something from every partition before some ticks' scoring.

    ``share(at)`` returns this partition's contribution, or None when no share round is due; it must
    answer None or not the same way in every partition (a function of ``at`` and of what earlier
    ``receive_shared`` calls brought). ``receive_shared`` gets every partition's part, by partition,
    and the ``at`` they were shared for.
    """

    def share(self, at: float, /) -> Any: ...

    def receive_shared(self, parts: Sequence[Any], at: float, /) -> None: ...


@dataclass
class EngineStats:
    """Counters for the run summary."""

    duplicates: int = 0
    late: int = 0
    applied: int = 0
    ticks: int = 0
    rounds: int = 0
    messages: int = 0
    batches: int = 0
    scored_rows: int = 0
    #: facts the scorer handed back (a seller flagged: its buyers are told)
    scoring_facts: int = 0
    evicted: dict[str, int] = field(default_factory=dict)

    def merge(self, other: EngineStats) -> None:
        for name in ("duplicates", "late", "applied", "batches", "scored_rows", "scoring_facts", "messages"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.ticks, self.rounds = max(self.ticks, other.ticks), max(self.rounds, other.rounds)
        for kind, n in other.evicted.items():
            self.evicted[kind] = self.evicted.get(kind, 0) + n


def tick_of(t: float, interval: float) -> int:
    return math.floor(t / interval)


def _event_time(item: tuple[float, str, int, AnyEvent]) -> float:
    return item[0]


def _by_time(item: tuple[float, str, int, AnyEvent]) -> tuple[float, str]:
    return item[0], item[1]


def _first(item: tuple[float, int]) -> float:
    return item[0]


def _order(env: Envelope) -> tuple[float, str, tuple[int, ...]]:
    return env.t, env.cause, env.path


class _Dirty:
    """A set-like ``add`` over a dict (the core's ``DirtyMarker``)."""

    __slots__ = ("keys",)

    def __init__(self) -> None:
        self.keys: dict[str, None] = {}

    def add(self, account_id: str, /) -> object:
        self.keys[account_id] = None
        return None


_CASCADE, _SHARE, _AFTER = "cascade", "share", "after"


class Partition:
    """One partition of the dataflow: its share of the state, its input, its progress through ticks.

    ``offer`` takes the partition's input events, ``deliver`` messages from any partition (itself
    included); ``step`` does every piece of work that is ready and returns what to send, as
    ``(partition, message)``. ``route`` maps a routing key to its partition (the shell's
    partitioner: Kafka's for the stream, any stable hash in process).
    """

    def __init__(
        self,
        index: int,
        partitions: int,
        core: FeatureCore,
        scorer: Scorer,
        config: EngineConfig,
        route: Callable[[str], int],
    ) -> None:
        self.index = index
        self.partitions = partitions
        self.core = core
        self.scorer = scorer
        self.config = config
        self.route = route
        self.stats = EngineStats()
        self._interval = config.score_interval_s
        self._dedup = Deduplicator(config.dedup_horizon_s)
        #: input not yet applied: (event time, event_id, arrival number, event)
        self._pending: list[tuple[float, str, int, AnyEvent]] = []
        self._sorted = True
        self.max_t = float("-inf")
        #: (newest event time so far minus the lateness, arrival number of the event that set it)
        self._closers: list[tuple[float, int]] = []
        #: closers from heartbeats (time minus the lateness, arrival), and those not yet in effect
        self._beats: list[tuple[float, int]] = []
        self._waiting_beats: list[Heartbeat] = []
        #: the newest watermark any partition's barrier carried
        self.peer_max_t = -math.inf
        self._arrivals = 0
        self._first_tick: int | None = None
        #: the last completed tick and the input it closed at
        self.completed: int | None = None
        self._completed_cutoff = 0
        self._last_shared: Any = None
        self._last_shared_at: float | None = None
        #: no more input is coming (end of a file; a shell's idle source)
        self.ended = False
        self._hello_sent = False
        #: tick in progress (None between ticks) and the agreed next one (None before start-up)
        self.tick: int | None = None
        self.next_tick: int | None = None
        self.round = 0
        self._stage = _CASCADE
        self._last_tick_end = float("-inf")
        self._tick_cutoff = 0
        self._next_sweep_t: float | None = None
        self._inbox: dict[tuple[int, int], list[Envelope]] = {}
        self._barriers: dict[tuple[int, int], dict[int, Barrier]] = {}
        self._seen: dict[tuple[int, int], set[tuple[int, int]]] = {}
        #: called with the tick each time one completes (a shell seals its state there)
        self.on_complete: Callable[[int], None] | None = None
        self._dirty = _Dirty()
        self._out: list[Outgoing] = []
        self._sent = 0

    # ------------------------------------------------------------------ input
    def offer(self, ev: AnyEvent, arrival: int | None = None) -> bool:
        """Take one validated input event; False if it was a duplicate or was applied already.

        ``arrival`` is its position in this partition's input (the Kafka offset); by default the
        count of events offered so far.
        """
        if arrival is None:
            arrival = self._arrivals
        self._arrivals = arrival + 1
        t = ev.ts.timestamp()
        if self._dedup.seen_now(ev.event_id):
            self.stats.duplicates += 1
            return False
        self.observe(t, arrival)
        if self.completed is not None and arrival < self._completed_cutoff and t < self._last_tick_end:
            return False  # read again after a restart: applied before it
        pending = self._pending
        if pending and t <= pending[-1][0]:
            self._sorted = False  # (ties too: they are ordered by event_id)
        pending.append((t, ev.event_id, arrival, ev))
        if self._first_tick is None:
            # the earliest tick an event arriving later could still be on time for
            self._first_tick = tick_of(t - self.config.lateness_s, self._interval)
        return True

    def observe(self, t: float, arrival: int) -> None:
        """Note that input reached event time ``t`` at ``arrival`` (what closes ticks)."""
        if t > self.max_t:
            self.max_t = t
            self._closers.append((t - self.config.lateness_s, arrival))

    def deliver(self, message: Envelope | Barrier | Heartbeat) -> None:
        """Take a message from a partition; copies resent after a restart, and anything for a
        round already over, are dropped (the first barrier of a round counts)."""
        if isinstance(message, Heartbeat):
            self._take_heartbeat(message)
            return
        if isinstance(message, Barrier) and message.watermark > self.peer_max_t:
            self.peer_max_t = message.watermark
        position = (message.tick, message.round)
        if self.completed is not None and message.tick <= self.completed:
            return
        if self.tick is not None and position[0] == self.tick and position[1] <= self.round - 1:
            return
        if isinstance(message, Barrier):
            self._barriers.setdefault(position, {}).setdefault(message.source, message)
            return
        if message.source != self.index:
            seen = self._seen.setdefault(position, set())
            if (message.source, message.seq) in seen:
                return
            seen.add((message.source, message.seq))
        self._inbox.setdefault(position, []).append(message)

    def end_input(self) -> None:
        """No more input will come: ticks close without waiting for the watermark."""
        self.ended = True

    def _cutoff(self, tick: int) -> int | None:
        """Arrival number at which ``tick`` closed (None: not yet; everything once input ended):
        the first input event, or heartbeat, past its end plus the lateness."""
        end = (tick + 1) * self._interval
        closers = self._closers
        i = bisect.bisect_left(closers, end, key=_first)
        found = closers[i][1] if i < len(closers) else None
        beats = [arrival for at, arrival in self._beats if at >= end]
        if beats:
            found = min(beats) if found is None else min(found, *beats)
        if found is not None:
            return found
        return NO_TICK if self.ended else None

    # ------------------------------------------------------------------ quiet input
    def input_read_to(self, arrival: int) -> None:
        """The shell has read this partition's input up to ``arrival`` (its log's end): heartbeats
        waiting for that take effect."""
        self._arrivals = max(self._arrivals, arrival)
        self._take_heartbeat(None)

    def heartbeat(self) -> Heartbeat | None:
        """What a shell sends itself (through its log) when this partition's input has gone quiet
        while other partitions' input went on: None when no tick of its own waits for it."""
        if self.tick is not None or self.next_tick is None or self.next_tick == NO_TICK or self.ended:
            return None
        t = self.peer_max_t
        reach = t - self.config.lateness_s
        if reach < self._tick_end(self.next_tick) or self._ready(self.next_tick):
            return None
        if self._beats and self._beats[-1][0] >= reach and self._beats[-1][1] >= self._arrivals:
            return None  # one is in effect already
        return Heartbeat(tick_of(reach, self._interval) - 1, self.index, t, self._arrivals)

    def _take_heartbeat(self, beat: Heartbeat | None) -> None:
        if beat is not None:
            self._waiting_beats.append(beat)
        still = []
        for waiting in self._waiting_beats:
            if waiting.arrival <= self._arrivals:
                self._beats.append((waiting.t - self.config.lateness_s, waiting.arrival))
            else:
                still.append(waiting)
        self._waiting_beats = still

    @property
    def pending_events(self) -> int:
        """Input events taken but not yet applied."""
        return len(self._pending)

    @property
    def finished(self) -> bool:
        """Every tick is processed and no partition has anything left."""
        return self.next_tick == NO_TICK and self.tick is None

    # ------------------------------------------------------------------ progress
    def step(self) -> list[Outgoing]:
        """Do all work that is ready; return the messages to send, as ``(partition, message)``."""
        progress = True
        while progress:
            progress = self._advance()
        out, self._out = self._out, []
        return out

    def _advance(self) -> bool:
        if self.tick is None:
            if self.next_tick is None:
                return self._start_up()
            if self.next_tick == NO_TICK or not self._ready(self.next_tick):
                return False
            self._begin_tick(self.next_tick)
            return True
        barriers = self._barriers.get((self.tick, self.round))
        if barriers is None or len(barriers) < self.partitions:
            return False
        del self._barriers[(self.tick, self.round)]
        self._end_round(barriers)
        return True

    def _start_up(self) -> bool:
        """Agree with every partition on the first tick (the earliest event anywhere)."""
        if not self._hello_sent and (self._first_tick is not None or self.ended):
            self._hello_sent = True
            first = self._first_tick if self._first_tick is not None else NO_TICK
            self._broadcast(Barrier(HELLO_TICK, 0, self.index, 0, first, watermark=self.max_t))
        barriers = self._barriers.get((HELLO_TICK, 0))
        if barriers is None or len(barriers) < self.partitions:
            return False
        del self._barriers[(HELLO_TICK, 0)]
        self.next_tick = min(b.next_tick for b in barriers.values())
        return True

    def _ready(self, tick: int) -> bool:
        return self._cutoff(tick) is not None

    def _proposal(self, after: int) -> int:
        """The next tick: every tick is processed, until no partition will ever have input again."""
        if self.ended and not self._pending and not self._dirty.keys:
            return NO_TICK
        return after + 1

    # ------------------------------------------------------------------ one tick
    def _begin_tick(self, tick: int) -> None:
        """Round 0: apply the tick's events (and late ones) through the account step."""
        self.tick, self.round, self._stage = tick, 0, _CASCADE
        self.stats.ticks += 1
        start, end = tick * self._interval, (tick + 1) * self._interval
        every = self.config.sweep_interval_s
        if self._next_sweep_t is None:
            self._next_sweep_t = (math.floor(start / every) + 1) * every
        elif start >= self._next_sweep_t:
            # as of the grid point crossed, not of this tick: skipping empty ticks changes nothing
            self.sweep(math.floor(start / every) * every)
            self._next_sweep_t = (math.floor(start / every) + 1) * every
        cutoff = self._cutoff(tick)
        assert cutoff is not None
        pending = self._pending
        if not self._sorted:
            pending.sort(key=_by_time)
            self._sorted = True
        cut = bisect.bisect_left(pending, end, key=_event_time)
        batch = pending[:cut]
        if cut and batch[-1][2] >= cutoff:
            # arrived after the tick closed: late, for the next tick
            held = [item for item in batch if item[2] >= cutoff]
            batch = [item for item in batch if item[2] < cutoff]
            self._pending = held + pending[cut:]
        else:
            self._pending = pending[cut:]
        if batch:
            self._dedup.advance(batch[-1][0])
            account_step = self.core.account_step
            dirty = self._dirty
            late_before = self._last_tick_end
            late = 0
            for t, event_id, _, ev in batch:
                if t < late_before:
                    late += 1
                works = account_step(ev, t, dirty)
                if works:
                    for i, work in enumerate(works):
                        self._send(Envelope(tick, 1, t, event_id, (i,), work))
            self.stats.applied += len(batch)
            self.stats.late += late
        self._last_tick_end = end
        self._tick_cutoff = cutoff
        closers = self._closers
        keep = bisect.bisect_left(closers, end, key=_first)
        if keep > 1:
            del closers[: keep - 1]
        self._beats = [beat for beat in self._beats if beat[0] >= end]
        self._close_round()

    def _end_round(self, barriers: dict[int, Barrier]) -> None:
        """Every partition finished the current round: go on to the next stage of the tick."""
        total = sum(b.sent for b in barriers.values())
        tick = self.tick
        assert tick is not None
        if self._stage == _SHARE:
            parts = [barriers[i].shared for i in range(self.partitions)]
            at = self._tick_end(tick)
            self.scorer.receive_shared(parts, at)  # type: ignore[attr-defined]
            self._last_shared, self._last_shared_at = parts, at
            self._score(tick)
            return
        if total == 0:
            if self._stage == _CASCADE:
                share = getattr(self.scorer, "share", None)
                payload = share(self._tick_end(tick)) if share is not None else None
                if payload is not None:
                    self._stage = _SHARE
                    self.round += 1
                    self._broadcast(Barrier(tick, self.round, self.index, 0, shared=payload, watermark=self.max_t))
                else:
                    self._score(tick)
            else:
                self._complete(tick, min(b.next_tick for b in barriers.values()))
            return
        self._apply_round(tick, self._inbox.pop((tick, self.round), []))

    def _apply_round(self, tick: int, messages: list[Envelope]) -> None:
        """Apply one round's messages in their deterministic order; send what they cause."""
        messages.sort(key=_order)
        core, dirty = self.core, self._dirty
        next_round = self.round + 1
        for env in messages:
            message = env.message
            is_fact = isinstance(message, Fact)
            follow_ups = core.fact_step(message, dirty) if is_fact else core.work_step(message, env.t)  # type: ignore[arg-type]
            if follow_ups:
                path = env.path
                for i, follow_up in enumerate(follow_ups):
                    self._send(Envelope(tick, next_round, env.t, env.cause, (*path, i), follow_up))
        self._close_round()

    def _score(self, tick: int) -> None:
        """Score every account whose features changed, as of the tick's end; send the facts scoring returns."""
        at = self._tick_end(tick)
        self._stage = _AFTER
        if self._dirty.keys:
            accounts = self.core.stores.accounts
            ids = sorted(self._dirty.keys)
            self._dirty.keys.clear()
            states = [accounts[a] for a in ids]
            matrix = np.array([vector(st) for st in states], dtype=np.float64).reshape(len(ids), len(FEATURE_NAMES))
            batch = FeatureBatch(ids, [st.site for st in states], [st.last_t for st in states], matrix, states, at)
            self.stats.batches += 1
            self.stats.scored_rows += len(ids)
            facts = self.scorer(batch)
            if facts:
                for i, fact in enumerate(facts):
                    self.stats.scoring_facts += 1
                    self._send(Envelope(tick, self.round + 1, at, "~" + fact.account_id, (i,), fact))
        self._close_round()

    def _complete(self, tick: int, next_tick: int) -> None:
        for position in [p for p in self._inbox if p[0] <= tick]:
            del self._inbox[position]
        for position in [p for p in self._seen if p[0] <= tick]:
            del self._seen[position]
        self.completed, self._completed_cutoff = tick, self._tick_cutoff
        self.next_tick, self.tick = next_tick, None
        if self.on_complete is not None:
            self.on_complete(tick)

    # ------------------------------------------------------------------ starting again
    def progress(self) -> Progress:
        """Where this partition stands (valid between ticks): store it with the state of the tick."""
        assert self.tick is None and self.completed is not None and self.next_tick is not None
        return Progress(
            self.completed,
            self._last_tick_end,
            self._completed_cutoff,
            self.next_tick,
            self._next_sweep_t,
            self._last_shared,
            self._last_shared_at,
        )

    def restore(self, progress: Progress) -> None:
        """Start from a stored :class:`Progress` (its state already in the stores): input read
        again from before ``progress.cutoff`` is sorted into applied and still to come."""
        self.completed, self._completed_cutoff = progress.tick, progress.cutoff
        self._last_tick_end, self.next_tick = progress.tick_end, progress.next_tick
        self._next_sweep_t, self._last_shared = progress.next_sweep_t, progress.shared
        self._last_shared_at = progress.shared_at
        self._hello_sent = True
        if progress.shared is not None and hasattr(self.scorer, "receive_shared"):
            self.scorer.receive_shared(progress.shared, progress.shared_at)

    def _tick_end(self, tick: int) -> float:
        return (tick + 1) * self._interval

    def _close_round(self) -> None:
        """Send this partition's barrier for the round just produced."""
        self.round += 1
        self.stats.rounds += 1
        proposal = self._proposal(self.tick) if self._stage == _AFTER else NO_TICK  # type: ignore[arg-type]
        barrier = Barrier(self.tick, self.round, self.index, self._sent, proposal, watermark=self.max_t)  # type: ignore[arg-type]
        self._broadcast(barrier)
        self._sent = 0

    # ------------------------------------------------------------------ sending
    def _send(self, env: Envelope) -> None:
        dest = self.route(route_key(env.message))
        if dest == self.index:
            self._inbox.setdefault((env.tick, env.round), []).append(env)
        else:
            env = msgspec.structs.replace(env, source=self.index, seq=self._sent)
            self._out.append((dest, env))
        self._sent += 1
        self.stats.messages += 1

    def _broadcast(self, barrier: Barrier) -> None:
        for dest in range(self.partitions):
            if dest == self.index:
                self.deliver(barrier)
            else:
                self._out.append((dest, barrier))

    # ------------------------------------------------------------------ forgetting
    def sweep(self, now: float) -> None:
        """Evict state idle for longer than its time-to-live (event time)."""
        cfg = self.config
        evicted = self.stats.evicted
        stores = self.core.stores
        account_horizon = now - cfg.account_ttl_s
        entity_horizon = now - cfg.entity_ttl_s
        accounts = stores.accounts
        dirty = self._dirty.keys
        stale = [k for k, st in accounts.items() if st.last_t < account_horizon and k not in dirty]
        for key in stale:
            del accounts[key]
        evicted["accounts"] = evicted.get("accounts", 0) + len(stale)
        for key, st in list(accounts.items()):
            if st.open:
                self.core.prune_open(st, now)
                accounts[key] = st
        for name in ENTITY_STATE_TYPES:
            if name == "accounts":
                continue
            store = getattr(stores, name)
            stale = [k for k, v in store.items() if v.last_t < entity_horizon]
            for key in stale:
                del store[key]
            evicted[name] = evicted.get(name, 0) + len(stale)
            if ENTITY_STATE_TYPES[name] is LinkState:
                for key, link in list(store.items()):
                    old = [a for a, seen in link.accounts.items() if seen < entity_horizon]
                    if old and len(link.accounts) > 1:
                        for account in old:
                            del link.accounts[account]
                            link.holders.pop(account, None)
                        store[key] = link


def run_in_process(partitions: Sequence[Partition]) -> None:
    """Step every partition and carry messages between them until nothing is ready."""
    moved = True
    while moved:
        moved = False
        for partition in partitions:
            for dest, message in partition.step():
                partitions[dest].deliver(message)
                moved = True
