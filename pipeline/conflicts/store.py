"""Conflict records on ``sync.conflicts`` (key = conflict id, JSON value).

Each change of a conflict is a new record with the full state (``open`` when parked,
``resolved`` when a person chose the values); readers apply them in order and the last record
per conflict id wins.  The record holds the event's and the target's values of the fields in
conflict (the topic is as sensitive as a DLQ); logs only ever name the fields.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any, Literal

from confluent_kafka import Producer
from pydantic import BaseModel, Field

from pipeline.config import Settings
from pipeline.dlq import kafka_io
from pipeline.dlq.records import iso_now

CONFLICTS_TOPIC = "sync.conflicts"
_CONFLICTS_CONFIG = {"retention.ms": str(30 * 24 * 3600 * 1000)}  # as the topic catalogue
ConflictStatus = Literal["open", "resolved"]


class ConflictField(BaseModel):
    event: Any = None
    target: Any = None
    rule: str = "manual"
    auto: bool = False  # the rule resolved this field on its own
    suggested: Any = None  # the rule's value when ``auto``
    reason: str = ""


class ConflictRecord(BaseModel):
    conflict_id: str = Field(default_factory=lambda: uuid.uuid4().hex)
    target: str
    record_ref: str
    key: str
    event_id: str | None = None
    operation_kind: str = ""
    idempotency_key: str = ""
    fields: dict[str, ConflictField] = Field(default_factory=dict)
    event_occurred_at: str | None = None
    target_modified_at: str | None = None
    message: str = ""
    created_at: str = Field(default_factory=iso_now)
    status: ConflictStatus = "open"
    resolved_at: str | None = None
    resolved_by: str | None = None
    resolution: dict[str, Any] | None = None
    #: the event (JSON-safe, see ``resolve.jsonable``), so a resolution can be published as
    #: a record the sink decodes like any other
    event: dict[str, Any] | None = None

    def to_bytes(self) -> bytes:
        return json.dumps(self.model_dump(mode="json")).encode()


def ensure_conflicts_topic(settings: Settings) -> None:
    kafka_io.ensure_topic(settings, CONFLICTS_TOPIC, partitions=1, config=_CONFLICTS_CONFIG)


def publish_conflict(settings: Settings, record: ConflictRecord, prod: Producer) -> None:
    prod.produce(CONFLICTS_TOPIC, key=record.conflict_id.encode(), value=record.to_bytes())
    kafka_io.flush_or_fail(prod, settings, CONFLICTS_TOPIC)


class KafkaConflictPublisher:
    """Writes conflict records for ``RuleBasedConflictHandler`` (creates the topic on first
    use; the blocking produce/flush runs in a worker thread so the sink's loop keeps going)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._producer: Producer | None = None

    def _publish_sync(self, record: ConflictRecord) -> None:
        if self._producer is None:
            ensure_conflicts_topic(self.settings)
            self._producer = kafka_io.producer(self.settings)
        publish_conflict(self.settings, record, self._producer)

    async def publish(self, record: ConflictRecord) -> None:
        await asyncio.to_thread(self._publish_sync, record)

    def close(self) -> None:
        """Flush and drop the producer (its broker connection closes with it)."""
        if self._producer is not None:
            kafka_io.flush_or_fail(self._producer, self.settings, CONFLICTS_TOPIC)
            self._producer = None


def read_conflicts(settings: Settings) -> dict[str, ConflictRecord]:
    """conflict id -> latest state (records that do not parse are skipped)."""
    latest = kafka_io.read_latest_by_key(settings, CONFLICTS_TOPIC, purpose="conflicts")
    out: dict[str, ConflictRecord] = {}
    for key, raw in latest.items():
        if raw is None:
            continue
        try:
            out[key] = ConflictRecord.model_validate_json(raw)
        except ValueError:
            continue
    return out


def get_conflict(settings: Settings, conflict_id: str) -> ConflictRecord:
    conflicts = read_conflicts(settings)
    if conflict_id in conflicts:
        return conflicts[conflict_id]
    matches = [c for cid, c in conflicts.items() if cid.startswith(conflict_id)]
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise kafka_io.ToolError(f"conflict id prefix {conflict_id!r} is ambiguous; give more")
    raise kafka_io.ToolError(
        f"no conflict {conflict_id!r} in {CONFLICTS_TOPIC}; list them with `voicebus conflicts ls`"
    )
