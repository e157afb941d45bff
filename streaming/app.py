"""The Faust worker: Kafka partitions in, the dataflow's partitions, verdicts and history out.

Topology (every topic has the same partition count, so Faust assigns partition ``p`` of each to
the same worker):

- ``booking-events``: input, keyed by account (``slot_released`` by slot), contract JSON;
- ``<app>-exchange``: the dataflow's messages between partitions (work for entities, facts
  for accounts, barriers), sent to the partition that owns their key, packed many to a message;
- ``slotguard-flags``: new flags, keyed by account, JSON;
- ``booking-events-dead-letter``: rejected input with the reason and the raw message;
- ``<app>-history`` (with a history store): what each completed tick scored, for the history
  sink (``streaming.sink``), which writes it with the events and dead letters to the store;
- one Faust table (``<app>-state``): every partition's state, written behind once per batch.

The input and exchange topics reach the shell a fetch at a time (``streaming.consumer``). Each
message goes to its partition's :class:`~streaming.runtime.PartitionRuntime`; the runtimes step;
what they send goes out and is flushed; what the ticks completed since produced (flags, history)
goes out and is flushed; then the state sealed at those ticks is written to the table with each
partition's progress, flushed; only then are the consumed messages that are done acked, so
committed offsets never pass anything whose effect is not durable, and no output is lost (a crash
before the state write recomputes the ticks and sends their output again: consumers dedupe by
key). After a crash a partition starts from its stored progress and reads again from the committed
offsets: what it applied already is recognised and skipped, what it sends again is dropped by the
receivers (see ``features.dataflow``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import faust
import msgspec
from faust.streams import _current_event
from faust.types import TP
from kafka.partitioner.default import murmur2

from features.config import EngineConfig
from features.dataflow import Progress
from ingest.contract import TYPE_NAMES, AnyEvent, ContractError, decode
from ingest.deadletter import DeadLetter
from ingest.pseudonym import Pseudonymizer
from models.artifact import ModelArtifact
from models.records import Flag, Verdict
from streaming.consumer import BatchingConsumer, Fetched, install
from streaming.runtime import (
    PACK_LIMIT,
    PartitionRuntime,
    Scored,
    encode_exchange,
    local_copy_key,
    local_copy_tick,
    pack_exchange,
    unpack_exchange,
)
from streaming.sink import HistoryBatch, encode_history
from streaming.state import Codec, TickStore

if TYPE_CHECKING:
    from alerts.metrics import Metrics

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class WorkerConfig:
    """Where the worker reads and writes, and how it batches."""

    brokers: str = "127.0.0.1:9092"
    app_id: str = "slotguard"
    events_topic: str = "booking-events"
    flags_topic: str = "slotguard-flags"
    dead_letter_topic: str = "booking-events-dead-letter"
    partitions: int = 4
    #: ``rocksdb://`` (production: local state survives restarts) or ``memory://``
    store: str = "rocksdb://"
    data_dir: Path = Path("var/worker")
    #: input read but not yet applied is held in memory up to this many events (then reading waits)
    max_pending: int = 200_000
    #: a JSON file rewritten every second with each partition's progress (for scripts and tests)
    status_file: Path | None = None
    #: a partition whose input has all been read and stayed quiet this long (wall clock) sends itself
    #: heartbeats, so that its ticks close as far as the other partitions' input has gone
    idle_after_s: float = 2.0

    #: send what each tick scored to the history topic (``--store``: the history sink writes it)
    history: bool = False
    #: state of completed ticks is written behind at most this often (wall clock; each key changed
    #: meanwhile once): their output goes out at once, and a crash recomputes at most this much
    state_interval_s: float = 0.5

    @property
    def exchange_topic(self) -> str:
        """The dataflow's internal topic, scoped by the app id (two apps never read each other's)."""
        return f"{self.app_id}-exchange"

    @property
    def history_topic(self) -> str:
        """What each completed tick scored, for the history sink (scoped by the app id)."""
        return f"{self.app_id}-history"

    web_port: int | None = None


def kafka_route(partitions: int) -> Callable[[str], int]:
    """Kafka's default partitioner (murmur2 of the key's bytes), so facts for an account land on the
    partition the account's events are produced to."""

    def route(key: str) -> int:
        return (murmur2(key.encode()) & 0x7FFFFFFF) % partitions

    return route


