"""Publishing a file of booking events to Kafka, keyed as the contract says.

Each line is sent as it is (the worker validates it and dead-letters what fails), keyed by its
``account_id``, or its ``slot_id`` for events without an account (``slot_released``); a line whose
key cannot be read is sent without one. The producer is idempotent (``enable_idempotence``,
``acks=all``): its retries never write a message twice. ``rate`` paces the sending in events
per second (0: as fast as the broker takes them).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import msgspec

logger = logging.getLogger(__name__)


class _Keys(msgspec.Struct):
    account_id: str | None = None
    slot_id: str | None = None


_keys = msgspec.json.Decoder(_Keys)


def event_key(line: bytes) -> bytes | None:
    """The partitioning key of one contract line (None when it cannot be read)."""
    try:
        keys = _keys.decode(line)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    key = keys.account_id if keys.account_id is not None else keys.slot_id
    return key.encode() if key else None


@dataclass
class ProduceStats:
    """What was sent."""

    sent: int = 0
    unkeyed: int = 0
    blank: int = 0
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        return self.sent / self.seconds if self.seconds > 0 else 0.0


def produce(
    lines: Iterable[bytes],
    topic: str,
    brokers: str,
    rate: float = 0.0,
    on_sent: Callable[[int], None] | None = None,
    timestamp_now: bool = True,
) -> ProduceStats:
    """Send every non-blank line to ``topic``; block until the broker acknowledged them all.

    ``on_sent`` is called with the bytes of each line sent (for a progress bar). With
    ``timestamp_now`` each record carries the wall-clock send time (what end-to-end latency is
    measured from); otherwise the broker's.
    """
    from kafka import KafkaProducer  # type: ignore[attr-defined,unused-ignore]

    producer = KafkaProducer(
        bootstrap_servers=[b.strip() for b in brokers.split(",")],
        client_id="slotguard-produce",
        enable_idempotence=True,
        acks="all",
        linger_ms=5,
        batch_size=256 * 1024,
        max_request_size=4 * 1024 * 1024,
    )
    stats = ProduceStats()
    started = time.perf_counter()
    try:
        for raw in lines:
            line = raw.rstrip(b"\r\n")
            if not line.strip():
                stats.blank += 1
                continue
            key = event_key(line)
            if key is None:
                stats.unkeyed += 1
            ms = int(time.time() * 1000) if timestamp_now else None
            producer.send(topic, key=key, value=line, timestamp_ms=ms)
            stats.sent += 1
            if on_sent is not None:
                on_sent(len(raw))
            if rate > 0:
                ahead = stats.sent / rate - (time.perf_counter() - started)
                if ahead > 0.002:
                    time.sleep(ahead)
        producer.flush()
    finally:
        producer.close(timeout=30)
    stats.seconds = time.perf_counter() - started
    logger.info("sent %d events to %s in %.1f s", stats.sent, topic, stats.seconds)
    return stats
