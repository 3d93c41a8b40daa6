"""Small shared pieces of the sink runtime: topic names, record identity, the outcome shape.

A record's *id* is ``topic:partition:offset`` of its first appearance on ``sync.<target>``;
the retry topic and the DLQ carry it in the ``vb-source-*`` headers, so a record keeps its
id through every retry round (and the barrier book can recognise it).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from confluent_kafka import Message

from connectors.base.connector import SyncRecord
from pipeline import headers as H

FINISHED = {"DELIVERED", "DUPLICATE", "CONFLICT_PARKED"}


class OutcomeLike(Protocol):
    """The parts of ``pipeline.sinks.delivery.DeliveryOutcome`` the runtime reads."""

    @property
    def kind(self) -> Any: ...
    @property
    def error_class(self) -> str | None: ...
    @property
    def message(self) -> str | None: ...
    @property
    def attempts(self) -> int: ...
    @property
    def first_failure_at(self) -> datetime | None: ...
    @property
    def last_failure_at(self) -> datetime | None: ...


DeliverFn = Callable[[SyncRecord, int], Awaitable[OutcomeLike]]
DecodeFn = Callable[[bytes | None], Any]


def kind_name(outcome: OutcomeLike) -> str:
    kind = outcome.kind
    return str(getattr(kind, "name", kind)).upper()


def record_id(msg: Message, hdrs: Mapping[str, str]) -> str:
    """``topic:partition:offset`` of the record's first appearance on ``sync.<target>``."""
    if H.SOURCE_TOPIC in hdrs and H.SOURCE_PARTITION in hdrs and H.SOURCE_OFFSET in hdrs:
        return f"{hdrs[H.SOURCE_TOPIC]}:{hdrs[H.SOURCE_PARTITION]}:{hdrs[H.SOURCE_OFFSET]}"
    return f"{msg.topic()}:{msg.partition()}:{msg.offset()}"


def source_of(record_ref: str) -> tuple[str, int, int]:
    topic, partition, offset = record_ref.rsplit(":", 2)
    return topic, int(partition), int(offset)


def record_key(msg: Message) -> str:
    raw = msg.key()
    if raw is None:  # no key: order only within the partition (Kafka's own guarantee)
        return f"\x00partition-{msg.partition()}"
    return raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else str(raw)


def header_int(value: str | None, default: int = 0) -> int:
    try:
        return int(value) if value else default
    except ValueError:
        return default


@dataclass
class SinkTopics:
    main: str
    retry: str
    dlq: str

    @classmethod
    def for_target(cls, target: str) -> SinkTopics:
        return cls(f"sync.{target}", f"sync.{target}.retry", f"sync.{target}.dlq")