class TableBackend:
    """One partition's view of the worker's Faust table (keys and values are bytes)."""

    def __init__(self, shell: StreamShell, partition: int) -> None:
        self.shell = shell
        self.partition = partition

    def get(self, key: str) -> bytes | None:
        with self.shell.in_partition(self.partition):
            value = self.shell.table.data.get(key.encode())
        return value if value is None or isinstance(value, bytes) else bytes(value)

    def write(self, items: list[tuple[str, bytes]]) -> None:
        table = self.shell.table
        with self.shell.in_partition(self.partition):
            for key, value in items:
                table[key.encode()] = value

    async def write_behind(self, items: list[tuple[str, bytes]]) -> list[Any]:
        """What ``table[key] = value`` does for each item, without Faust's per-message machinery (a
        future message, the producer buffer, a publishing task, a persisted-offset write to RocksDB
        per message): the local store at once, the changelog partition through the producer.
        Returns the send futures; once they are done, :meth:`persisted` records the changelog's end."""
        shell = self.shell
        store = shell.table.data
        send = shell.app.producer.send
        topic, partition = shell.changelog_topic, self.partition
        futures = []
        with shell.in_partition(partition):
            for key, value in items:
                raw = key.encode()
                store[raw] = value
                futures.append(await send(topic, raw, value, partition, None, None))
        return futures

    def persisted(self, futures: list[Any]) -> None:
        """The changelog holds every write whose future is in ``futures`` (all done): tell the local
        store how far, as Faust's own write path does after each message (recovery reads from there)."""
        if futures:
            offset = max(future.result().offset for future in futures)
            store: Any = self.shell.table.data  # a Faust store (typed as a mapping)
            store.set_persisted_offset(TP(self.shell.changelog_topic, self.partition), offset)

    def keys(self, prefix: str) -> Iterator[str]:
        wanted = prefix.encode()
        with self.shell.in_partition(self.partition):
            found = [k.decode() for k in self.shell.table.data if k.startswith(wanted)]
        return iter(found)


@dataclass
class ShellStats:
    """What the worker did, for its log and metrics."""

    batches: int = 0
    input_messages: int = 0
    exchange_messages: int = 0
    dead_letters: int = 0
    sent: int = 0
    #: exchange messages read back that this worker had delivered in process (not decoded)
    local_copies: int = 0
    state_writes: int = 0
    flags: int = 0
    last_batch_s: float = 0.0
    #: wall-clock seconds spent waiting for the broker to acknowledge what was sent
    flush_s: float = 0.0


