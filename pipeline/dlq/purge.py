"""``voicebus dlq purge``: drop DLQ records that failed before a point in time.

Two mechanisms, reported to the user:

- ``delete_records``: Kafka DeleteRecords moves each partition's log start offset, so the
  records are gone for every reader.  Standard, but not every Kafka-protocol broker supports
  it (the embedded broker fails the request).
- ``floor``: a committed floor offset per partition in ``_voicebus.dlq-floors`` (see
  ``pipeline.dlq.floors``); ``ls``/``show``/``replay`` never read below it.  Works on every
  broker; the bytes stay until retention removes them.

``method="auto"`` tries DeleteRecords and falls back to the floor on any refusal.

The cut per partition is the first record whose failure time is at or after ``before`` (DLQ
records are appended in failure order); everything below it is purged, nothing above it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from confluent_kafka import KafkaException, TopicPartition

from pipeline.config import Settings
from pipeline.dlq import floors, kafka_io
from pipeline.dlq.records import DlqRecord, dlq_topic, format_time


class PurgeMethod(StrEnum):
    AUTO = "auto"
    DELETE_RECORDS = "delete-records"
    FLOOR = "floor"


@dataclass
class PurgePlan:
    topic: str
    before: datetime
    cut_offsets: dict[int, int] = field(default_factory=dict)  # purge offsets below these
    start_offsets: dict[int, int] = field(default_factory=dict)  # currently visible from
    records: int = 0  # visible records that the purge removes

    @property
    def empty(self) -> bool:
        return self.records == 0


@dataclass
class PurgeResult:
    plan: PurgePlan
    mechanism: str  # "delete_records" | "floor" | "nothing to purge"
    refusal: str | None = None  # why DeleteRecords was not used, when it was tried


def plan_purge(settings: Settings, target: str, before: datetime) -> PurgePlan:
    topic = dlq_topic(target)
    partitions = kafka_io.partitions_of(settings, topic)
    starts = floors.start_offsets(settings, topic, partitions)
    plan = PurgePlan(topic=topic, before=before, start_offsets=starts)
    consumer = kafka_io.reader_consumer(settings, "dlq-purge")
    try:
        for partition in partitions:
            cut = starts[partition]
            ranges = {partition: kafka_io.ScanRange(start=starts[partition])}
            for message in kafka_io.scan(consumer, topic, ranges):
                record = DlqRecord.from_message(message)
                moment = record.failed_at
                if moment is None or moment >= before:
                    break
                cut = record.offset + 1
                plan.records += 1
            plan.cut_offsets[partition] = cut
    finally:
        consumer.close()
    return plan


def delete_records(settings: Settings, topic: str, offsets: dict[int, int]) -> None:
    """Kafka DeleteRecords; raises ``ToolError`` with the broker's answer when refused."""
    refusal = _try_delete_records(settings, topic, offsets)
    if refusal is not None:
        raise kafka_io.ToolError(
            f"broker {settings.bootstrap_servers} refused DeleteRecords on {topic!r}: {refusal}"
        )


def _try_delete_records(settings: Settings, topic: str, offsets: dict[int, int]) -> str | None:
    """None when the broker deleted, else its reason.  Returns instead of raising so no
    traceback keeps the admin client (and its broker connection) alive."""
    admin = kafka_io.admin_client(settings)
    partitions = [TopicPartition(topic, p, o) for p, o in sorted(offsets.items())]
    timeout = settings.request_timeout_s
    try:
        futures = admin.delete_records(
            partitions, request_timeout=timeout, operation_timeout=timeout
        )
        results = futures.values() if isinstance(futures, dict) else [futures]
        for future in results:
            future.result(timeout=timeout + 5)
    except KafkaException as exc:
        error = exc.args[0]
        return str(error.str() if hasattr(error, "str") else error)
    except Exception as exc:  # timeouts, unsupported API versions, ...
        return f"{type(exc).__name__}: {exc}"
    return None


def purge(
    settings: Settings, target: str, plan: PurgePlan, method: PurgeMethod = PurgeMethod.AUTO
) -> PurgeResult:
    """Apply ``plan``.  With ``DELETE_RECORDS`` a refusal raises ``ToolError`` (nothing is
    purged); with ``AUTO`` it falls back to the floor and says why."""
    if plan.empty:
        return PurgeResult(plan=plan, mechanism="nothing to purge")
    offsets = {p: cut for p, cut in plan.cut_offsets.items() if cut > plan.start_offsets.get(p, 0)}
    refusal: str | None = None
    if method in (PurgeMethod.AUTO, PurgeMethod.DELETE_RECORDS):
        try:
            delete_records(settings, plan.topic, offsets)
            return PurgeResult(plan=plan, mechanism="delete_records")
        except kafka_io.ToolError as exc:
            if method is PurgeMethod.DELETE_RECORDS:
                raise kafka_io.ToolError(
                    f"{exc}. Nothing was purged. Use `--method floor` (or the default "
                    "`--method auto`) to hide these records with a committed floor instead."
                ) from exc
            refusal = str(exc)
    floors.write_floors(settings, plan.topic, offsets, before=format_time(plan.before))
    return PurgeResult(plan=plan, mechanism="floor", refusal=refusal)
