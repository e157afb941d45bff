"""Faust's Kafka consumer, delivering the worker's own topics a whole fetch at a time.

Faust hands every consumed message to its streams one by one: a ``Message`` and an ``Event`` object,
a flow-control wait, a queue put and get, and a task race (``wait_first``) per message. Measured
here, that caps a do-nothing ``take_events`` agent at about 4,000 messages/s, while the same
consumer fetches over 200,000/s. The worker's input and exchange topics are processed a batch at a
time anyway, so :class:`BatchingConsumer` passes them to one handler per fetch instead: the
aiokafka records of every partition the fetch returned, as ``(tp, records)`` in offset order, with
no Faust ``Message`` made per record. Every other topic (table changelogs during recovery,
anything an agent reads) goes the usual way. The handler acks the offsets whose effect it has made
durable with :meth:`BatchingConsumer.ack_offsets`, and Faust commits acked offsets as usual.

The aiokafka consumer beneath waits at most ``FETCH_MAX_WAIT_MS`` for a fetch to fill (Faust sets
1.5 s): aiokafka keeps one fetch request in flight per broker, so a long poll on partitions with
nothing new (the exchange topic, mostly) held back the next fetch of input partitions whose
records had all been handed over, and the worker sat idle with input waiting on the broker.

Everything else stays Faust's: the consumer group and partition assignment, the table and its
changelog, recovery, the producer, timers.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, ClassVar, cast

from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP
from faust.types.tuples import ack_lock

logger = logging.getLogger(__name__)

#: one partition's records of a fetch (aiokafka ``ConsumerRecord``s, in offset order)
Fetched = tuple[TP, Sequence[Any]]
BatchHandler = Callable[[list[Fetched]], Awaitable[None]]

#: longest the broker holds a fetch request open waiting for data (see the module docstring)
FETCH_MAX_WAIT_MS = 20


class ShortPollThread(faust_aiokafka.AIOKafkaConsumerThread):
    """Faust's consumer thread, whose aiokafka consumer polls the broker with a short wait."""

    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        if not hasattr(consumer, "_fetch_max_wait_ms"):  # pragma: no cover - an aiokafka upgrade
            raise RuntimeError("aiokafka's consumer no longer has _fetch_max_wait_ms: review streaming.consumer")
        consumer._fetch_max_wait_ms = FETCH_MAX_WAIT_MS
        return consumer


class BatchingConsumer(faust_aiokafka.Consumer):
    """The aiokafka consumer of Faust, with the topics named in ``batch_topics`` delivered in batches."""

    batch_topics: frozenset[str] = frozenset()
    batch_handler: BatchHandler | None = None
    #: wall-clock seconds spent waiting for fetches and in the handler (for the worker's log)
    fetch_wait_s: float = 0.0
    handler_s: float = 0.0

    def _new_consumer_thread(self) -> faust_aiokafka.AIOKafkaConsumerThread:
        return ShortPollThread(self, loop=self.loop, beacon=self.beacon)

    def ack_offsets(self, tp: TP, offsets: Iterable[int]) -> None:
        """Mark consumed offsets of ``tp`` done (what ``ack(message)`` does, without a message)."""
        if not self.app.topics.acks_enabled_for(tp.topic):
            return
        with ack_lock:
            committed = self._committed_offset[tp]
            acked_index = self._acked_index[tp]
            acked = self._acked[tp]
            n = 0
            for offset in offsets:
                if (committed is None or offset >= committed) and offset not in acked_index:
                    acked_index.add(offset)
                    acked.append(offset)
                    n += 1
            self._n_acked += n

    async def _drain_messages(self, fetcher: Any) -> None:  # pragma: no cover - runs in the worker
        handler = self.batch_handler
        if handler is None:
            await super()._drain_messages(fetcher)
            return
        batch_topics = self.batch_topics
        callback = self.callback
        consumer_should_stop = self._stopped.is_set
        fetcher_should_stop = fetcher._stopped.is_set
        get_read_offset = self._read_offset.__getitem__
        set_read_offset = self._read_offset.__setitem__
        acks_enabled_for = self.app.topics.acks_enabled_for
        to_message = self._to_message
        clock = time.perf_counter
        try:
            while not (consumer_should_stop() or fetcher_should_stop()):
                await self.sleep(0)
                if self.should_stop:
                    continue
                asked = clock()
                records, active = await self._wait_next_records(1.0)
                self.fetch_wait_s += clock() - asked
                if not records or self.should_stop:
                    continue
                if not self.flow_active:
                    await self.perform_seek()  # as Faust's getmany does: a rebalance began
                    continue
                generation = self.app.consumer_generation_id
                batch: list[Fetched] = []
                for tp, got in records.items():
                    if active is not None and tp not in active and tp not in self._buffered_partitions:
                        continue
                    read = get_read_offset(tp)
                    fetched = got
                    if read is not None and got[0].offset < read:
                        fetched = [record for record in got if record.offset >= read]  # read already
                        if not fetched:
                            continue
                    first, last = fetched[0].offset, fetched[-1].offset
                    gapless = last - first == len(fetched) - 1 and not (read and first - read > 1)
                    if not gapless and acks_enabled_for(tp.topic):
                        # offsets no record stands for (compacted away, transaction markers) count as acked
                        previous = read
                        for record in fetched:
                            if previous and record.offset - previous > 1:
                                await self._add_gap(tp, previous + 1, record.offset)
                            previous = record.offset
                    if tp.topic in batch_topics:
                        batch.append((tp, fetched))
                        continue
                    for record in fetched:
                        await self.wait_first(callback(to_message(tp, record)), self.suspend_flow.wait())
                    set_read_offset(tp, last)
                if batch and self.app.consumer_generation_id == generation:
                    started = clock()
                    await handler(batch)
                    self.handler_s += clock() - started
                    for tp, handed in batch:
                        set_read_offset(tp, handed[-1].offset)
                if self._commit_every is not None and self._n_acked >= self._commit_every:
                    self._n_acked = 0
                    await self.commit()
        except self.consumer_stopped_errors:
            if self.transport.app.should_stop:
                logger.info("the broker stopped the consumer, shutting down")
                return
            raise


class BatchingTransport(faust_aiokafka.Transport):
    """Faust's aiokafka transport whose consumer is a :class:`BatchingConsumer` for ``topics``."""

    Consumer: ClassVar[Any] = BatchingConsumer

    def __init__(self, url: Any, app: Any, topics: frozenset[str], handler: BatchHandler) -> None:
        super().__init__(url, app)
        self.batch_topics = topics
        self.batch_handler = handler

    def create_consumer(self, callback: Any, **kwargs: Any) -> Any:
        consumer = cast(BatchingConsumer, super().create_consumer(callback, **kwargs))
        consumer.batch_topics = self.batch_topics
        consumer.batch_handler = self.batch_handler
        return consumer


def install(app: Any, topics: frozenset[str], handler: BatchHandler) -> None:
    """Make ``app`` consume ``topics`` through ``handler``, a fetch at a time (before it starts)."""
    app.transport = BatchingTransport(app.conf.broker_consumer, app, topics, handler)
