"""Acceptance: the real sink stack (WebhookConnector, KafkaLedger, Deliverer, SinkRuntime)
on the real broker and registry, delivering Avro call events to the webhook sandbox."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator

import pytest

from pipeline import headers as H
from pipeline.broker import free_port
from pipeline.config import Settings
from pipeline.observability import configure_telemetry
from pipeline.resilience.target import ResilienceSettings
from pipeline.sinks.forwarding import headers_to_dict
from pipeline.sinks.runtime import SinkRuntime

from .helpers import create_topic, read_all, wait_until
from .webhook_env import (
    WebhookSandbox,
    call_event,
    produce_events,
    produce_value,
    unknown_schema_value,
    webhook_runtime,
)

QUICK = ResilienceSettings(
    rate_per_s=0,
    max_attempts=2,
    initial_backoff_s=0.05,
    max_backoff_s=0.1,
    jitter_s=0,
    breaker_failure_threshold=1000,
)


@pytest.fixture
def sandbox() -> Iterator[WebhookSandbox]:
    box = WebhookSandbox().start()
    yield box
    box.stop()


@contextlib.asynccontextmanager
async def run(runtime: SinkRuntime, ledger) -> AsyncIterator[SinkRuntime]:  # type: ignore[no-untyped-def]
    await ledger.start()
    task = asyncio.create_task(runtime.run())
    try:
        await asyncio.wait_for(runtime.started.wait(), 30)
        yield runtime
    finally:
        runtime.stop()
        try:
            await asyncio.wait_for(task, 60)
        finally:
            await ledger.close()


async def test_thousand_events_hundred_calls_once_each_in_call_order(
    settings: Settings, unique: str, sandbox: WebhookSandbox
) -> None:
    target = f"wh{unique}"
    create_topic(settings, f"sync.{target}", 4)
    events = [call_event(f"call-{i % 100}", i // 100) for i in range(1000)]
    produce_events(settings, f"sync.{target}", events)
    runtime, ledger, connector = webhook_runtime(
        settings, target, [sandbox.hook_url], sandbox.secret, resilience=QUICK, max_in_flight=32
    )
    async with run(runtime, ledger):
        await wait_until(lambda: len(sandbox.received()) >= 1000, 120, "1000 webhooks")
    await connector.aclose()
    ids = sandbox.event_ids()
    assert sorted(ids) == sorted(e["event_id"] for e in events)  # each exactly once
    assert sandbox.sequences_by_call() == {f"call-{c}": list(range(10)) for c in range(100)}


async def test_outage_opens_the_circuit_pauses_consumption_then_recovers(
    settings: Settings, unique: str, sandbox: WebhookSandbox
) -> None:
    telemetry = configure_telemetry(in_memory=True)
    target = f"wh{unique}"
    create_topic(settings, f"sync.{target}", 2)
    resilience = ResilienceSettings(
        rate_per_s=0,
        max_attempts=20,
        initial_backoff_s=0.05,
        max_backoff_s=0.2,
        jitter_s=0,
        breaker_failure_threshold=3,
        breaker_window_s=10,
        breaker_reset_s=0.5,
    )
    sandbox.controls.fail_next(7, 503)
    events = [call_event(f"call-{i % 5}", i // 5) for i in range(40)]
    produce_events(settings, f"sync.{target}", events)
    runtime, ledger, connector = webhook_runtime(
        settings,
        target,
        [sandbox.hook_url],
        sandbox.secret,
        resilience=resilience,
        max_in_flight=4,
        circuit_check_s=0.05,
    )
    paused_all: list[bool] = []
    async with run(runtime, ledger):
        assert runtime.consumer is not None
        consumer = runtime.consumer

        def observe() -> bool:
            assignment = consumer.assignment()
            if assignment and consumer.paused_partitions() >= assignment:
                paused_all.append(True)
            return len(sandbox.received()) >= 40

        await wait_until(observe, 120, "all delivered after the outage")
        await wait_until(lambda: not consumer.paused_partitions(), 10, "resumed")
        await asyncio.sleep(0.6)  # one lag refresh after the last delivery
        lag_points = [  # the observable gauge, read while the sink runs
            (attrs, value)
            for attrs, value in telemetry.metric_points().get("voicebus.sink.lag", [])
            if attrs.get("target") == target
        ]
    await connector.aclose()
    assert paused_all, "consumption never paused while the circuit was open"
    assert sorted(sandbox.event_ids()) == sorted(e["event_id"] for e in events)
    assert telemetry.metric_total("voicebus.sink.retried", target=target) > 0
    # the up-down counter went to 1 (open) and back to 0 (closed)
    assert telemetry.metric_total("voicebus.sink.circuit_open", target=target) == 0
    assert lag_points and {a["topic"] for a, _ in lag_points} >= {f"sync.{target}"}
    assert read_all(settings, f"sync.{target}.dlq") == []


async def test_retry_after_is_honoured_at_the_receiver(
    settings: Settings, unique: str, sandbox: WebhookSandbox
) -> None:
    target = f"wh{unique}"
    create_topic(settings, f"sync.{target}", 1)
    sandbox.controls.throttle_next(1, retry_after=2)
    events = [call_event("call-throttled", 0)]
    produce_events(settings, f"sync.{target}", events)
    runtime, ledger, connector = webhook_runtime(
        settings, target, [sandbox.hook_url], sandbox.secret, resilience=QUICK
    )
    async with run(runtime, ledger):
        await wait_until(lambda: len(sandbox.received()) >= 1, 60, "delivery after 429")
    await connector.aclose()
    arrivals = sandbox.arrivals.times(events[0]["event_id"])
    assert [status for _, status in arrivals] == [429, 200]
    assert arrivals[1][0] - arrivals[0][0] >= 2.0


async def test_permanent_400_is_dead_lettered_with_every_header(
    settings: Settings, unique: str, sandbox: WebhookSandbox
) -> None:
    target = f"wh{unique}"
    create_topic(settings, f"sync.{target}", 1)
    sandbox.controls.fail_next(1, 400)
    events = [call_event("call-bad", 0), call_event("call-bad", 1)]
    produce_events(settings, f"sync.{target}", events)
    runtime, ledger, connector = webhook_runtime(
        settings, target, [sandbox.hook_url], sandbox.secret, resilience=QUICK
    )
    async with run(runtime, ledger):
        await wait_until(lambda: len(sandbox.received()) >= 1, 60, "second event delivered")
        await wait_until(lambda: len(read_all(settings, f"sync.{target}.dlq")) == 1, 30, "dlq")
    await connector.aclose()
    [dead] = read_all(settings, f"sync.{target}.dlq")
    hdrs = headers_to_dict(dead.headers())
    assert hdrs[H.ERROR_CLASS] == "permanent"
    assert "400" in hdrs[H.ERROR_MESSAGE] and sandbox.secret not in hdrs[H.ERROR_MESSAGE]
    assert hdrs[H.ATTEMPTS] == "1"
    assert hdrs[H.FIRST_FAILURE_AT].endswith("Z") and hdrs[H.LAST_FAILURE_AT].endswith("Z")
    assert (hdrs[H.SOURCE_TOPIC], hdrs[H.SOURCE_PARTITION], hdrs[H.SOURCE_OFFSET]) == (
        f"sync.{target}",
        "0",
        "0",
    )
    assert hdrs[H.TARGET] == target
    assert hdrs[H.CONNECTOR] == "WebhookConnector" and hdrs[H.CONNECTOR_VERSION]
    assert dead.key() == b"call-bad"
    assert sandbox.event_ids() == [events[1]["event_id"]]


async def test_undecodable_values_are_dead_lettered_and_the_stream_continues(
    settings: Settings, unique: str, sandbox: WebhookSandbox
) -> None:
    target = f"wh{unique}"
    create_topic(settings, f"sync.{target}", 1)
    first = call_event("call-1", 0)
    last = call_event("call-1", 1)
    produce_events(settings, f"sync.{target}", [first])
    produce_value(settings, f"sync.{target}", "call-1", b"\x8b\x13random bytes\xff")
    produce_value(settings, f"sync.{target}", "call-1", unknown_schema_value())
    produce_events(settings, f"sync.{target}", [last])
    runtime, ledger, connector = webhook_runtime(
        settings, target, [sandbox.hook_url], sandbox.secret, resilience=QUICK
    )
    async with run(runtime, ledger):
        await wait_until(lambda: len(sandbox.received()) >= 2, 60, "events around the garbage")
        await wait_until(lambda: len(read_all(settings, f"sync.{target}.dlq")) == 2, 30, "dlq")
    await connector.aclose()
    assert sandbox.event_ids() == [first["event_id"], last["event_id"]]
    dlq = read_all(settings, f"sync.{target}.dlq")
    assert [headers_to_dict(m.headers())[H.ERROR_CLASS] for m in dlq] == ["decode", "decode"]
    assert "bad-magic" in headers_to_dict(dlq[0].headers())[H.ERROR_MESSAGE]
    assert "unknown-schema-id" in headers_to_dict(dlq[1].headers())[H.ERROR_MESSAGE]
    assert dlq[1].value() == unknown_schema_value()


async def test_unreachable_url_is_retried_then_delivered_in_order_when_it_comes_up(
    settings: Settings, unique: str
) -> None:
    target = f"wh{unique}"
    create_topic(settings, f"sync.{target}", 1)
    port = free_port()
    late = WebhookSandbox(port=port)
    events = [call_event("call-late", s) for s in range(4)] + [call_event("call-x", 0)]
    produce_events(settings, f"sync.{target}", events)
    runtime, ledger, connector = webhook_runtime(
        settings,
        target,
        [f"http://127.0.0.1:{port}/hooks/voicebus"],
        late.secret,
        resilience=QUICK,
        retry_delays_s=[0.3, 0.6, 1.0],
        max_retry_rounds=50,
    )
    try:
        async with run(runtime, ledger):
            await wait_until(
                lambda: len(read_all(settings, f"sync.{target}.retry")) >= 5, 60, "retried"
            )
            late.start()
            await wait_until(lambda: len(late.received()) >= 5, 90, "delivered after outage")
    finally:
        await connector.aclose()  # close keep-alive connections first: quick server stop
        late.stop()
    assert late.sequences_by_call() == {"call-late": [0, 1, 2, 3], "call-x": [0]}
    assert sorted(late.event_ids()) == sorted(e["event_id"] for e in events)
    assert read_all(settings, f"sync.{target}.dlq") == []