class StreamShell:
    """Runs the assigned partitions of one worker (the agent calls :meth:`process` per batch)."""

    def __init__(
        self,
        app: faust.App,
        config: WorkerConfig,
        model: ModelArtifact,
        engine: EngineConfig,
        pseudonym_key: str,
        metrics: Metrics | None = None,
    ) -> None:
        self.app = app
        self.metrics = metrics
        #: what metrics are told (cumulative): valid input by (site, event class), invalid by kind
        self._event_counts: dict[tuple[str, type], int] = {}
        self._invalid_kinds: dict[str, int] = {}
        self.config = config
        self.model = model
        self.engine = engine
        self.pseudonymizer = Pseudonymizer(pseudonym_key)
        self.route = kafka_route(config.partitions)
        #: the history sink running beside the worker, if any (its status goes in the status file)
        self.sink: Any = None
        self.table = app.Table(
            "state",
            default=None,
            key_type=bytes,
            value_type=bytes,
            partitions=config.partitions,
        )
        self.changelog_topic = self.table.changelog_topic.get_topic_name()
        self.runtimes: dict[int, PartitionRuntime] = {}
        #: per partition, what stands for "the event being processed" in Faust's table calls
        self._sources: dict[int, _Source] = {}
        self._input_paused: set[Any] = set()
        #: per partition: the input offset read up to, and when input last came (monotonic clock)
        self._read_to: dict[int, int] = {}
        self._last_input: dict[int, float] = {}
        self.heartbeats = 0
        self.stats = ShellStats()
        self._lock = asyncio.Lock()
        self._state_written_at = 0.0
        self.reports = 0
        self.exchange_topic = self._exchange = app.topic(
            config.exchange_topic, key_serializer="raw", value_serializer="raw", partitions=config.partitions
        )
        self._flags = app.topic(config.flags_topic, key_serializer="raw", value_serializer="raw")
        self._dead = app.topic(config.dead_letter_topic, key_serializer="raw", value_serializer="raw")
        self._history = (
            app.topic(config.history_topic, key_serializer="raw", value_serializer="raw", partitions=config.partitions)
            if config.history
            else None
        )

    # -------------------------------------------------------------- partitions
    def in_partition(self, partition: int) -> _PartitionContext:
        """Faust tables pick store and changelog partition from the current event: one of ``partition``'s
        (without one, reads search every partition the worker holds)."""
        return _PartitionContext(self._sources.get(partition))

    def runtime(self, partition: int) -> PartitionRuntime:
        rt = self.runtimes.get(partition)
        if rt is None:
            self._sources[partition] = _Source(_At(self.config.events_topic, partition))
            rt = PartitionRuntime(
                partition,
                self.config.partitions,
                TableBackend(self, partition),
                self.model,
                self.engine,
                self.pseudonymizer,
                self.route,
            )
            self.runtimes[partition] = rt
        return rt

    def revoke(self, partitions: Sequence[int]) -> None:
        """Partitions taken away in a rebalance: forget them (their new owner starts from their progress)."""
        for p in partitions:
            self.runtimes.pop(p, None)
            self._read_to.pop(p, None)
            self._last_input.pop(p, None)
            if self.metrics is not None:
                self.metrics.forget_partition(self.config.events_topic, p)
        self._input_paused = {tp for tp in self._input_paused if tp.partition not in partitions}
        if partitions:
            logger.info("partitions %s revoked", sorted(partitions))

    # -------------------------------------------------------------- one batch
    def pending_input(self) -> int:
        """Input events read but not yet applied, over this worker's partitions."""
        return sum(rt.partition.pending_events for rt in self.runtimes.values())

    async def process_fetched(self, messages: Sequence[Any]) -> None:
        """One fetch from the batching consumer, of either topic, processed whole (fetches never
        interleave); input partitions pause while the input read ahead of the ticks exceeds
        ``max_pending`` (the exchange topic keeps flowing, so ticks go on)."""
        async with self._lock:
            await self._process(messages)
        consumer = self.app.consumer
        pending = self.pending_input()
        if not self._input_paused and pending > self.config.max_pending:
            self._input_paused = {TP(self.config.events_topic, p) for p in self.runtimes}
            consumer.pause_partitions(self._input_paused)
        elif self._input_paused and pending <= self.config.max_pending // 2:
            consumer.resume_partitions(self._input_paused)
            self._input_paused = set()

    async def beat(self) -> None:
        """Heartbeats for the partitions whose input has all been read and gone quiet: each is sent
        to the partition itself through the exchange topic (a log, so that after a restart the
        partition closes its ticks where it closed them before) and takes effect when read back.
        Also writes the state sealed since the last write, if no batch did lately."""
        async with self._lock:
            consumer = self.app.consumer
            quiet_since = time.perf_counter() - self.config.idle_after_s
            beats = []
            for p, rt in self.runtimes.items():
                if self._last_input.get(p, -1.0) > quiet_since:
                    continue
                tp = TP(self.config.events_topic, p)
                highwater = consumer.highwater(tp)
                read_to = self._read_to.get(p)
                if read_to is None:
                    # nothing read since this worker took the partition: what was committed before
                    # was all read (and done) by its previous owner
                    read_to = getattr(consumer, "_committed_offset", {}).get(tp)
                if highwater is None or read_to is None or read_to < highwater:
                    continue
                rt.partition.input_read_to(read_to)
                beat = rt.partition.heartbeat()
                if beat is not None:
                    beats.append(self._exchange.send_soon(partition=p, key=None, value=encode_exchange(beat)))
            if beats:
                self.heartbeats += len(beats)
                await self._flush()
            if time.perf_counter() - self._state_written_at >= self.config.state_interval_s:
                await self._write_state()  # what the last batches sealed, when no batch came since

    def _ack(self, tp: TP, offsets: Sequence[int]) -> None:
        """Mark consumed offsets done: Faust commits offsets up to the acked ones."""
        if offsets:
            cast(BatchingConsumer, self.app.consumer).ack_offsets(tp, offsets)

    async def _process(self, fetched: Sequence[Fetched]) -> None:
        started = time.perf_counter()
        cfg = self.config
        events_topic = cfg.events_topic
        stats = self.stats
        touched: dict[int, None] = {}
        dead: list[tuple[TP, int, DeadLetter]] = []
        accepted: list[AnyEvent] = []
        for tp, records in fetched:
            p = tp.partition
            rt = self.runtime(p)
            touched[p] = None
            if tp.topic == events_topic:
                stats.input_messages += len(records)
                self._read_to[p] = records[-1].offset + 1
                self._last_input[p] = started
                take = rt.take_input
                skipped: list[int] = []
                for record in records:
                    try:
                        ev = decode(record.value)
                    except ContractError as exc:
                        dead.append((tp, record.offset, _dead_letter(tp, record, str(exc))))
                        self._invalid_kinds[exc.kind] = self._invalid_kinds.get(exc.kind, 0) + 1
                        continue
                    if take(ev, record.offset):
                        accepted.append(ev)
                    else:
                        skipped.append(record.offset)  # a duplicate, or applied before a restart
                self._ack(tp, skipped)
                continue
            stats.exchange_messages += len(records)
            token = rt.token
            for record in records:
                tick = local_copy_tick(record.key, token)
                if tick is not None:
                    rt.take_local_copy(tick, record.offset)  # delivered in process when it was sent
                    stats.local_copies += 1
                    continue
                try:
                    exchanged = unpack_exchange(record.value)
                except (ValueError, TypeError, msgspec.MsgspecError) as exc:
                    logger.error("undecodable exchange message at %s/%d: %s", tp.topic, record.offset, exc)
                    self._ack(tp, [record.offset])
                    continue
                rt.take_exchange(exchanged, record.offset)
        # step every partition touched; what they send goes to Kafka (where a partition's next owner
        # reads it after a rebalance or crash) and, for partitions this worker holds, straight to
        # them too (their copy read later from Kafka is recognised by its key and not decoded)
        outgoing: dict[int, list[Any]] = {}
        runtimes = self.runtimes
        queue = list(touched)
        while queue:
            p = queue.pop()
            for dest, out in runtimes[p].step():
                outgoing.setdefault(dest, []).append(out)
                local = runtimes.get(dest)
                if local is not None:
                    local.deliver(out)
                    if dest not in touched:
                        touched[dest] = None
                    queue.append(dest)
        send = self._exchange.send_soon
        for dest, messages in outgoing.items():
            local = runtimes.get(dest)
            for i in range(0, len(messages), PACK_LIMIT):
                part = messages[i : i + PACK_LIMIT]
                key = None if local is None else local_copy_key(local.token, max(m.tick for m in part))
                send(partition=dest, key=key, value=pack_exchange(part)[0])
            stats.sent += len(messages)
        for _tp, _offset, letter in dead:
            self._dead.send_soon(key=None, value=json.dumps(_letter_json(letter)).encode())
        # what the ticks completed since produced goes out now: flags, and for the history sink the
        # ticks' snapshots, changed verdicts and flags (at least once: if their state is lost before
        # it is written, the ticks are computed again and this is sent again; consumers and the
        # store are idempotent by key); acknowledged by the broker, with the exchange messages,
        # before any state of those ticks is written
        outputs: list[Scored] = []
        for p in touched:
            held = runtimes.get(p)
            if held is not None:
                output = held.take_output()
                if output.batches or output.flags or output.verdicts:
                    outputs.append(output)
                    self._send_outputs(output)
        if outgoing or dead or outputs:
            await self._flush()
        for tp, offset, _ in dead:
            self._ack(tp, [offset])
        stats.dead_letters += len(dead)
        if started - self._state_written_at >= cfg.state_interval_s:
            await self._write_state()
        if self.metrics is not None:
            self._batch_metrics(self.metrics, accepted, outputs)
        stats.batches += 1
        stats.last_batch_s = time.perf_counter() - started

    async def _write_state(self) -> None:
        """Write behind the state of every tick sealed since the last write, each changed key once,
        with each partition's progress; once the broker has it, ack what it made durable."""
        self._state_written_at = time.perf_counter()
        sealed = [(p, rt, items) for p, rt in self.runtimes.items() if (items := rt.drain())]
        if not sealed:
            return
        sends = []
        for _, rt, items in sealed:
            sends.append(await cast(TableBackend, rt.backend).write_behind(items))
            self.stats.state_writes += len(items)
        await self._flush()
        # (a partition revoked while this awaited the broker is left to its next owner)
        for (p, rt, _), futures in zip(sealed, sends, strict=True):
            if self.runtimes.get(p) is not rt:
                continue
            cast(TableBackend, rt.backend).persisted(futures)
            rt.written()
            done_input, done_exchange = rt.settle()
            self._ack(TP(self.config.events_topic, p), done_input)
            self._ack(TP(self.config.exchange_topic, p), done_exchange)

    def _batch_metrics(self, metrics: Metrics, accepted: list[AnyEvent], outputs: list[Scored]) -> None:
        """Hand a batch's figures to the metrics (totals per partition; new flags and scores)."""
        counts = self._event_counts
        newest: dict[str, float] = {}
        for ev in accepted:
            key = (ev.site, ev.__class__)
            counts[key] = counts.get(key, 0) + 1
            t = ev.ts.timestamp()
            if t > newest.get(ev.site, float("-inf")):
                newest[ev.site] = t
        metrics.events_total({(site, TYPE_NAMES[cls]): n for (site, cls), n in counts.items()})
        metrics.newest_event_times(newest)
        metrics.invalid_total(self._invalid_kinds)
        for p, rt in self.runtimes.items():
            stats = rt.partition.stats
            metrics.engine_totals(stats.duplicates, stats.late, source=str(p))
            metrics.handoffs_total(rt.partition.core.handoffs_by_site, source=str(p))
        for scored in outputs:
            metrics.flags(scored.flags)
            for _batch, scores in scored.batches:
                metrics.scored(self.model.version, scores)
        metrics.batch_done()

    async def report_metrics(self) -> None:
        """Consumer lag per input partition (highwater minus position) and accounts in state."""
        metrics = self.metrics
        if metrics is None:
            return
        consumer = self.app.consumer
        for tp in consumer.assignment():
            if tp.topic != self.config.events_topic:
                continue
            position = await consumer.position(tp)
            highwater = consumer.highwater(tp)
            if position is not None and highwater is not None:
                metrics.kafka_lag(tp.topic, tp.partition, highwater - position)
        if self.reports % 10 == 0:
            metrics.accounts_in_state.set(sum(len(rt.partition.core.stores.accounts) for rt in self.runtimes.values()))

    async def _flush(self) -> None:
        """Wait until everything sent so far is acknowledged by the broker (Faust's own flush gives
        up on its buffer after 0.1 s without a send)."""
        started = time.perf_counter()
        producer = self.app.producer
        while producer.buffer.size:
            await producer.buffer.flush()
        await producer.flush()
        self.stats.flush_s += time.perf_counter() - started

    def _send_outputs(self, scored: Scored) -> None:
        """A sealed tick's new flags to the flags topic and, when the worker keeps a history, what
        the tick scored to the history topic (the sink writes it to the store)."""
        for flag in scored.flags:
            self._flags.send_soon(key=flag.account_id.encode(), value=json.dumps(_flag_json(flag)).encode())
        self.stats.flags += len(scored.flags)
        if self._history is None:
            return
        snapshots: list[Any] = []
        scores: list[float] = []
        for batch, batch_scores in scored.batches:
            snapshots += batch.snapshots()
            scores += batch_scores.tolist()
        if snapshots or scored.verdicts or scored.flags:
            value = encode_history(HistoryBatch(self.model.version, snapshots, scores, scored.verdicts, scored.flags))
            self._history.send_soon(key=None, value=value)

    def status(self) -> dict[str, Any]:
        """Where each partition this worker holds stands, and what the worker did (for ``--status-file``)."""
        partitions = {
            str(rt.index): {
                "completed_tick": rt.partition.completed,
                "durable_tick": rt.durable_tick,
                "pending_events": rt.partition.pending_events,
                "applied": rt.partition.stats.applied,
                # events applied through the durable tick, by every runtime the partition has had:
                # each input event once, whatever crashed or moved
                "applied_durable": rt.applied_durable,
            }
            for rt in self.runtimes.values()
        }
        stats = self.stats
        return {
            "partitions": partitions,
            "input_messages": stats.input_messages,
            "exchange_messages": stats.exchange_messages,
            "dead_letters": stats.dead_letters,
            "flags": stats.flags,
            "history": None if self.sink is None else self.sink.status(),
            "heartbeats": self.heartbeats,
            "at": time.time(),
        }

    def verdicts(self, partitions: Sequence[int]) -> list[Any]:
        """Every stored verdict of ``partitions`` (read from the table, as of its durable progress)."""
        out = []
        codec = Codec.for_type(Verdict)
        for p in partitions:
            store: TickStore[Any] = TickStore(f"{p}.verdicts", TableBackend(self, p), codec)
            raw = TableBackend(self, p).get(f"{p}.progress")
            if raw is not None:
                store.durable_tick = msgspec.msgpack.decode(raw, type=Progress).tick
            out += [store[account] for account in store]
        return out


