"""The history sink: the worker's topics into the history store, committed only once written.

The detection shell never writes to the store itself. What the history needs travels on Kafka:
the input events (``booking-events``), the rejected ones (``booking-events-dead-letter``) and,
per completed tick and partition, what scoring produced (``<app>-history``: snapshots, scores,
changed verdicts, new flags; sent before the tick's state is written, so a crash resends rather
than loses them). :class:`HistorySink` reads those topics in its own consumer group, hands the rows
to the store's batched writer, and commits its offsets only after the writer has written them. A
store that is down for a minute or an hour holds the sink back (it retries, logs, and the
consumer lag grows), never the detection; a sink that crashes starts again from its last commit,
and rows written twice collapse by key in the store. So no accepted event's history is lost.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import msgspec

from features.records import Snapshot
from features.registry import FEATURE_NAMES
from ingest.contract import ContractError, decode
from ingest.deadletter import DeadLetter
from models.records import Flag, Verdict

logger = logging.getLogger(__name__)


class HistoryBatch(msgspec.Struct):
    """What one completed tick of one partition scored, as the history needs it."""

    model_version: str
    snapshots: list[Snapshot]
    scores: list[float]
    verdicts: list[Verdict]
    flags: list[Flag]


_batch_encoder = msgspec.msgpack.Encoder()
_batch_decoder = msgspec.msgpack.Decoder(HistoryBatch)
_letter_decoder = msgspec.json.Decoder(dict[str, Any])


def encode_history(batch: HistoryBatch) -> bytes:
    return _batch_encoder.encode(batch)


class HistorySink:
    """Consumes the history topics into a :class:`storage.writer.HistoryWriter` (in a thread)."""

    def __init__(
        self,
        brokers: str,
        group: str,
        events_topic: str,
        history_topic: str,
        dead_letter_topic: str,
        writer: Any,
        *,
        max_records: int = 20_000,
        retry_pause_s: float = 1.0,
        metrics: Any = None,
    ) -> None:
        self.brokers = brokers
        self.group = group
        self.events_topic = events_topic
        self.history_topic = history_topic
        self.dead_letter_topic = dead_letter_topic
        self.writer = writer
        self.max_records = max_records
        self.retry_pause_s = retry_pause_s
        #: ``alerts.metrics.Metrics``: history rows written, retried and failed, after every write
        self.metrics = metrics
        self.committed_messages = 0
        self.outage_s = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.error: BaseException | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="history-sink", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 60.0) -> None:
        """Stop after the current batch (written and committed if the store answers in time)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def status(self) -> dict[str, Any]:
        return {
            "committed_messages": self.committed_messages,
            "buffered_rows": self.writer.buffered_rows,
            "outage_s": round(self.outage_s, 1),
        }

    # ------------------------------------------------------------------ the loop
    def _run(self) -> None:
        from kafka import KafkaConsumer

        consumer = KafkaConsumer(
            self.events_topic,
            self.history_topic,
            self.dead_letter_topic,
            bootstrap_servers=self.brokers.split(","),
            group_id=self.group,
            client_id=f"{self.group}-sink",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            # a store down for long holds a batch that long: stay in the group meanwhile
            max_poll_interval_ms=3_600_000,
        )
        try:
            while not self._stop.is_set():
                polled = consumer.poll(timeout_ms=500, max_records=self.max_records)
                if not polled:
                    continue
                count = 0
                for records in polled.values():
                    self._add(records)
                    count += len(records)
                if not self._write():
                    return  # stopping with rows unwritten: not committed, read again next time
                try:
                    consumer.commit()
                except Exception as exc:  # a rebalance took the partitions: they are read again
                    logger.warning("history sink: commit failed (%s); the batch will be read again", exc)
                    continue
                self.committed_messages += count
        except BaseException as exc:
            self.error = exc
            logger.exception("history sink stopped")
        finally:
            consumer.close(autocommit=False)

    def _add(self, records: list[Any]) -> None:
        writer = self.writer
        topic = records[0].topic
        if topic == self.events_topic:
            events, raws = [], []
            for record in records:
                try:
                    ev = decode(record.value)
                except ContractError:
                    continue  # the worker dead-letters it; the sink writes it from that topic
                events.append(ev)
                raws.append(record.value.decode().rstrip("\r\n"))
            writer.add_events(events, raws)
        elif topic == self.history_topic:
            for record in records:
                batch = _batch_decoder.decode(record.value)
                writer.add_snapshots(batch.snapshots, batch.scores, batch.model_version, FEATURE_NAMES)
                writer.add_verdicts(batch.verdicts)
                writer.add_flags(batch.flags)
        else:
            letters = []
            for record in records:
                doc = _letter_decoder.decode(record.value)
                letters.append(DeadLetter(str(doc["source"]), int(doc["offset"]), str(doc["reason"]), str(doc["raw"])))
            writer.add_dead_letters(letters)

    def _write(self) -> bool:
        """Write everything buffered, retrying for as long as the store is down; False if asked to
        stop before it could."""
        began = None
        while True:
            self.writer.flush()  # retries with backoff; keeps what it could not write
            if self.metrics is not None:
                self.metrics.history_report(self.writer.report())
            if not self.writer.buffered_rows:
                if began is not None:
                    logger.info("history sink: store reachable again after %.0f s; nothing lost", self.outage_s)
                return True
            if began is None:
                began = time.monotonic()
                logger.warning(
                    "history sink: store unreachable, holding %d rows (not committed)", self.writer.buffered_rows
                )
            self.outage_s = time.monotonic() - began
            if self._stop.wait(self.retry_pause_s):
                logger.warning("history sink stopping with %d rows unwritten: they are read again on the next start",
                               self.writer.buffered_rows)  # fmt: skip
                return False
