"""The slot of a delivered record is freed before its ledger entry is acknowledged, while its
key and its offset wait for the acknowledgement (runtime + processor + Deliverer + scheduler,
with a ledger whose acknowledgements the test releases; no broker involved)."""

from __future__ import annotations

import asyncio
import json
from typing import Any, ClassVar

from confluent_kafka import Message

from connectors.base.connector import Connector, DeliveryResult, Operation, SyncRecord
from pipeline.config import Settings
from pipeline.observability import SinkMetrics
from pipeline.resilience.target import ResilienceSettings, TargetResilience
from pipeline.sinks.barriers import BarrierBook
from pipeline.sinks.delivery import Deliverer
from pipeline.sinks.ledger import InMemoryLedger, LedgerEntry, LedgerError
from pipeline.sinks.ledger_writes import LedgerWrites
from pipeline.sinks.processing import RecordProcessor
from pipeline.sinks.runtime import SinkRuntime
from pipeline.sinks.scheduler import KeyOrderedScheduler
from pipeline.sinks.settings import SinkSettings

TOPIC = "sync.settle"


class Recorder(Connector):
    name: ClassVar[str] = "settle"

    def __init__(self) -> None:
        self.delivered: list[str] = []

    def map_record(self, record: SyncRecord) -> list[Operation]:
        event_id = str(record.event["event_id"])
        return [Operation("post", event_id, {}, key=record.key)]

    async def deliver(self, operation: Operation) -> DeliveryResult:
        self.delivered.append(operation.idempotency_key)
        return DeliveryResult()


class AckGatedLedger(InMemoryLedger):
    """Acknowledges the writes of ``gated`` idempotency keys only when the test says so."""

    def __init__(self, gated: set[str]) -> None:
        super().__init__()
        self.acks = {key: asyncio.Event() for key in gated}
        self.failures: list[str] = []  # keys whose next write fails

    async def put(self, target: str, idempotency_key: str, entry: LedgerEntry) -> None:
        if idempotency_key in self.failures:
            self.failures.remove(idempotency_key)
            raise LedgerError("broker unavailable")
        gate = self.acks.get(idempotency_key)
        if gate is not None:
            await gate.wait()
        await super().put(target, idempotency_key, entry)


class NoPause:
    def set_pause(self, reason: str, on: bool, tp: tuple[str, int] | None = None) -> None:
        return None


def runtime_with(ledger: InMemoryLedger, connector: Recorder, max_in_flight: int) -> SinkRuntime:
    resilience = TargetResilience.from_settings("settle", ResilienceSettings(rate_per_s=0))
    metrics = SinkMetrics("settle")
    deliverer = Deliverer(connector, ledger, resilience, metrics)
    sink = SinkSettings(max_in_flight=max_in_flight, block_retry_s=0.01)
    runtime = SinkRuntime("settle", deliverer, settings=Settings(), sink=sink, decode=json.loads)
    runtime.scheduler = KeyOrderedScheduler(max_in_flight, runtime._job_failed)
    runtime.processor = RecordProcessor(
        target="settle",
        connector="settle",
        connector_version="0.1.0",
        topics=runtime.topics,
        sink=sink,
        deliver=runtime._deliver,
        decode=json.loads,
        producer=None,  # type: ignore[arg-type]  # only failures write copies
        barriers=BarrierBook("settle", "_voicebus.barriers", None),
        pauser=NoPause(),
        metrics_=metrics,
    )
    return runtime


def fetched(runtime: SinkRuntime, *records: tuple[str, str]) -> None:
    """Hand (key, event id) records at offsets 0.. to the runtime as one fetched batch."""
    messages = []
    for offset, (key, event_id) in enumerate(records):
        value = json.dumps({"event_id": event_id}).encode()
        messages.append(
            Message(topic=TOPIC, partition=0, offset=offset, key=key.encode(), value=value)
        )
        runtime.tracker.add(TOPIC, 0, offset)
    runtime._on_messages(messages)


async def until(predicate: Any) -> None:
    for _ in range(500):
        if predicate():
            return
        await asyncio.sleep(0.002)
    raise AssertionError("condition not reached")


async def test_slot_serves_other_keys_while_the_ledger_ack_is_pending() -> None:
    connector = Recorder()
    ledger = AckGatedLedger(gated={"a0"})
    runtime = runtime_with(ledger, connector, max_in_flight=1)
    fetched(runtime, ("a", "a0"), ("a", "a1"), ("b", "b0"))
    await until(lambda: connector.delivered == ["a0", "b0"])
    await until(lambda: runtime.tracker.in_flight() == 2)  # b0 finished
    # the only slot served "b" while a0's entry was unacknowledged, but "a" waited for the
    # ack (a1 not delivered) and the commit may not pass a0
    await asyncio.sleep(0.05)
    assert connector.delivered == ["a0", "b0"]
    assert await ledger.get("settle", "a0") is None
    assert runtime.tracker.to_commit() == {(TOPIC, 0): 0}
    ledger.acks["a0"].set()
    await until(lambda: runtime.tracker.in_flight() == 0)
    assert connector.delivered == ["a0", "b0", "a1"]
    assert runtime.tracker.to_commit() == {(TOPIC, 0): 3}
    assert runtime.scheduler is not None and runtime.scheduler.settling == 0


async def test_a_failed_ledger_write_is_written_again_not_delivered_again() -> None:
    connector = Recorder()
    ledger = AckGatedLedger(gated=set())
    ledger.failures.append("a0")
    runtime = runtime_with(ledger, connector, max_in_flight=4)
    fetched(runtime, ("a", "a0"))
    await until(lambda: runtime.tracker.in_flight() == 0)
    assert connector.delivered == ["a0"]
    assert (await ledger.get("settle", "a0")) is not None
    assert runtime.tracker.to_commit() == {(TOPIC, 0): 1}


async def test_deferred_writes_come_back_with_the_outcome_and_wait_for_every_entry() -> None:
    connector = Recorder()
    ledger = AckGatedLedger(gated={"e1"})
    resilience = TargetResilience.from_settings("settle", ResilienceSettings(rate_per_s=0))
    deliverer = Deliverer(connector, ledger, resilience)
    record = SyncRecord(key="k", event={"event_id": "e1"})
    outcome = await deliverer.deliver_record(record, defer_ledger_writes=True)
    assert connector.delivered == ["e1"]
    writes = outcome.ledger_writes
    assert isinstance(writes, LedgerWrites) and len(writes) == 1
    waiting = asyncio.ensure_future(writes.wait(retry_delay_s=0.01))
    await asyncio.sleep(0.02)
    assert not waiting.done() and await ledger.get("settle", "e1") is None
    ledger.acks["e1"].set()
    await asyncio.wait_for(waiting, 2)
    assert await ledger.get("settle", "e1") is not None
    # without the flag the entry is acknowledged before deliver_record returns
    again = await deliverer.deliver_record(SyncRecord(key="k", event={"event_id": "e2"}))
    assert again.ledger_writes is None and await ledger.get("settle", "e2") is not None
