"""Steps the embedded stack and the demo run against the broker and registry: apply the topic
catalogue, register the schemas, count records by reading them and read a group's committed
offsets.

Counting reads the records instead of trusting end offsets: the embedded broker (Tansu)
answers ListOffsets LATEST with "base offset of the last batch + 1", so a batch of 100 records
looks like one (BROKER.md).  Reading is exact on every broker.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition
from confluent_kafka.admin import AdminClient

from pipeline.config import Settings


def apply_catalogue(settings: Settings) -> int:
    """Create every catalogue topic with its final partition count (existing topics are
    reconciled, not recreated); returns the number of catalogue topics.  Raises when the
    broker refused a topic, naming each one and why."""
    from pipeline.topics import apply_topics, catalogue

    specs = catalogue()
    problems = [c for c in apply_topics(settings, specs) if c.action == "error"]
    if problems:
        raise RuntimeError(
            "topics not applied: " + "; ".join(f"{c.topic}: {c.detail}" for c in problems)
        )
    return len(specs)


def register_schemas(settings: Settings) -> int:
    """Register every schema of ``schemas/subjects.yaml`` under its subject (a no-op for an
    identical schema); returns the number of subjects."""
    from pipeline.schema_catalog import load_schema, subjects
    from pipeline.serde import AvroCodec

    codec = AvroCodec(settings)
    catalogue = subjects()
    for path, subject in catalogue.items():
        codec.schema_id(subject, load_schema(path))
    return len(catalogue)


_ADMINS: dict[str, AdminClient] = {}


def admin_for(settings: Settings) -> AdminClient:
    """One admin client per cluster for the stack's frequent polls (creating one per poll
    costs a connection and floods the terminal with librdkafka notices)."""
    key = settings.bootstrap_servers
    if key not in _ADMINS:
        # errors surface as exceptions of the calls; librdkafka's own log would only repeat
        # "connection refused" on stderr while the stack shuts down
        _ADMINS[key] = AdminClient({**settings.admin_conf(), "log_level": 0})
    return _ADMINS[key]


def forget_admin(bootstrap_servers: str) -> None:
    """Drop the cached client of a cluster that is going away."""
    _ADMINS.pop(bootstrap_servers, None)


def committed_total(settings: Settings, group: str, topic: str | None = None) -> int:
    """Sum of the committed offsets of ``group`` (optionally on one topic): how many records
    the group has finished, as offsets start at 0 on every partition."""
    from confluent_kafka import ConsumerGroupTopicPartitions

    futures = admin_for(settings).list_consumer_group_offsets(
        [ConsumerGroupTopicPartitions(group)], request_timeout=settings.request_timeout_s
    )
    result = futures[group].result(timeout=settings.request_timeout_s)
    return sum(
        tp.offset
        for tp in result.topic_partitions or []
        if tp.offset >= 0 and (topic is None or tp.topic == topic)
    )


@dataclass
class RecordCounter:
    """Reads topics from the beginning and keeps counting as records arrive (no consumer
    group commits).  ``keep`` topics also keep their raw values for later inspection; for
    dead-letter topics (``*.dlq``) the error class and message headers are kept."""

    settings: Settings
    topics: list[str]
    keep: set[str] = field(default_factory=set)
    counts: dict[str, int] = field(init=False)
    values: dict[str, list[bytes | None]] = field(init=False)
    dead_letters: dict[str, list[tuple[str, str]]] = field(init=False)

    def __post_init__(self) -> None:
        self.counts = dict.fromkeys(self.topics, 0)
        self.values = {t: [] for t in self.keep}
        self.dead_letters = {}
        conf = self.settings.consumer_conf(
            f"voicebus-counter-{uuid.uuid4().hex[:8]}",
            **{"enable.partition.eof": False, "isolation.level": "read_uncommitted"},
        )
        self._consumer = Consumer(conf)
        metadata = self._consumer.list_topics(timeout=self.settings.request_timeout_s)
        assignment = [
            TopicPartition(topic, partition, OFFSET_BEGINNING)
            for topic in self.topics
            if topic in metadata.topics
            for partition in sorted(metadata.topics[topic].partitions)
        ]
        self._consumer.assign(assignment)

    def drain(self, idle_s: float = 0.6, max_s: float = 30.0) -> dict[str, int]:
        """Read until nothing new arrived for ``idle_s`` (or ``max_s`` passed)."""
        deadline = time.monotonic() + max_s
        quiet_since = time.monotonic()
        while time.monotonic() < deadline:
            batch = self._consumer.consume(num_messages=500, timeout=0.1)
            got = False
            for msg in batch:
                error = msg.error()
                if error is not None:
                    if error.code() != KafkaError._PARTITION_EOF:
                        raise RuntimeError(f"reading {msg.topic()}: {error}")
                    continue
                topic = str(msg.topic())
                self.counts[topic] = self.counts.get(topic, 0) + 1
                if topic in self.keep:
                    self.values[topic].append(msg.value())
                if topic.endswith(".dlq"):
                    self.dead_letters.setdefault(topic, []).append(_error_of(msg.headers()))
                got = True
            if got:
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since >= idle_s:
                break
        return dict(self.counts)

    def close(self) -> None:
        self._consumer.close()


def _error_of(headers: Any) -> tuple[str, str]:
    """(error class, message) from a dead letter's vb-* headers (no payload, no secrets)."""
    from pipeline import headers as h

    pairs = headers.items() if isinstance(headers, dict) else headers or []
    found = {
        str(k): v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)
        for k, v in pairs
        if v is not None
    }
    return found.get(h.ERROR_CLASS, "?"), found.get(h.ERROR_MESSAGE, "")


def count_records(settings: Settings, topics: Iterable[str], idle_s: float = 0.6) -> dict[str, int]:
    """Records currently on each topic, counted by reading them."""
    counter = RecordCounter(settings, list(topics))
    try:
        return counter.drain(idle_s=idle_s)
    finally:
        counter.close()
