"""``KafkaCallLookup``: answers ``/voicebus call <id>`` straight from the topics.

Why scan topics: without the sync ledger there is no index of calls, but the enriched topic
holds every call's latest picture and the ``sync.<target>`` / ``.retry`` / ``.dlq`` topics hold
what was routed, is being retried and was dead-lettered.  The scan is read-only (assign(), no
group commits), bounded (``max_records`` and ``timeout_s``) and skips other calls by comparing
the key bytes before any Avro decoding.  Tansu reports end offsets low, so end-of-partition is
only trusted after a short quiet poll.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

from connectors.slack.commands import CallLookupError, CallStatus
from pipeline.config import Settings
from pipeline.serde import AvroCodec
from pipeline.topics import (
    ENRICHED_TOPIC,
    SYNC_TARGETS,
    sync_dlq_topic,
    sync_retry_topic,
    sync_topic,
)

QUIET_POLL_S = 0.3  # after every partition reported EOF, wait this long for stragglers


@dataclass
class TargetCounts:
    routed: int = 0
    retrying: int = 0
    dead_lettered: int = 0

    def text(self) -> str:
        return f"{self.routed} routed, {self.retrying} retrying, {self.dead_lettered} dead-lettered"


@dataclass
class _Scan:
    enriched: dict[str, Any] | None = None
    summary: str | None = None
    counts: dict[str, TargetCounts] = field(default_factory=dict)
    scanned: int = 0
    complete: bool = True


def _details(record: Mapping[str, Any]) -> dict[str, str]:
    call = record.get("call") or {}
    customer = record.get("customer") or {}
    match = customer.get("match") or {}
    details: dict[str, str] = {}
    if call.get("intents"):
        details["intents"] = ", ".join(str(i) for i in call["intents"])
    if call.get("duration_s") is not None:
        details["duration"] = f"{call['duration_s']} s"
    if call.get("disposition"):
        details["disposition"] = str(call["disposition"])
    if match.get("name"):
        details["customer"] = str(match["name"])
    return details


class KafkaCallLookup:
    """A ``CallLookup`` reading ``voice.call-events.enriched`` and the sync topics."""

    def __init__(
        self,
        settings: Settings,
        *,
        targets: tuple[str, ...] = SYNC_TARGETS,
        max_records: int = 200_000,
        timeout_s: float = 2.0,
        codec: AvroCodec | None = None,
    ) -> None:
        self.settings = settings
        self.targets = targets
        self.max_records = max_records
        self.timeout_s = timeout_s
        self.codec = codec or AvroCodec(settings, auto_register=False)
        self._kind: dict[str, tuple[str, str]] = {}  # topic -> (target, kind)
        for target in targets:
            self._kind[sync_topic(target)] = (target, "routed")
            self._kind[sync_retry_topic(target)] = (target, "retrying")
            self._kind[sync_dlq_topic(target)] = (target, "dead_lettered")

    async def call_status(self, call_id: str) -> CallStatus | None:
        try:
            scan = await asyncio.to_thread(self._scan, call_id)
        except CallLookupError:
            raise
        except Exception as exc:
            raise CallLookupError(
                f"could not read the call topics ({type(exc).__name__}); is Kafka reachable?"
            ) from None
        found = scan.enriched is not None or any(
            c.routed or c.retrying or c.dead_lettered for c in scan.counts.values()
        )
        if not found:
            if not scan.complete:
                raise CallLookupError(
                    f"call not found in the first {scan.scanned} records scanned "
                    f"(limit {self.max_records} records / {self.timeout_s:g} s); try again later"
                )
            return None
        status = CallStatus(call_id, summary=scan.summary)
        if scan.enriched is not None:
            call = scan.enriched.get("call") or {}
            status.sentiment = call.get("sentiment")
            status.details = _details(scan.enriched)
        if not scan.complete:
            status.details["note"] = f"partial scan ({scan.scanned} records)"
        status.targets = {t: c.text() for t, c in scan.counts.items()}
        return status

    def _scan(self, call_id: str) -> _Scan:
        key = call_id.encode("utf-8")
        scan = _Scan()
        deadline = time.monotonic() + self.timeout_s
        conf = self.settings.consumer_conf(
            f"voicebus-slack-lookup-{uuid.uuid4().hex}",
            **{"enable.partition.eof": True, "enable.auto.commit": False},
        )
        consumer = Consumer(conf)
        try:
            meta = consumer.list_topics(timeout=max(0.1, deadline - time.monotonic()))
            assignment = [
                TopicPartition(name, p, OFFSET_BEGINNING)
                for name in (ENRICHED_TOPIC, *self._kind)
                if name in meta.topics and meta.topics[name].error is None
                for p in meta.topics[name].partitions
            ]
            if not assignment:
                return scan
            consumer.assign(assignment)
            pending: set[tuple[str | None, int | None]] = {
                (tp.topic, tp.partition) for tp in assignment
            }
            quiet_since: float | None = None
            while True:
                now = time.monotonic()
                if now >= deadline or scan.scanned >= self.max_records:
                    scan.complete = False
                    break
                if not pending:
                    quiet_since = quiet_since or now
                    if now - quiet_since >= QUIET_POLL_S:
                        break
                msg = consumer.poll(min(0.1, max(0.0, deadline - now)))
                if msg is None:
                    continue
                err = msg.error()
                if err is not None:
                    if err.code() == KafkaError._PARTITION_EOF:
                        pending.discard((msg.topic(), msg.partition()))
                        continue
                    raise CallLookupError(f"Kafka error while scanning: {err.str()}")
                pending.add((msg.topic(), msg.partition()))  # more came after a (low) EOF
                quiet_since = None
                scan.scanned += 1
                if msg.key() != key:
                    continue
                self._apply(scan, msg.topic(), msg.value())
        finally:
            consumer.close()
        return scan

    def _apply(self, scan: _Scan, topic: str | None, value: bytes | None) -> None:
        if topic == ENRICHED_TOPIC:
            record = self.codec.decode(value)
            scan.enriched = record
            payload = record.get("payload")
            if record.get("event_type") == "call_summary" and isinstance(payload, Mapping):
                scan.summary = payload.get("summary") or scan.summary
            return
        if topic in self._kind:
            target, kind = self._kind[topic]
            counts = scan.counts.setdefault(target, TargetCounts())
            setattr(counts, kind, getattr(counts, kind) + 1)


def create_lookup() -> KafkaCallLookup:
    """``--lookup connectors.slack.call_lookup:create_lookup`` (the default)."""
    from pipeline.config import load_settings

    return KafkaCallLookup(load_settings())
