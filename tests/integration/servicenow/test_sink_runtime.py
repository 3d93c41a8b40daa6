"""`voicebus sink servicenow` end to end: run_sink finds the connector by name, reads its
settings from the environment and delivers Avro records of sync.servicenow (real broker and
registry) to the sandbox; redelivering the topic creates nothing new."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from connectors.base.sandbox import SandboxServer
from connectors.servicenow.sandbox import instance_of
from pipeline import headers as H
from pipeline.config import Settings
from pipeline.schema_catalog import load_schema
from pipeline.serde import AvroCodec
from pipeline.sinks.app import run_sink
from pipeline.sinks.runtime import SinkRuntime
from pipeline.sinks.settings import SinkSettings
from tests.integration.servicenow.conftest import PASSWORD, USER, enriched_event

FAST_SINK = SinkSettings(
    commit_interval_s=0.2,
    lag_interval_s=0.5,
    drain_timeout_s=10,
    retry_delays_s=[0.3],
    consumer_overrides={"session.timeout.ms": 2000, "heartbeat.interval.ms": 300},
)


def produce(settings: Settings, records: list[tuple[dict, str, dict]]) -> None:
    codec = AvroCodec(settings)
    schema = load_schema("voice/enriched_call_event.avsc")
    producer = Producer(settings.producer_conf())
    for event, operation, hints in records:
        value = codec.encode(event, subject="sync.servicenow-value", schema=schema)
        producer.produce(
            "sync.servicenow",
            key=event["call_id"],
            value=value,
            headers=[(H.OPERATION, operation.encode()), (H.HINTS, json.dumps(hints).encode())],
        )
    assert producer.flush(15) == 0


async def run_until(settings: Settings, done) -> None:  # type: ignore[no-untyped-def]
    ready: asyncio.Future[SinkRuntime] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(run_sink("servicenow", settings, FAST_SINK, runtime_ready=ready))
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


async def test_sink_delivers_sync_servicenow_records(
    fresh_settings: Settings, sn_sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in {
        "INSTANCE_URL": sn_sandbox.url,
        "USERNAME": USER,
        "PASSWORD": PASSWORD,
        "RESILIENCE__RATE_PER_S": "0",
    }.items():
        monkeypatch.setenv(f"VOICEBUS_SERVICENOW_{name}", value)
    admin = AdminClient(fresh_settings.admin_conf())
    for future in admin.create_topics([NewTopic("sync.servicenow", 2, 1)]).values():
        future.result(10)
    records = []
    for n in range(5):
        call_id = f"call-sink-{n}"
        records.append((enriched_event(call_id), "open_incident", {"category": "network"}))
        records.append(
            (
                enriched_event(call_id, "recording_available"),
                "update_incident",
                {"state": "in_progress"},
            )
        )
    produce(fresh_settings, records)
    store = instance_of(sn_sandbox.app).store

    def all_in_progress() -> bool:
        incidents = store.find("incident", correlation_display="voicebus")
        return len(incidents) == 5 and all(i["state"] == "2" for i in incidents)

    await run_until(fresh_settings, all_in_progress)
    incidents = store.find("incident", correlation_display="voicebus")
    assert sorted(i["correlation_id"] for i in incidents) == [f"call-sink-{n}" for n in range(5)]
    assert all(len(store.notes(i["sys_id"])) == 1 for i in incidents)
    assert {i["category"] for i in incidents} == {"network"}
