"""Consumer lag per group and partition (``voicebus lag``), with the standard APIs only:
ListGroups, OffsetFetch (``list_consumer_group_offsets``) and ListOffsets (watermarks).

Lag = high watermark - committed offset.  A partition without a committed offset counts from
its log start (the group would start there with ``auto.offset.reset=earliest``).  On a broker
whose ListOffsets answers low (the embedded one, when producers batch) lag reads low too; the
dev profile sends one record per batch so the numbers are exact there.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from confluent_kafka import ConsumerGroupTopicPartitions, KafkaException, TopicPartition

from pipeline.config import Settings
from pipeline.dlq import kafka_io

SINK_GROUP_PREFIX = "voicebus-sink-"
PROCESSORS_GROUP = "voicebus-processors"


@dataclass(frozen=True)
class PartitionLag:
    group: str
    topic: str
    partition: int
    committed: int | None  # None: the group has no committed offset here
    low: int
    high: int

    @property
    def lag(self) -> int:
        position = self.committed if self.committed is not None else self.low
        return max(0, self.high - position)

    def to_json(self) -> dict[str, object]:
        return {
            "group": self.group,
            "topic": self.topic,
            "partition": self.partition,
            "committed": self.committed,
            "high_watermark": self.high,
            "lag": self.lag,
        }


def is_default_group(group_id: str) -> bool:
    return group_id.startswith(SINK_GROUP_PREFIX) or group_id == PROCESSORS_GROUP


def list_groups(settings: Settings) -> list[str]:
    admin = kafka_io.admin_client(settings)
    try:
        result = admin.list_consumer_groups(request_timeout=settings.request_timeout_s).result(
            timeout=settings.request_timeout_s + 5
        )
    except KafkaException as exc:
        raise kafka_io.ToolError(
            f"cannot list consumer groups on {settings.bootstrap_servers}: "
            f"{kafka_io.reason(exc)}; is the broker up (VOICEBUS_BOOTSTRAP_SERVERS)?"
        ) from exc
    if result.errors and not result.valid:
        raise kafka_io.ToolError(
            f"cannot list consumer groups on {settings.bootstrap_servers}: "
            f"{kafka_io.reason(result.errors[0])}; is the broker up (VOICEBUS_BOOTSTRAP_SERVERS)?"
        )
    return sorted(listing.group_id for listing in result.valid)


def committed_offsets(settings: Settings, group: str) -> list[TopicPartition]:
    admin = kafka_io.admin_client(settings)
    try:
        futures = admin.list_consumer_group_offsets(
            [ConsumerGroupTopicPartitions(group)], request_timeout=settings.request_timeout_s
        )
        answer = futures[group].result(timeout=settings.request_timeout_s + 5)
    except KafkaException as exc:
        raise kafka_io.ToolError(
            f"cannot read committed offsets of group {group!r}: {kafka_io.reason(exc)}"
        ) from exc
    return list(answer.topic_partitions or [])


def collect_lag(settings: Settings, groups: Iterable[str] | None = None) -> list[PartitionLag]:
    """Lag of each partition the given groups (default: the voicebus sink and processor
    groups present on the broker) have committed offsets for."""
    wanted = (
        sorted(set(groups)) if groups else [g for g in list_groups(settings) if is_default_group(g)]
    )
    consumer = kafka_io.reader_consumer(settings, "lag")
    rows: list[PartitionLag] = []
    try:
        for group in wanted:
            for tp in committed_offsets(settings, group):
                if tp.error is not None:
                    continue
                try:
                    low, high = consumer.get_watermark_offsets(
                        TopicPartition(tp.topic, tp.partition), timeout=settings.request_timeout_s
                    )
                except KafkaException as exc:
                    raise kafka_io.ToolError(
                        f"cannot read the watermarks of {tp.topic}[{tp.partition}]: "
                        f"{kafka_io.reason(exc)}"
                    ) from exc
                rows.append(
                    PartitionLag(
                        group=group,
                        topic=tp.topic,
                        partition=tp.partition,
                        committed=tp.offset if tp.offset >= 0 else None,
                        low=max(low, 0),
                        high=max(high, 0),
                    )
                )
    finally:
        consumer.close()
    return sorted(rows, key=lambda r: (r.group, r.topic, r.partition))
