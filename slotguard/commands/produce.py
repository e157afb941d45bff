"""``slotguard produce``: publish a file of booking events to Kafka."""

from __future__ import annotations

import argparse
import sys

from slotguard.config import Settings
from slotguard.output import add_format_flag, key_values

DESCRIPTION = """\
Sends each line of an events file (contract v1, JSON Lines; '-' for stdin) to the input topic as
it is, keyed by account_id (slot_id for slot_released), with kafka-python's idempotent producer
(acks=all: retries never duplicate). Lines are not validated here: the worker dead-letters what
fails the contract, with the reason. The topic is created first (--partitions) if missing.

examples:
  slotguard produce var/world/events.jsonl
  slotguard produce var/world/events.jsonl --rate 2000 --brokers 127.0.0.1:9092
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("events", help="events file (JSON Lines), or - for stdin")
    parser.add_argument("--brokers", help="Kafka bootstrap servers [$SLOTGUARD_BROKERS or 127.0.0.1:9092]")
    parser.add_argument("--topic", default="booking-events", help="input topic")
    parser.add_argument("--rate", type=float, default=0.0, help="events per second (0: as fast as possible)")
    parser.add_argument("--partitions", type=int, default=4, help="partitions of the topics, when created here")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar even on a terminal")
    add_format_flag(parser)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from ingest.producer import produce
    from ingest.reader import open_source
    from streaming.topics import TopicError, ensure_topics

    try:
        stream, size = open_source(args.events)
    except FileNotFoundError as exc:
        print(f"slotguard produce: {exc}", file=sys.stderr)
        return 2
    try:
        ensure_topics(settings.brokers, {args.topic: args.partitions})
    except TopicError as exc:
        print(f"slotguard produce: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # kafka-python raises several kinds when no broker answers
        print(f"slotguard produce: cannot reach Kafka at {settings.brokers}: {exc}", file=sys.stderr)
        return 2
    bar = None
    if not args.no_progress and sys.stderr.isatty():
        from tqdm import tqdm

        bar = tqdm(total=size, unit="B", unit_scale=True, desc="produce", file=sys.stderr)
    try:
        stats = produce(stream, args.topic, settings.brokers, args.rate, bar.update if bar is not None else None)
    finally:
        if bar is not None:
            bar.close()
        if stream is not sys.stdin.buffer:
            stream.close()
    summary = {
        "sent": stats.sent,
        "without_key": stats.unkeyed,
        "blank_lines": stats.blank,
        "seconds": round(stats.seconds, 2),
        "events_per_s": round(stats.rate),
        "topic": args.topic,
        "brokers": settings.brokers,
    }
    if args.format == "json":
        import json

        print(json.dumps(summary))
    else:
        key_values(summary.items(), title="produced")
    return 0
