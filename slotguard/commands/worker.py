"""``slotguard worker``: the streaming detector, a Faust worker on Kafka."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

from slotguard.config import Settings

logger = logging.getLogger(__name__)

DESCRIPTION = """\
Consumes booking events from Kafka (topic booking-events, keyed by account), runs the same
feature core and model as `slotguard detect` over its partitions of the stream, and publishes
new flags to slotguard-flags; invalid messages go to booking-events-dead-letter with the reason.
Start as many workers as the load needs with the same --app-id: Kafka splits the partitions
between them, and moves a stopped worker's partitions to the others. For the same events the
verdicts equal `slotguard detect`'s, whatever the number of workers, across crashes and restarts:
state is written once per batch (RocksDB locally, a changelog topic in Kafka) with each
partition's progress, and offsets commit only after it.

With --store, a history sink runs beside the worker: it reads the events, the dead letters and
what each tick scored (snapshots, changed verdicts, flags: topic APP_ID-history) in its own
consumer group and writes them to the history store (a ClickHouse server in production),
committing its offsets only once they are written: while the store is away it retries and
holds back, and nothing is lost, across restarts too.

examples:
  slotguard stack up
  slotguard worker --store clickhouse://default:@127.0.0.1:19000/slotguard
  slotguard worker --brokers 10.0.0.5:9092 --partitions 12 --state-dir /var/lib/slotguard/w1
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--brokers", help="Kafka bootstrap servers [$SLOTGUARD_BROKERS or 127.0.0.1:9092]")
    parser.add_argument("--store", help="history store: clickhouse://... or chdb:PATH [$SLOTGUARD_STORE]")
    parser.add_argument("--app-id", default="slotguard", help="consumer group and prefix of internal topics")
    parser.add_argument("--partitions", type=int, default=4, help="partitions of every topic of the dataflow")
    parser.add_argument("--state", choices=("rocksdb", "memory"), default="rocksdb", help="where table state lives")
    parser.add_argument("--state-dir", help="local state directory [DATA_DIR/worker/APP_ID]")
    parser.add_argument("--events-topic", default="booking-events", help="input topic")
    parser.add_argument("--status-file", help="rewrite this JSON file every second with each partition's progress")
    parser.add_argument("--metrics-port", type=int, help="serve Prometheus metrics on 127.0.0.1:PORT/metrics")
    parser.add_argument(
        "--verdicts-out", help="on shutdown, write the verdicts of the partitions held (JSON Lines, contract format)"
    )


def run(args: argparse.Namespace, settings: Settings) -> int:
    from models.artifact import ModelError, load
    from streaming.app import WorkerConfig, build_app
    from streaming.topics import TopicError, ensure_topics

    try:
        model = load(settings.model)
    except ModelError as exc:
        print(f"slotguard worker: {exc}", file=sys.stderr)
        return 2
    state_dir = Path(args.state_dir) if args.state_dir else settings.data_dir / "worker" / args.app_id
    config = WorkerConfig(
        brokers=settings.brokers,
        app_id=args.app_id,
        events_topic=args.events_topic,
        partitions=args.partitions,
        store=f"{args.state}://",
        data_dir=state_dir,
        status_file=Path(args.status_file) if args.status_file else None,
        history=bool(settings.store),
    )
    try:
        topics = {
            name: config.partitions
            for name in (config.events_topic, config.exchange_topic, config.flags_topic, config.dead_letter_topic)
            + ((config.history_topic,) if config.history else ())
        }
        ensure_topics(config.brokers, topics)
    except TopicError as exc:
        print(f"slotguard worker: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # kafka-python raises several kinds when no broker answers
        print(f"slotguard worker: cannot reach Kafka at {config.brokers}: {exc}", file=sys.stderr)
        return 2
    sink: Any = None
    sink_writer: Any = None
    if settings.store:
        from ingest.pseudonym import Pseudonymizer
        from storage import StoreError, open_store
        from streaming.sink import HistorySink

        try:
            store = open_store(settings.store_url, pseudonym_key=settings.pseudonym_key)
            store.register_model(model.metadata)
            sink_writer = store.writer(pseudonymizer=Pseudonymizer(settings.pseudonym_key))
        except StoreError as exc:
            print(f"slotguard worker: {exc}", file=sys.stderr)
            return 2
    metrics: Any = None
    server: Any = None
    if args.metrics_port is not None:
        from alerts.metrics import Metrics

        metrics = Metrics()
        try:
            server = metrics.serve(args.metrics_port)
        except OSError as exc:
            print(f"slotguard worker: cannot serve metrics on port {args.metrics_port}: {exc}", file=sys.stderr)
            return 2
    if sink_writer is not None:
        sink = HistorySink(
            config.brokers,
            f"{config.app_id}-history-sink",
            config.events_topic,
            config.history_topic,
            config.dead_letter_topic,
            sink_writer,
            metrics=metrics,
        )
    app, shell = build_app(config, model, settings.engine, settings.pseudonym_key, metrics)
    if sink is not None:
        shell.sink = sink
        sink.start()
    import faust

    level = logging.getLevelName(logging.getLogger().getEffectiveLevel()).lower()
    worker = faust.Worker(app, loglevel=level if level in ("debug", "info", "warning", "error") else "warning")
    if args.verdicts_out:
        out = Path(args.verdicts_out)

        @app.on_before_shutdown.connect
        def write_verdicts(sender: Any, /, *rest: Any, signal: Any, **kwargs: Any) -> None:
            import json

            held = {tp.partition for tp in app.assignor.assigned_actives() if tp.topic == config.events_topic}
            verdicts = shell.verdicts(sorted(held | set(shell.runtimes)))
            out.write_text("".join(json.dumps(v.contract_dict()) + "\n" for v in verdicts))
            logger.info("wrote %d verdicts to %s", len(verdicts), out)

    from slotguard.runner import tune_garbage_collector

    tune_garbage_collector()  # the state caches are large and acyclic, as in detect
    try:
        worker.execute_from_commandline()
    finally:
        if sink is not None:
            sink.stop()
            report = sink.writer.close()
            logger.info("history: %s", report.summary())
        logger.info("worker stats: %s", shell.stats)
        if server is not None:
            server.shutdown()
    return 0
