"""A tiny scripted connector and helpers to run the real SinkRuntime against the real broker.

The connector is a legitimate plug-in (the Connector ABC): it records every effect it
performs and fails on command (per event id), so the runtime, the Deliverer, the resilience
layer and the broker all run for real.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from connectors.base.connector import Connector, DeliveryResult, Operation, SyncRecord
from connectors.base.errors import ConnectorError
from pipeline.config import Settings
from pipeline.observability import SinkMetrics
from pipeline.resilience.target import ResilienceSettings, TargetResilience
from pipeline.serde import DecodeError
from pipeline.sinks.delivery import Deliverer
from pipeline.sinks.ledger import InMemoryLedger
from pipeline.sinks.runtime import SinkRuntime
from pipeline.sinks.settings import SinkSettings

# shorter group joins on the embedded broker (it waits ~half the session timeout per join)
TEST_CONSUMER = {"session.timeout.ms": 2000, "heartbeat.interval.ms": 300}

FAST_RESILIENCE = ResilienceSettings(
    rate_per_s=0,
    max_attempts=1,
    initial_backoff_s=0,
    max_backoff_s=0,
    jitter_s=0,
    breaker_failure_threshold=1000,
)


@dataclass
class Effect:
    key: str
    event_id: str
    seq: int
    at: float


@dataclass
class ScriptedConnector(Connector):
    """Records effects; ``failures[event_id]`` is a list of errors raised on the next calls
    (or a callable returning an error or None)."""

    target: str = "itest"
    failures: dict[str, list[ConnectorError]] = field(default_factory=dict)
    fail_when: Callable[[str], ConnectorError | None] | None = None
    delay_s: float = 0.0
    effects: list[Effect] = field(default_factory=list)
    calls: list[tuple[str, float]] = field(default_factory=list)

    name = "itest"  # overwritten per instance below

    def __post_init__(self) -> None:
        self.name = self.target  # type: ignore[misc]

    def map_record(self, record: SyncRecord) -> list[Operation]:
        event_id = str(record.event["event_id"])
        return [Operation("post", f"{event_id}:post", dict(record.event), key=record.key)]

    async def deliver(self, operation: Operation) -> DeliveryResult:
        event_id = str(operation.payload["event_id"])
        self.calls.append((event_id, time.monotonic()))
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        queued = self.failures.get(event_id)
        if queued:
            raise queued.pop(0)
        if self.fail_when is not None:
            error = self.fail_when(event_id)
            if error is not None:
                raise error
        self.effects.append(
            Effect(operation.key, event_id, int(operation.payload["seq"]), time.monotonic())
        )
        return DeliveryResult(external_id=event_id)

    def delivered_ids(self) -> list[str]:
        return [e.event_id for e in self.effects]

    def order_by_key(self) -> dict[str, list[int]]:
        out: dict[str, list[int]] = {}
        for e in self.effects:
            out.setdefault(e.key, []).append(e.seq)
        return out


def json_decode(value: bytes | None) -> Any:
    """Test decoder: JSON objects only, anything else is a DecodeError like the Avro one."""
    try:
        doc = json.loads(value or b"")
    except ValueError:
        raise DecodeError("malformed", "value is not a JSON test event") from None
    if not isinstance(doc, dict):
        raise DecodeError("malformed", "value is not a JSON object")
    return doc


def create_topic(settings: Settings, name: str, partitions: int) -> None:
    admin = AdminClient(settings.admin_conf())
    for fut in admin.create_topics([NewTopic(name, partitions, 1)]).values():
        fut.result(10)


def event(call_id: str, seq: int, event_id: str | None = None) -> dict[str, Any]:
    return {"event_id": event_id or f"{call_id}-{seq}", "call_id": call_id, "seq": seq}


def produce_json(
    settings: Settings,
    topic: str,
    events: Iterable[dict[str, Any]],
    headers: dict[str, str] | None = None,
) -> None:
    producer = Producer(settings.producer_conf())
    for ev in events:
        producer.produce(
            topic,
            key=ev["call_id"],
            value=json.dumps(ev).encode(),
            headers=dict(headers or {}),
        )
    assert producer.flush(15) == 0


def produce_raw(settings: Settings, topic: str, key: str, value: bytes) -> None:
    producer = Producer(settings.producer_conf())
    producer.produce(topic, key=key, value=value)
    assert producer.flush(15) == 0


def read_all(settings: Settings, topic: str, timeout_s: float = 10.0) -> list[Any]:
    """Every record of ``topic`` (all partitions, from the beginning)."""
    consumer = Consumer(settings.consumer_conf(f"reader-{time.monotonic_ns()}"))
    try:
        meta = consumer.list_topics(topic, timeout=10)
        parts = list(meta.topics[topic].partitions)
        ends = {}
        for p in parts:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            if high > low:
                ends[p] = high
        consumer.assign([TopicPartition(topic, p, 0) for p in ends])
        out = []
        deadline = time.monotonic() + timeout_s
        while ends and time.monotonic() < deadline:
            msg = consumer.poll(0.2)
            if msg is None or msg.error():
                continue
            out.append(msg)
            if (msg.offset() or 0) + 1 >= ends.get(msg.partition() or 0, 0):
                ends.pop(msg.partition(), None)
        return out
    finally:
        consumer.close()


def make_runtime(
    settings: Settings,
    connector: ScriptedConnector,
    *,
    ledger: Any = None,
    resilience: ResilienceSettings = FAST_RESILIENCE,
    **sink_overrides: Any,
) -> SinkRuntime:
    target = connector.target
    metrics = SinkMetrics(target)
    deliverer = Deliverer(
        connector,
        ledger if ledger is not None else InMemoryLedger(),
        TargetResilience.from_settings(target, resilience, metrics=metrics),
        metrics,
    )
    defaults: dict[str, Any] = {
        "retry_delays_s": [0.2, 0.4],
        "commit_interval_s": 0.2,
        "drain_timeout_s": 10,
        "lag_interval_s": 0.5,
        "consumer_overrides": TEST_CONSUMER,
    }
    defaults.update(sink_overrides)
    return SinkRuntime(
        target,
        deliverer,
        settings=settings,
        sink=SinkSettings(**defaults),
        decode=json_decode,
        connector_name="ScriptedConnector",
        connector_version="9.9.9",
        metrics_=metrics,
    )


@contextlib.asynccontextmanager
async def running(runtime: SinkRuntime) -> AsyncIterator[SinkRuntime]:
    task = asyncio.create_task(runtime.run())
    try:
        await asyncio.wait_for(runtime.started.wait(), 30)
        yield runtime
    finally:
        runtime.stop()
        await asyncio.wait_for(task, 60)


async def wait_until(predicate: Callable[[], bool], timeout_s: float = 60, what: str = "") -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or predicate}")
        await asyncio.sleep(0.05)
