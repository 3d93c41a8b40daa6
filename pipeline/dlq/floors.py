"""Committed "floors" per DLQ partition: the portable half of ``dlq purge``.

Purging a DLQ ideally deletes records (Kafka DeleteRecords).  Not every Kafka-protocol broker
supports that, so purge also records a floor offset per partition in the compacted topic
``_voicebus.dlq-floors`` (key ``<dlq topic>/<partition>``, JSON value).  ``ls``, ``show`` and
``replay`` start reading each partition at ``max(log start offset, floor)``, so records below
the floor are hidden everywhere, on any machine, whether or not the broker deleted them.
Floors only move forward.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from pipeline.config import Settings
from pipeline.dlq import kafka_io
from pipeline.dlq.records import iso_now

FLOORS_TOPIC = "_voicebus.dlq-floors"


@dataclass(frozen=True)
class Floor:
    topic: str
    partition: int
    offset: int
    before: str | None
    set_at: str

    @property
    def key(self) -> str:
        return f"{self.topic}/{self.partition}"

    def to_bytes(self) -> bytes:
        return json.dumps(
            {
                "topic": self.topic,
                "partition": self.partition,
                "floor": self.offset,
                "before": self.before,
                "set_at": self.set_at,
            }
        ).encode()


def read_floors(settings: Settings, topic: str) -> dict[int, int]:
    """partition -> floor offset for one DLQ topic (empty when nothing was purged)."""
    floors: dict[int, int] = {}
    latest = kafka_io.read_latest_by_key(settings, FLOORS_TOPIC, purpose="floors")
    for raw in latest.values():
        if raw is None:
            continue
        try:
            data = json.loads(raw)
        except ValueError:
            continue
        if data.get("topic") != topic:
            continue
        partition, offset = int(data["partition"]), int(data["floor"])
        floors[partition] = max(floors.get(partition, 0), offset)
    return floors


def write_floors(
    settings: Settings, topic: str, offsets: dict[int, int], *, before: str | None
) -> dict[int, int]:
    """Raise the floors of ``topic`` to ``offsets`` (never lowers one); returns the floors in
    force afterwards."""
    kafka_io.ensure_topic(settings, FLOORS_TOPIC, partitions=1, compacted=True)
    current = read_floors(settings, topic)
    producer = kafka_io.producer(settings)
    result = dict(current)
    now = iso_now()
    for partition, offset in sorted(offsets.items()):
        if offset <= current.get(partition, 0):
            continue
        floor = Floor(topic=topic, partition=partition, offset=offset, before=before, set_at=now)
        producer.produce(FLOORS_TOPIC, key=floor.key.encode(), value=floor.to_bytes())
        result[partition] = offset
    kafka_io.flush_or_fail(producer, settings, FLOORS_TOPIC)
    return result


def start_offsets(settings: Settings, topic: str, partitions: list[int]) -> dict[int, int]:
    """Where reading a DLQ partition begins: after deleted records and below-floor records."""
    floors = read_floors(settings, topic)
    consumer = kafka_io.reader_consumer(settings, "dlq-start")
    try:
        lows = kafka_io.low_watermarks(consumer, topic, partitions)
    finally:
        consumer.close()
    return {p: max(lows.get(p, 0), floors.get(p, 0)) for p in partitions}