class _At:
    """Where a message came from: all Faust's tables read of the message being processed."""

    def __init__(self, topic: str, partition: int) -> None:
        self.topic = topic
        self.partition = partition


class _Source:
    """Stands for the event being processed in Faust's context variable: tables take the changelog
    partition (and the topic they check) from its ``message``."""

    def __init__(self, message: _At) -> None:
        self.message = message


class _PartitionContext:
    def __init__(self, event: Any) -> None:
        self.event = event
        self.token: Any = None

    def __enter__(self) -> None:
        self.token = _current_event.set(weakref.ref(self.event) if self.event is not None else None)

    def __exit__(self, *exc: object) -> None:
        _current_event.reset(self.token)


def _dead_letter(tp: TP, record: Any, reason: str) -> DeadLetter:
    raw = record.value if isinstance(record.value, bytes) else bytes(record.value or b"")
    text = raw.decode("utf-8", errors="backslashreplace")
    return DeadLetter(f"{tp.topic}/{tp.partition}", record.offset, reason, text)


def _letter_json(letter: DeadLetter) -> dict[str, Any]:
    return {"source": letter.source, "offset": letter.line_no, "reason": letter.reason, "raw": letter.raw}


def _flag_json(flag: Flag) -> dict[str, Any]:
    return {
        "account_id": flag.account_id,
        "site": flag.site,
        "flagged_at": flag.flagged_at.isoformat(timespec="milliseconds"),
        "score": round(flag.score, 6),
        "threshold": flag.threshold,
        "reasons": list(flag.reasons),
        "model_version": flag.model_version,
    }


