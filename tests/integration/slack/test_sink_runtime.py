"""`voicebus sink slack` end to end: run_sink finds the connector by name, reads its settings
from the environment and delivers Avro records of sync.slack (real broker and registry) to
the sandbox, threaded per call; after a restart, redelivered records post nothing."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from connectors.slack.sandbox import workspace_of
from pipeline import headers as H
from pipeline.config import Settings
from pipeline.schema_catalog import load_schema
from pipeline.serde import AvroCodec
from pipeline.sinks.app import run_sink
from pipeline.sinks.runtime import SinkRuntime
from pipeline.sinks.settings import SinkSettings
from tests.integration.slack.conftest import TOKEN, enriched_event

pytestmark = pytest.mark.integration

FAST_SINK = SinkSettings(
    commit_interval_s=0.2,
    lag_interval_s=0.5,
    drain_timeout_s=10,
    retry_delays_s=[0.3],
    consumer_overrides={"session.timeout.ms": 2000, "heartbeat.interval.ms": 300},
)


def produce(settings: Settings, records: list[tuple[dict, str]]) -> None:
    codec = AvroCodec(settings)
    schema = load_schema("voice/enriched_call_event.avsc")
    producer = Producer(settings.producer_conf())
    for event, operation in records:
        value = codec.encode(event, subject="sync.slack-value", schema=schema)
        producer.produce(
            "sync.slack",
            key=event["call_id"],
            value=value,
            headers=[
                (H.OPERATION, operation.encode()),
                (H.HINTS, json.dumps({"channel": "#support"}).encode()),
            ],
        )
    assert producer.flush(15) == 0


async def run_until(settings: Settings, done) -> None:  # type: ignore[no-untyped-def]
    await run_until_target("slack", settings, done)


async def run_until_target(target: str, settings: Settings, done) -> None:  # type: ignore[no-untyped-def]
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


async def test_sink_threads_calls_and_survives_a_restart(
    fresh_settings: Settings, slack_sandbox_server, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in {
        "VOICEBUS_SLACK_BOT_TOKEN": TOKEN,
        "VOICEBUS_SLACK_BASE_URL": f"{slack_sandbox_server.url}/api",
        "VOICEBUS_SLACK_CHANNEL_RATE_PER_S": "0",
        "VOICEBUS_SLACK_RESILIENCE__RATE_PER_S": "0",
        # the connector's own thread ledger reads the same broker
        "VOICEBUS_BOOTSTRAP_SERVERS": fresh_settings.bootstrap_servers,
        "VOICEBUS_PROFILE": "dev",
    }.items():
        monkeypatch.setenv(name, value)
    admin = AdminClient(fresh_settings.admin_conf())
    for future in admin.create_topics([NewTopic("sync.slack", 1, 1)]).values():
        future.result(10)
    records = []
    for n in range(3):
        call_id = f"call-sink-{n}"
        records.append((enriched_event("call_summary", call_id=call_id), "post_summary"))
        records.append((enriched_event("transcript_segment", call_id=call_id), "post_insight"))
    produce(fresh_settings, records)
    workspace = workspace_of(slack_sandbox_server.app)
    await run_until(fresh_settings, lambda: len(workspace.messages()) >= 6)

    parents = workspace.parents("#support")
    assert len(parents) == 3
    for parent in parents:
        [reply] = workspace.replies(parent.ts)
        call_id = next(
            c for c in ("call-sink-0", "call-sink-1", "call-sink-2") if parent.contains(c)
        )
        assert reply.contains(call_id)

    # restart; the same records again (an upstream redelivery), then one new insight of call 0
    late = enriched_event("transcript_segment", call_id="call-sink-0")
    produce(fresh_settings, [*records, (late, "post_insight")])
    await run_until(
        fresh_settings, lambda: any(m.contains(late["event_id"]) for m in workspace.messages())
    )
    assert len(workspace.messages()) == 7  # nothing re-posted, one new reply
    [parent_0] = [p for p in workspace.parents() if p.contains("call-sink-0")]
    assert len(workspace.replies(parent_0.ts)) == 2
