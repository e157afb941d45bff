"""Creating the worker's topics with the partition count the dataflow needs (kafka-python admin)."""

from __future__ import annotations

import logging
import socket
from collections.abc import Mapping

logger = logging.getLogger(__name__)


class TopicError(RuntimeError):
    """A topic exists with another partition count than the one asked for."""


def reachable(brokers: str, timeout_s: float = 3.0) -> bool:
    """True when at least one bootstrap server accepts a TCP connection (a quick answer for the CLI)."""
    for server in brokers.split(","):
        host, _, port = server.strip().rpartition(":")
        try:
            with socket.create_connection((host or "127.0.0.1", int(port)), timeout=timeout_s):
                return True
        except (OSError, ValueError):
            continue
    return False


def ensure_topics(brokers: str, partitions: Mapping[str, int]) -> None:
    """Create each topic with its partition count (replication 1) unless it exists with that count."""
    from kafka.admin import KafkaAdminClient
    from kafka.errors import TopicAlreadyExistsError

    if not reachable(brokers):
        raise ConnectionError("no bootstrap server accepts connections")

    admin = KafkaAdminClient(
        bootstrap_servers=[b.strip() for b in brokers.split(",")], client_id="slotguard-admin", request_timeout_ms=15000
    )
    try:
        existing = {t["topic"]: len(t["partitions"]) for t in admin.describe_topics() if t.get("topic") in partitions}
        wrong = {name: n for name, n in existing.items() if n != partitions[name]}
        if wrong:
            raise TopicError(
                ", ".join(f"{name} has {n} partitions, not {partitions[name]}" for name, n in wrong.items())
                + ": every topic of the dataflow needs the same count (delete them or pass --partitions)"
            )
        missing = {
            name: {"num_partitions": n, "replication_factor": 1, "configs": {}}
            for name, n in partitions.items()
            if name not in existing
        }
        if missing:
            try:
                admin.create_topics(missing, wait_for_metadata=True)
            except TopicAlreadyExistsError:
                admin.wait_for_topics(list(missing))
            logger.info("created topics %s", ", ".join(sorted(missing)))
    finally:
        admin.close()
