"""Faust's Kafka consumer, delivering the worker's own topics a fetch at a time.

Faust hands every consumed message to its streams one by one: a ``Message`` and an ``Event`` object,
a flow-control wait, a queue put and get, and a task race (``wait_first``) per message. Measured
here, that caps a do-nothing ``take_events`` agent at about 4,000 messages/s, while the same
consumer fetches over 200,000/s. The worker's input and exchange topics are processed a batch at a
time anyway, so :class:`BatchingConsumer` passes them to one handler per fetch instead (the
records of every partition the fetch returned, in offset order per partition). Every other topic
(table changelogs during recovery, anything an agent reads) goes the usual way. The handler acks
what it has made durable with ``consumer.ack(message)``, and Faust commits acked offsets as usual.

Everything else stays Faust's: the consumer group and partition assignment, the table and its
changelog, recovery, the producer, timers.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar, cast

from faust.transport.drivers import aiokafka as faust_aiokafka

logger = logging.getLogger(__name__)

BatchHandler = Callable[[list[Any]], Awaitable[None]]


class BatchingConsumer(faust_aiokafka.Consumer):
    """The aiokafka consumer of Faust, with the topics named in ``batch_topics`` delivered in batches."""

    batch_topics: frozenset[str] = frozenset()
    batch_handler: BatchHandler | None = None

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
        try:
            while not (consumer_should_stop() or fetcher_should_stop()):
                batch: list[Any] = []
                await self.sleep(0)
                if not self.should_stop:
                    async for tp, message in self.getmany(timeout=1.0):
                        offset = message.offset
                        read = get_read_offset(tp)
                        if read is not None and offset < read:
                            continue  # read already (a seek back after a rebalance)
                        if read and offset - read > 1 and acks_enabled_for(message.topic):
                            await self._add_gap(tp, read + 1, offset)  # compacted or aborted offsets
                        if message.topic in batch_topics:
                            batch.append(message)
                        else:
                            await self.wait_first(callback(message), self.suspend_flow.wait())
                        set_read_offset(tp, offset)
                if batch:
                    await handler(batch)
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