def build_app(
    config: WorkerConfig,
    model: ModelArtifact,
    engine: EngineConfig,
    pseudonym_key: str,
    metrics: Metrics | None = None,
) -> tuple[faust.App, StreamShell]:
    """The Faust app and its shell, wired; ``app.main()`` or a worker runs it."""
    config.data_dir.mkdir(parents=True, exist_ok=True)
    app = faust.App(
        config.app_id,
        broker=[f"kafka://{b.strip()}" for b in config.brokers.split(",")],
        store=config.store,
        datadir=str(config.data_dir),
        topic_partitions=config.partitions,
        topic_replication_factor=1,
        broker_session_timeout=10.0,
        broker_heartbeat_interval=1.0,
        broker_commit_interval=1.0,
        consumer_auto_offset_reset="earliest",
        producer_linger=0.002,
        producer_acks=-1,
        stream_buffer_maxsize=4096,
        # messages held for later ticks are acked only when their tick is durable: do not wait for
        # them on shutdown (a restart reads them again)
        stream_wait_empty=False,
        web_enabled=config.web_port is not None,
        web_port=config.web_port or 6066,
        web_bind="127.0.0.1",
        table_standby_replicas=0,
    )
    shell = StreamShell(app, config, model, engine, pseudonym_key, metrics)
    if metrics is not None:
        metrics.set_model(model.version, str(model.metadata.get("feature_hash", "")), model.threshold)
    events = app.topic(config.events_topic, key_serializer="raw", value_serializer="raw", partitions=config.partitions)

    @app.timer(1.0)
    async def report() -> None:
        await shell.beat()
        if config.status_file is not None:
            tmp = config.status_file.with_suffix(".tmp")
            tmp.write_text(json.dumps(shell.status()))
            tmp.replace(config.status_file)
        shell.reports += 1
        try:
            await shell.report_metrics()
        except Exception:  # metrics must never stop the status file or the stream
            logger.exception("metrics report failed")
        if shell.reports % 10:
            return
        stats = shell.stats
        ticks = {rt.index: rt.partition.completed for rt in shell.runtimes.values()}
        consumer = app.consumer
        logger.info(
            "batches %d, input %d, exchange %d, sent %d, dead letters %d, flags %d; completed ticks %s; "
            "seconds waiting for fetches %.1f, in batches %.1f, of which for the broker's acks %.1f",
            stats.batches, stats.input_messages, stats.exchange_messages, stats.sent,
            stats.dead_letters, stats.flags, ticks, getattr(consumer, "fetch_wait_s", 0.0),
            getattr(consumer, "handler_s", 0.0), stats.flush_s,
        )  # fmt: skip

    # The agents declare what the worker consumes: Faust subscribes to their topics and assigns
    # their partitions to the group's workers. The batching consumer hands the shell the messages
    # of both topics a fetch at a time, so nothing reaches the agents' streams.
    async def subscription_only(stream: Any) -> None:
        async for message in stream:
            raise RuntimeError(f"the batching consumer delivers this topic; {message!r} reached its stream")

    app.agent(events, name="slotguard-input")(subscription_only)
    app.agent(shell.exchange_topic, name="slotguard-exchange")(subscription_only)
    install(app, frozenset({config.events_topic, config.exchange_topic}), shell.process_fetched)

    def on_revoked(sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        revoked: set[Any] = kwargs.get("revoked", args[0] if args else set())
        shell.revoke([tp.partition for tp in revoked if tp.topic == config.events_topic])

    app.on_partitions_revoked.connect(on_revoked)

    return app, shell
