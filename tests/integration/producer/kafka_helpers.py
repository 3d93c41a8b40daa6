"""Small helpers for integration tests of the producer area: create topics, read them back."""

from __future__ import annotations

import time
import uuid

from confluent_kafka import Consumer, Message, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from pipeline.config import Settings


def create_topic(settings: Settings, name: str, partitions: int = 3) -> None:
    admin = AdminClient(settings.admin_conf())
    admin.create_topics([NewTopic(name, partitions, 1)])[name].result(10)


def read_all(
    settings: Settings, topic: str, expected: int, timeout_s: float = 20.0
) -> list[Message]:
    """Every record of ``topic`` from the beginning, waiting until ``expected`` arrived (or
    the timeout; then the caller's count assertion fails with what was read)."""
    consumer = Consumer(settings.consumer_conf(f"test-{uuid.uuid4().hex[:8]}"))
    try:
        metadata = consumer.list_topics(topic, timeout=10)
        partitions = sorted(metadata.topics[topic].partitions)
        consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
        records: list[Message] = []
        deadline = time.monotonic() + timeout_s
        while len(records) < expected and time.monotonic() < deadline:
            msg = consumer.poll(0.2)
            if msg is None or msg.error() is not None:
                continue
            records.append(msg)
        # anything beyond the expected count would show up in a short extra poll
        extra_deadline = time.monotonic() + 0.5
        while time.monotonic() < extra_deadline:
            msg = consumer.poll(0.1)
            if msg is not None and msg.error() is None:
                records.append(msg)
        return records
    finally:
        consumer.close()


def high_watermarks(settings: Settings, topic: str) -> list[int]:
    consumer = Consumer(settings.consumer_conf(f"wm-{uuid.uuid4().hex[:8]}"))
    try:
        metadata = consumer.list_topics(topic, timeout=10)
        return [
            consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
            for p in sorted(metadata.topics[topic].partitions)
        ]
    finally:
        consumer.close()
