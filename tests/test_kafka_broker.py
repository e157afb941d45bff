"""The development/test Kafka broker (scripts/kafka.sh) against a real client: keyed messages go
through an idempotent producer and a consumer group exactly once, survive a broker crash (SIGKILL)
and restart, and a stop leaves no process behind."""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.serializer import DefaultSerializer

from tests.kafka_broker import KafkaBroker

pytestmark = pytest.mark.integration

MESSAGES = 1000
PARTITIONS = 4
ACCOUNTS = 97  # keys: many messages per key, spread over every partition
CONSUME_DEADLINE_S = 60.0


@dataclass(frozen=True)
class Sent:
    """What the producer was told for each message: value -> (key, partition, offset)."""

    topic: str
    records: dict[str, tuple[str, int, int]]


@dataclass(frozen=True)
class Received:
    key: str
    value: str
    partition: int
    offset: int


def produce(broker: KafkaBroker, topic: str) -> Sent:
    producer = KafkaProducer(
        bootstrap_servers=broker.bootstrap,
        client_id="slotguard-broker-test",
        enable_idempotence=True,
        acks="all",
        linger_ms=5,
        key_serializer=DefaultSerializer(),
        value_serializer=DefaultSerializer(),
    )
    try:
        futures = []
        for i in range(MESSAGES):
            key, value = f"account-{i % ACCOUNTS}", f"booking-{i:04d}"
            futures.append((key, value, producer.send(topic, key=key, value=value)))
        producer.flush(timeout=30)
        records = {}
        for key, value, future in futures:
            meta = future.get(timeout=30)
            records[value] = (key, meta.partition, meta.offset)
    finally:
        producer.close(timeout=10)
    return Sent(topic, records)


def new_member(broker: KafkaBroker, topic: str, group: str) -> KafkaConsumer:
    """A consumer joining `group` on `topic`, subscribed only once its own metadata holds every
    partition of the topic: a member that joins first gets no partition from the range assignor
    ("No partition metadata"), and kafka-python may not rejoin for minutes."""
    consumer = KafkaConsumer(
        bootstrap_servers=broker.bootstrap,
        group_id=group,
        client_id=f"slotguard-broker-test-{group}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        key_deserializer=DefaultSerializer(),
        value_deserializer=DefaultSerializer(),
    )
    deadline = time.monotonic() + CONSUME_DEADLINE_S
    while len(consumer.partitions_for_topic(topic) or ()) < PARTITIONS:
        if time.monotonic() >= deadline:
            consumer.close(autocommit=False)
            raise AssertionError(f"the consumer never saw the {PARTITIONS} partitions of {topic}")
        time.sleep(0.2)
    consumer.subscribe([topic])
    return consumer


def consume(broker: KafkaBroker, topic: str, group: str, commit: bool) -> list[Received]:
    """Everything a new member of `group` reads from the start, polling on briefly past MESSAGES
    so that a duplicate would show; commits what it read when asked."""
    consumer = new_member(broker, topic, group)
    received: list[Received] = []
    try:
        deadline = time.monotonic() + CONSUME_DEADLINE_S
        quiet_until = None
        while time.monotonic() < deadline:
            batch = consumer.poll(timeout_ms=250)
            for records in batch.values():
                received.extend(Received(r.key, r.value, r.partition, r.offset) for r in records)
            if len(received) >= MESSAGES:
                quiet_until = quiet_until or time.monotonic() + 1.0
                if time.monotonic() >= quiet_until:
                    break
        if commit:
            consumer.commit()
    finally:
        consumer.close(autocommit=False)
    return received


def consume_quickly(broker: KafkaBroker, topic: str, group: str) -> list[Received]:
    """What a new member of `group` reads within 2 s of being assigned its partitions."""
    consumer = new_member(broker, topic, group)
    received: list[Received] = []
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not consumer.assignment():
            consumer.poll(timeout_ms=200)
        end = time.monotonic() + 2
        while time.monotonic() < end:
            for records in consumer.poll(timeout_ms=200).values():
                received.extend(Received(r.key, r.value, r.partition, r.offset) for r in records)
        assert consumer.assignment(), "the consumer was never assigned a partition"
    finally:
        consumer.close(autocommit=False)
    return received


