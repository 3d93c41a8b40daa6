"""Drive ``voicebus sink <target>`` end to end in a test: produce Avro records of
``sync.<target>`` with routing headers, then run the sink in-process until a condition holds."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from confluent_kafka import Producer

from pipeline import headers as H
from pipeline.config import Settings
from pipeline.schema_catalog import load_schema
from pipeline.serde import AvroCodec
from pipeline.sinks.app import run_sink
from pipeline.sinks.runtime import SinkRuntime
from pipeline.sinks.settings import SinkSettings

#: short commit/lag intervals and one quick retry, so end-to-end tests finish fast
FAST_SINK = SinkSettings(
    commit_interval_s=0.2,
    lag_interval_s=0.5,
    drain_timeout_s=10,
    retry_delays_s=[0.3],
    consumer_overrides={"session.timeout.ms": 2000, "heartbeat.interval.ms": 300},
)


def produce_sync(
    settings: Settings,
    target: str,
    records: Iterable[tuple[Mapping[str, Any], str, Mapping[str, Any]]],
) -> None:
    """(enriched event, routing operation, routing hints) records to ``sync.<target>``,
    keyed by call id, as the router writes them."""
    codec = AvroCodec(settings)
    schema = load_schema("voice/enriched_call_event.avsc")
    producer = Producer(settings.producer_conf())
    for event, operation, hints in records:
        producer.produce(
            f"sync.{target}",
            key=event["call_id"],
            value=codec.encode(event, subject=f"sync.{target}-value", schema=schema),
            headers=[(H.OPERATION, operation.encode()), (H.HINTS, json.dumps(hints).encode())],
        )
    assert producer.flush(15) == 0


async def run_sink_until(target: str, settings: Settings, done: Callable[[], bool]) -> None:
    """Run ``voicebus sink <target>`` in-process until ``done()``, then drain and stop."""
    ready: asyncio.Future[SinkRuntime] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(run_sink(target, settings, FAST_SINK, runtime_ready=ready))
    runtime = await asyncio.wait_for(ready, 30)
    try:
        deadline = time.monotonic() + 60
        while not done():
            assert not task.done(), task.exception() if task.done() else None
            assert time.monotonic() < deadline, "the sink did not deliver in time"
            await asyncio.sleep(0.1)
    finally:
        runtime.stop()
        await asyncio.wait_for(task, 60)
