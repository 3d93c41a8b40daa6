"""Read-only views of the DLQ topics: ``voicebus dlq ls`` and ``voicebus dlq show``.

Counts come from reading the records (a bounded scan from the floor to the end each fetch
reports), never from end offsets alone: ListOffsets answers low on some brokers, and records
below a purge floor must not be counted anyway.  DLQs are small by design (a DLQ that grows
without bound is an incident, and the scan time is what an SRE then wants to know about).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pipeline.config import Settings
from pipeline.dlq import floors, kafka_io
from pipeline.dlq.records import DlqFilter, DlqRecord, dlq_topic, format_time, target_of

log = logging.getLogger(__name__)

#: envelope fields shown for a decoded value (never payload fields: they may carry PII)
SUMMARY_FIELDS = ("event_type", "event_id", "call_id", "tenant_id", "occurred_at")


def dlq_topics(settings: Settings) -> dict[str, str]:
    """target -> DLQ topic for every ``sync.<target>.dlq`` topic present on the broker."""
    topics = kafka_io.topic_names(settings)
    return {t: topic for topic in topics if (t := target_of(topic)) is not None}


def iter_dlq(
    settings: Settings, target: str, record_filter: DlqFilter | None = None
) -> Iterator[DlqRecord]:
    """Records of ``sync.<target>.dlq`` above the purge floors, per partition in offset order,
    that match ``record_filter``."""
    topic = dlq_topic(target)
    partitions = kafka_io.partitions_of(settings, topic)
    starts = floors.start_offsets(settings, topic, partitions)
    consumer = kafka_io.reader_consumer(settings, "dlq-read")
    try:
        ranges = {p: kafka_io.ScanRange(start=starts[p]) for p in partitions}
        for message in kafka_io.scan(consumer, topic, ranges):
            record = DlqRecord.from_message(message)
            if record_filter is None or record_filter.matches(record):
                yield record
    finally:
        consumer.close()


@dataclass
class DlqSummary:
    target: str
    topic: str
    count: int = 0
    oldest: datetime | None = None
    newest: datetime | None = None
    by_class: Counter[str] = field(default_factory=Counter)

    def add(self, record: DlqRecord) -> None:
        self.count += 1
        self.by_class[record.error_class] += 1
        moment = record.failed_at
        if moment is not None:
            self.oldest = moment if self.oldest is None else min(self.oldest, moment)
            self.newest = moment if self.newest is None else max(self.newest, moment)

    def to_json(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "topic": self.topic,
            "count": self.count,
            "oldest": format_time(self.oldest) if self.oldest else None,
            "newest": format_time(self.newest) if self.newest else None,
            "by_error_class": dict(sorted(self.by_class.items())),
        }


def summarize(settings: Settings, targets: list[str] | None = None) -> list[DlqSummary]:
    """One summary per DLQ topic on the broker (or per requested target)."""
    present = dlq_topics(settings)
    wanted = sorted(present) if targets is None else [t for t in targets if t in present]
    summaries = []
    for target in wanted:
        summary = DlqSummary(target=target, topic=present[target])
        for record in iter_dlq(settings, target):
            summary.add(record)
        summaries.append(summary)
    return summaries


class ValueSummarizer:
    """Decodes DLQ values with the project's Avro codec for display; a value that does not
    decode (which is often why it is in the DLQ) is described, never raised."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._codec: Any = None
        self._codec_error: str | None = None
        self._registry_down: str | None = None

    def _offline(self, value: bytes) -> str:
        """Why a value is not decoded while the registry is unreachable (the wire header is
        still checked locally, so plainly broken values say so)."""
        try:
            from pipeline.serde import parse_wire_header

            schema_id = parse_wire_header(value)
        except Exception as exc:
            return _short(exc)
        return f"schema id {schema_id}: {self._registry_down}"

    def _get_codec(self) -> Any:
        if self._codec is None and self._codec_error is None:
            try:
                from pipeline.serde import AvroCodec

                self._codec = _make_codec(AvroCodec, self._settings)
            except Exception as exc:  # codec unavailable: describe, do not crash
                self._codec_error = f"no decoder ({type(exc).__name__}: {exc})"
        return self._codec

    def summary(self, value: bytes | None) -> dict[str, Any]:
        if value is None:
            return {"decoded": False, "reason": "null value (tombstone)"}
        codec = self._get_codec()
        if codec is None:
            return {"decoded": False, "bytes": len(value), "reason": self._codec_error}
        if self._registry_down is not None:
            return {"decoded": False, "bytes": len(value), "reason": self._offline(value)}
        try:
            decoded = codec.decode(value)
        except Exception as exc:  # DecodeError or anything the codec raises on bad bytes
            if getattr(exc, "reason", None) == "registry-unavailable":
                # do not wait for an unreachable registry once per record
                self._registry_down = _short(exc)
            return {"decoded": False, "bytes": len(value), "reason": _short(exc)}
        if not isinstance(decoded, dict):
            return {"decoded": True, "type": type(decoded).__name__}
        fields = {name: _jsonable(decoded[name]) for name in SUMMARY_FIELDS if name in decoded}
        return {"decoded": True, **fields}


def describe_summary(summary: dict[str, Any]) -> str:
    """One line for tables: ``event_type=... event_id=...`` or ``undecodable (N bytes): why``."""
    if not summary.get("decoded"):
        size = summary.get("bytes")
        prefix = f"undecodable ({size} bytes)" if size is not None else "no value"
        return f"{prefix}: {summary.get('reason')}"
    parts = [f"{k}={v}" for k, v in summary.items() if k not in ("decoded", "occurred_at")]
    return " ".join(parts) or "decoded"


def _make_codec(codec_cls: Any, settings: Settings) -> Any:
    # lookups only: a read-only tool must never register schema versions
    return codec_cls(settings, auto_register=False)


def _short(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return format_time(value)
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)