def assert_exactly_once(sent: Sent, received: list[Received]) -> None:
    values = [r.value for r in received]
    assert len(received) == MESSAGES, f"read {len(received)} of {MESSAGES} messages"
    assert len(set(values)) == MESSAGES, "some message was read twice"
    assert set(values) == set(sent.records)
    partitions_of_key: dict[str, set[int]] = defaultdict(set)
    per_partition: dict[int, list[Received]] = defaultdict(list)
    for r in received:
        key, partition, offset = sent.records[r.value]
        assert (r.key, r.partition, r.offset) == (key, partition, offset), r
        partitions_of_key[r.key].add(r.partition)
        per_partition[r.partition].append(r)
    assert all(len(p) == 1 for p in partitions_of_key.values()), "a key was spread over partitions"
    assert len(per_partition) == PARTITIONS, "the keys should cover every partition"
    for records in per_partition.values():
        # within a partition the log order is the order of production: offsets and values ascend
        assert [r.offset for r in records] == list(range(len(records)))
        assert [r.value for r in records] == sorted(r.value for r in records)


@pytest.fixture(scope="module")
def loaded(kafka_broker: KafkaBroker) -> Sent:
    topic = "slotguard-broker-check"
    kafka_broker.create_topic(topic, PARTITIONS)
    return produce(kafka_broker, topic)


def test_broker_starts_quickly(kafka_broker: KafkaBroker, capsys: pytest.CaptureFixture[str]) -> None:
    assert kafka_broker.running()
    assert kafka_broker.bootstrap == f"127.0.0.1:{kafka_broker.port}"
    assert kafka_broker.last_start_s is not None
    with capsys.disabled():
        print(f"\nkafka broker at {kafka_broker.bootstrap} started in {kafka_broker.last_start_s:.1f}s")
    # single-digit seconds on a developer's machine; the bound leaves room for a loaded CI machine
    assert kafka_broker.last_start_s < 30


def test_keyed_messages_arrive_exactly_once(kafka_broker: KafkaBroker, loaded: Sent) -> None:
    assert_exactly_once(loaded, consume(kafka_broker, loaded.topic, "slotguard-check-once", commit=True))
    # the group's committed offsets are the ends of the partitions: a new member reads nothing more
    assert consume_quickly(kafka_broker, loaded.topic, "slotguard-check-once") == []


def test_crash_restart_keeps_committed_data(
    kafka_broker: KafkaBroker, loaded: Sent, capsys: pytest.CaptureFixture[str]
) -> None:
    group = "slotguard-check-crash"
    assert_exactly_once(loaded, consume(kafka_broker, loaded.topic, group, commit=True))
    pid = kafka_broker.pid()
    assert pid is not None
    kafka_broker.kill()
    assert kafka_broker.pid() is None
    assert not kafka_broker.running()
    seconds = kafka_broker.start()
    with capsys.disabled():
        print(f"\nkafka broker restarted after a crash in {seconds:.1f}s")
    assert kafka_broker.pid() not in (None, pid)
    # the acknowledged messages and the group's commits survived the crash
    assert_exactly_once(loaded, consume(kafka_broker, loaded.topic, "slotguard-check-after-crash", commit=False))
    checker = KafkaConsumer(bootstrap_servers=kafka_broker.bootstrap, group_id=group, enable_auto_commit=False)
    try:
        ends = checker.end_offsets([TopicPartition(loaded.topic, p) for p in range(PARTITIONS)])
        committed = {tp: checker.committed(tp) for tp in ends}
    finally:
        checker.close(autocommit=False)
    assert committed == ends
    assert sum(ends.values()) == MESSAGES


def test_stop_leaves_no_process(kafka_broker: KafkaBroker) -> None:
    pid = kafka_broker.pid()
    assert pid is not None
    kafka_broker.stop()
    assert kafka_broker.pid() is None
    assert not kafka_broker.running()
    stat = f"/proc/{pid}/stat"
    try:
        with open(stat) as f:
            state = f.read().rpartition(")")[2].split()[0]
    except FileNotFoundError:
        state = "gone"
    assert state in ("gone", "Z"), f"broker {pid} is still running after stop (state {state})"
    # leave the session broker as the other tests expect it: up, on the same data
    kafka_broker.start()
    assert kafka_broker.running()
