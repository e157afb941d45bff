"""One partition of the streaming worker, without Kafka: the dataflow partition, its stores and
detector, what to send, what to write and which input is done.

The Faust agent (``streaming.app``) feeds it decoded input and exchange messages and moves what it
returns; everything here is plain Python, so it is tested without a broker.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec
import numpy as np

from features.config import EngineConfig
from features.core import FeatureCore
from features.dataflow import Barrier, Envelope, FeatureBatch, Heartbeat, Outgoing, Partition, Progress
from features.state import ENTITY_STATE_TYPES, Stores
from ingest.contract import AnyEvent
from ingest.pseudonym import Pseudonymizer
from models.artifact import ModelArtifact
from models.detector import Detector, SiteReferences
from models.records import Flag, Verdict
from streaming.state import REFERENCE_CODEC, ROW_CODEC, Backend, Codec, TickStore

logger = logging.getLogger(__name__)


_exchange_encoder = msgspec.msgpack.Encoder()
_progress_encoder = msgspec.msgpack.Encoder()
_progress_decoder = msgspec.msgpack.Decoder(Progress)


_TYPE_BYTE = {Envelope: b"E", Barrier: b"B", Heartbeat: b"H"}


def encode_exchange(message: Envelope | Barrier | Heartbeat) -> bytes:
    """A message between partitions, as it travels on the exchange topic (a type byte, msgpack)."""
    return _TYPE_BYTE[type(message)] + _exchange_encoder.encode(message)


_envelope_decoder = msgspec.msgpack.Decoder(Envelope)
_barrier_decoder = msgspec.msgpack.Decoder(Barrier)
_heartbeat_decoder = msgspec.msgpack.Decoder(Heartbeat)


def decode_exchange(raw: bytes) -> Envelope | Barrier | Heartbeat:
    if raw[:1] == b"E":
        return _envelope_decoder.decode(raw[1:])
    if raw[:1] == b"B":
        return _barrier_decoder.decode(raw[1:])
    if raw[:1] == b"H":
        return _heartbeat_decoder.decode(raw[1:])
    raise ValueError(f"not an exchange message: {raw[:16]!r}")


#: most dataflow messages packed into one Kafka message (about 200 bytes each: far below the
#: broker's 1 MB message limit)
PACK_LIMIT = 2000
_pack_decoder = msgspec.msgpack.Decoder(list[bytes])


def pack_exchange(messages: Sequence[Envelope | Barrier | Heartbeat]) -> list[bytes]:
    """Messages for one partition packed into as few Kafka messages as the size limit allows (a
    Kafka message costs the worker far more than a dataflow message: pack them)."""
    return [
        b"P" + _exchange_encoder.encode([encode_exchange(m) for m in messages[i : i + PACK_LIMIT]])
        for i in range(0, len(messages), PACK_LIMIT)
    ]


def unpack_exchange(raw: bytes) -> list[Envelope | Barrier | Heartbeat]:
    """The dataflow messages of one exchange-topic message (packed, or a single one)."""
    if raw[:1] == b"P":
        return [decode_exchange(part) for part in _pack_decoder.decode(raw[1:])]
    return [decode_exchange(raw)]


#: a copy on the exchange topic of a message its worker delivered in process: the Kafka key is the
#: receiving runtime's token (8 random bytes) and the latest tick the message carries
_TOKEN_BYTES = 8


def local_copy_key(token: bytes, tick: int) -> bytes:
    """The Kafka key of an exchange message delivered in process to the runtime holding ``token``."""
    return token + tick.to_bytes(8, "big", signed=True)


def local_copy_tick(key: bytes | None, token: bytes) -> int | None:
    """The latest tick of an exchange message this runtime (``token``) already took in process, or
    None: a message to decode and deliver (from another worker, or for an earlier runtime)."""
    if key is None or len(key) != 2 * _TOKEN_BYTES or key[:_TOKEN_BYTES] != token:
        return None
    return int.from_bytes(key[_TOKEN_BYTES:], "big", signed=True)


@dataclass
class Scored:
    """What scoring produced in a tick, for the sinks: snapshots, new flags, verdicts that changed."""

    batches: list[tuple[FeatureBatch, np.ndarray]] = field(default_factory=list)
    flags: list[Flag] = field(default_factory=list)
    #: verdicts that changed (copies, as of the change), for the history
    verdicts: list[Verdict] = field(default_factory=list)


class PartitionRuntime:
    """A dataflow partition over :class:`TickStore` mappings, with its own detector."""

    def __init__(
        self,
        index: int,
        partitions: int,
        backend: Backend,
        model: ModelArtifact,
        config: EngineConfig,
        pseudonymizer: Pseudonymizer,
        route: Callable[[str], int],
    ) -> None:
        self.index = index
        self.backend = backend
        #: names this runtime (not the partition) in the keys of the copies it took in process
        self.token = os.urandom(_TOKEN_BYTES)
        #: consumed messages not yet done: input (event time, offset), exchange (latest tick, offset)
        self.open_input: list[tuple[float, int]] = []
        self.open_exchange: list[tuple[int, int]] = []
        self.stores: list[TickStore[Any]] = []

        def store(name: str, codec: Codec[Any]) -> TickStore[Any]:
            tick_store: TickStore[Any] = TickStore(f"{index}.{name}", backend, codec)
            self.stores.append(tick_store)
            return tick_store

        entity_stores = {name: store(name, Codec.for_type(kind)) for name, kind in ENTITY_STATE_TYPES.items()}
        core = FeatureCore(Stores(**entity_stores), pseudonymizer)
        self.verdicts = store("verdicts", Codec.for_type(Verdict))
        #: the shell's own figures, written with the state they describe (``applied``: input events
        #: applied through the last sealed tick, over every runtime this partition has had)
        self.meta: TickStore[int] = store("meta", Codec.for_type(int))
        references = SiteReferences(
            model.estimator,
            model.prior_weight,
            model.reference_refresh_s,
            live=store("live", REFERENCE_CODEC),
            rows=store("rows", ROW_CODEC),
        )
        self.pending = Scored()
        self.ready = Scored()
        self.detector = Detector(
            model,
            verdicts=self.verdicts,
            on_flag=self.pending.flags.append,
            on_scored=lambda batch, scores: self.pending.batches.append((batch, scores)),
            references=references,
            on_verdict=self.pending.verdicts.append,
        )
        self.partition = Partition(index, partitions, core, self.detector, config, route)
        self.partition.on_complete = self._sealed
        self.sealed_tick: int | None = None
        self._sealed_progress: Progress | None = None
        self.durable_tick: int | None = None
        self._durable_progress: Progress | None = None
        self.progress_key = f"{index}.progress"
        raw = backend.get(self.progress_key)
        if raw is not None:
            progress = _progress_decoder.decode(raw)
            for tick_store in self.stores:
                tick_store.durable_tick = progress.tick
            self.partition.restore(progress)
            self.durable_tick = self.sealed_tick = progress.tick
            logger.info("partition %d starts again after tick %d", index, progress.tick)
        #: events applied before this runtime, as of the durable tick (it applies the rest again)
        self._applied_before: int = self.meta.get("applied", 0)
        self.applied_durable = self._sealed_applied = self._applied_before

    # -------------------------------------------------------------- in and out
    def offer(self, ev: AnyEvent, offset: int) -> bool:
        return self.partition.offer(ev, offset)

    def take_input(self, ev: AnyEvent, offset: int) -> bool:
        """Offer an input event read at ``offset``; False: a duplicate or applied before (done now)."""
        if self.partition.offer(ev, offset):
            self.open_input.append((ev.ts.timestamp(), offset))
            return True
        return False

    def take_exchange(self, messages: Sequence[Envelope | Barrier | Heartbeat], offset: int) -> None:
        """Deliver the messages of the exchange-topic message at ``offset``."""
        deliver = self.partition.deliver
        for message in messages:
            deliver(message)
        self.open_exchange.append((max(message.tick for message in messages), offset))

    def take_local_copy(self, tick: int, offset: int) -> None:
        """The exchange-topic copy at ``offset`` of messages this runtime took in process: nothing to
        deliver; done once ``tick`` is durable, like the messages it copies."""
        self.open_exchange.append((tick, offset))

    def settle(self) -> tuple[list[int], list[int]]:
        """The consumed offsets (input, exchange) whose effect is now durable; they are no longer open."""
        durable = self.durable_tick
        progress = self._durable_progress
        if durable is None or progress is None:
            return [], []
        cutoff, tick_end = progress.cutoff, progress.tick_end
        done_input: list[int] = []
        still_input: list[tuple[float, int]] = []
        for item in self.open_input:
            if item[1] < cutoff and item[0] < tick_end:
                done_input.append(item[1])
            else:
                still_input.append(item)
        self.open_input = still_input
        done_exchange: list[int] = []
        still_exchange: list[tuple[int, int]] = []
        for entry in self.open_exchange:
            if entry[0] <= durable:
                done_exchange.append(entry[1])
            else:
                still_exchange.append(entry)
        self.open_exchange = still_exchange
        return done_input, done_exchange

    def deliver(self, message: Envelope | Barrier | Heartbeat) -> None:
        self.partition.deliver(message)

    def step(self) -> list[Outgoing]:
        return self.partition.step()

    def _sealed(self, tick: int) -> None:
        """A tick completed: freeze what it changed, so later ticks' changes are not written with it."""
        self._sealed_applied = self._applied_before + self.partition.stats.applied
        self.meta["applied"] = self._sealed_applied
        for tick_store in self.stores:
            tick_store.seal()
        self.sealed_tick = tick
        self._sealed_progress = self.partition.progress()
        self.ready.batches += self.pending.batches
        self.ready.flags += self.pending.flags
        self.ready.verdicts += self.pending.verdicts
        self.pending.batches.clear()
        self.pending.flags.clear()
        self.pending.verdicts.clear()

    def drain(self) -> list[tuple[str, bytes]]:
        """Everything sealed since the last drain, with the progress, as backend writes."""
        if self.sealed_tick is None or self.sealed_tick == self.durable_tick or self._sealed_progress is None:
            return []
        items: list[tuple[str, bytes]] = []
        for tick_store in self.stores:
            items += tick_store.drain(self.sealed_tick)
        items.append((self.progress_key, _progress_encoder.encode(self._sealed_progress)))
        return items

    def take_output(self) -> Scored:
        """What the ticks completed since the last call produced (flags, scores, changed verdicts):
        it may go out at once, before the state of those ticks is written (it is produced again if
        the state is lost before it is written)."""
        done, self.ready = self.ready, Scored()
        return done

    def written(self) -> None:
        """The drained writes are durable: the sealed ticks count as done."""
        self.durable_tick = self.sealed_tick
        self._durable_progress = self._sealed_progress
        self.applied_durable = self._sealed_applied

    def is_done(self, topic_is_input: bool, offset: int, t: float, tick: int) -> bool:
        """Whether a consumed message needs no more processing once the durable state is written."""
        durable = self.durable_tick
        if durable is None:
            return False
        if topic_is_input:
            progress = self._durable_progress
            return progress is not None and offset < progress.cutoff and t < progress.tick_end
        return tick <= durable
