"""What a dead-lettered record looks like to the SRE tools, and how to filter them.

The sink runtime writes ``sync.<target>.dlq`` records with the original key, value bytes and
headers plus the ``vb-*`` error headers of ``pipeline.headers``.  This module parses those
headers once (tolerating records written by older runtimes that miss some of them) so ``ls``,
``show``, ``replay`` and ``purge`` agree on what "error class" and "failure time" mean.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from confluent_kafka import TIMESTAMP_NOT_AVAILABLE, Message

from pipeline import headers as h
from pipeline.dlq.kafka_io import header_map, key_str, offset_of, partition_of, raw_headers

DLQ_TOPIC_RE = re.compile(r"^sync\.(?P<target>.+)\.dlq$")
UNKNOWN_CLASS = "unknown"


def dlq_topic(target: str) -> str:
    return f"sync.{target}.dlq"


def sync_topic(target: str) -> str:
    return f"sync.{target}"


def target_of(topic: str) -> str | None:
    match = DLQ_TOPIC_RE.match(topic)
    return match.group("target") if match else None


_RELATIVE_RE = re.compile(r"^(?P<n>\d+(?:\.\d+)?)\s*(?P<unit>ms|s|m|h|d|w)$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_time(text: str, *, now: datetime | None = None) -> datetime:
    """A point in time from the command line: ISO 8601 (naive = UTC, ``Z`` allowed), epoch
    milliseconds, or a duration ago (``90s``, ``15m``, ``2h``, ``7d``, ``1w``)."""
    raw = text.strip()
    now = now or datetime.now(UTC)
    relative = _RELATIVE_RE.match(raw)
    if relative:
        seconds = float(relative.group("n")) * _UNIT_SECONDS[relative.group("unit")]
        return now - timedelta(seconds=seconds)
    if raw.isdigit() and len(raw) >= 11:
        return datetime.fromtimestamp(int(raw) / 1000, tz=UTC)
    try:
        parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValueError(
            f"cannot read time {text!r}: use ISO 8601 (2026-11-24T21:00:00Z), epoch "
            "milliseconds, or a duration ago such as 15m, 2h, 7d"
        ) from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def format_time(moment: datetime | None) -> str:
    if moment is None:
        return "-"
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def iso_now() -> str:
    return format_time(datetime.now(UTC))


def _parse_header_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return parse_time(value)
    except ValueError:
        return None


def _parse_int(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        return None


@dataclass(frozen=True)
class DlqRecord:
    """One record of a DLQ topic with its error headers parsed."""

    topic: str
    partition: int
    offset: int
    key: str | None
    key_bytes: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes | None], ...]
    header_values: dict[str, str] = field(default_factory=dict)
    broker_time: datetime | None = None

    @classmethod
    def from_message(cls, message: Message) -> DlqRecord:
        ts_type, ts_ms = message.timestamp()
        broker_time = (
            datetime.fromtimestamp(ts_ms / 1000, tz=UTC)
            if ts_type != TIMESTAMP_NOT_AVAILABLE and ts_ms >= 0
            else None
        )
        raw_key = message.key()
        return cls(
            topic=message.topic() or "",
            partition=partition_of(message),
            offset=offset_of(message),
            key=key_str(message),
            key_bytes=raw_key if isinstance(raw_key, bytes) else None,
            value=message.value(),
            headers=tuple(raw_headers(message)),
            header_values=header_map(message),
            broker_time=broker_time,
        )

    @property
    def error_class(self) -> str:
        return self.header_values.get(h.ERROR_CLASS) or UNKNOWN_CLASS

    @property
    def error_message(self) -> str:
        return self.header_values.get(h.ERROR_MESSAGE, "")

    @property
    def attempts(self) -> int | None:
        return _parse_int(self.header_values.get(h.ATTEMPTS))

    @property
    def first_failure_at(self) -> datetime | None:
        return _parse_header_time(self.header_values.get(h.FIRST_FAILURE_AT))

    @property
    def last_failure_at(self) -> datetime | None:
        return _parse_header_time(self.header_values.get(h.LAST_FAILURE_AT))

    @property
    def failed_at(self) -> datetime | None:
        """When the record was dead-lettered: the last-failure header, else the broker
        timestamp (records from runtimes that did not set the header)."""
        return self.last_failure_at or self.broker_time

    @property
    def source(self) -> str:
        topic = self.header_values.get(h.SOURCE_TOPIC)
        if not topic:
            return "-"
        return (
            f"{topic}[{self.header_values.get(h.SOURCE_PARTITION, '?')}]"
            f"@{self.header_values.get(h.SOURCE_OFFSET, '?')}"
        )


@dataclass(frozen=True)
class DlqFilter:
    """Which DLQ records a command applies to.  Times compare against ``failed_at``;
    ``since`` is inclusive, ``until`` exclusive."""

    error_class: str | None = None
    key: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def matches(self, record: DlqRecord) -> bool:
        if self.error_class is not None and record.error_class != self.error_class:
            return False
        if self.key is not None and record.key != self.key:
            return False
        if self.since is not None or self.until is not None:
            moment = record.failed_at
            if moment is None:
                return False
            if self.since is not None and moment < self.since:
                return False
            if self.until is not None and moment >= self.until:
                return False
        return True

    def to_json(self) -> dict[str, str | None]:
        return {
            "error_class": self.error_class,
            "key": self.key,
            "since": format_time(self.since) if self.since else None,
            "until": format_time(self.until) if self.until else None,
        }

    @classmethod
    def from_json(cls, data: dict[str, str | None]) -> DlqFilter:
        since, until = data.get("since"), data.get("until")
        return cls(
            error_class=data.get("error_class"),
            key=data.get("key"),
            since=parse_time(since) if since else None,
            until=parse_time(until) if until else None,
        )
