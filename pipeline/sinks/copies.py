"""Copies of a record to the retry topic and the DLQ (original key, value bytes and headers,
plus the error headers of ``pipeline.headers``).  Each copy is awaited until the broker
acknowledges it; only then may the source offset be committed.  Copies go to the partition
index of their source (see ``topics.py``)."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from datetime import UTC, datetime

from confluent_kafka import Message
from opentelemetry import metrics

from pipeline import headers as H
from pipeline.observability import SinkMetrics
from pipeline.sinks.forwarding import AsyncProducer, failure_headers, replace_headers
from pipeline.sinks.records import OutcomeLike, SinkTopics, source_of
from pipeline.sinks.settings import SinkSettings

log = logging.getLogger(__name__)


class CopyWriter:
    """Writes retry, parked and dead-letter copies for one target."""

    def __init__(
        self,
        *,
        target: str,
        connector: str,
        connector_version: str,
        topics: SinkTopics,
        sink: SinkSettings,
        producer: AsyncProducer,
        metrics_: SinkMetrics,
    ) -> None:
        self.target = target
        self.connector = connector
        self.connector_version = connector_version
        self.topics = topics
        self.sink = sink
        self._producer = producer
        self.metrics = metrics_
        meter = metrics.get_meter("voicebus")
        self._retry_scheduled = meter.create_counter("voicebus.sink.retry_scheduled")
        self._parked = meter.create_counter("voicebus.sink.parked")

    def failure_headers(
        self,
        hdrs: Mapping[str, str],
        rid: str,
        error_class: str,
        message: str,
        attempts: int,
        outcome: OutcomeLike | None,
    ) -> dict[str, str]:
        now = datetime.now(UTC)
        first = (outcome.first_failure_at if outcome else None) or now
        last = (outcome.last_failure_at if outcome else None) or now
        out = failure_headers(
            error_class=error_class,
            message=message,
            attempts=attempts,
            first_failure_at=first,
            last_failure_at=last,
            source=source_of(rid),
            target=self.target,
            connector=self.connector,
            connector_version=self.connector_version,
        )
        if hdrs.get(H.FIRST_FAILURE_AT):  # the first failure of the first round wins
            out[H.FIRST_FAILURE_AT] = hdrs[H.FIRST_FAILURE_AT]
        return out

    async def to_retry(
        self,
        msg: Message,
        hdrs: Mapping[str, str],
        rid: str,
        outcome: OutcomeLike,
        next_round: int,
    ) -> None:
        delay = self.sink.retry_delay(next_round)
        updates: dict[str, str | None] = dict(
            self.failure_headers(
                hdrs,
                rid,
                outcome.error_class or "retryable",
                outcome.message or "",
                outcome.attempts,
                outcome,
            )
        )
        updates[H.NOT_BEFORE] = str(int((time.time() + delay) * 1000))
        updates[H.RETRY_ROUND] = str(next_round)
        updates[H.PARKED_BEHIND] = None
        await self._producer.send(
            self.topics.retry,
            key=msg.key(),
            value=msg.value(),
            headers=replace_headers(msg.headers(), updates),
            partition=msg.partition(),
        )
        self._retry_scheduled.add(1, {"target": self.target})
        log.info(
            "%s: record %s scheduled for retry round %d in %.1fs (%s)",
            self.target,
            rid,
            next_round,
            delay,
            outcome.error_class,
        )

    async def park(
        self, msg: Message, hdrs: Mapping[str, str], rid: str, blocker: str, dead: bool
    ) -> None:
        topic, partition, offset = source_of(rid)
        delay = self.sink.parked_recheck_s if dead else 0.0
        updates: dict[str, str | None] = {
            H.SOURCE_TOPIC: topic,
            H.SOURCE_PARTITION: str(partition),
            H.SOURCE_OFFSET: str(offset),
            H.TARGET: self.target,
            H.PARKED_BEHIND: blocker,
            H.NOT_BEFORE: str(int((time.time() + delay) * 1000)),
        }
        await self._producer.send(
            self.topics.retry,
            key=msg.key(),
            value=msg.value(),
            headers=replace_headers(msg.headers(), updates),
            partition=msg.partition(),
        )
        self._parked.add(1, {"target": self.target})

    async def to_dlq(
        self,
        msg: Message,
        hdrs: Mapping[str, str],
        rid: str,
        error_class: str,
        message: str,
        attempts: int,
        outcome: OutcomeLike | None = None,
    ) -> None:
        updates: dict[str, str | None] = dict(
            self.failure_headers(hdrs, rid, error_class, message, attempts, outcome)
        )
        updates[H.NOT_BEFORE] = None
        updates[H.PARKED_BEHIND] = None
        await self._producer.send(
            self.topics.dlq,
            key=msg.key(),
            value=msg.value(),
            headers=replace_headers(msg.headers(), updates),
            partition=msg.partition(),
        )
        self.metrics.dead_lettered(error_class)
        log.warning("%s: record %s dead-lettered (%s)", self.target, rid, error_class)
