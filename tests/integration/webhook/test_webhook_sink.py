"""Webhook-specific behaviour against the real receiver sandbox (in-thread and as a
subprocess driven through its admin HTTP API)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time

import httpx
import pytest

from connectors.base.connector import SyncRecord
from connectors.base.sandbox import SandboxAdmin, SandboxServer
from connectors.webhook.sandbox import make_app, receiver_of
from connectors.webhook.sink import WebhookConnector
from pipeline.broker import free_port
from pipeline.resilience.target import ResilienceSettings, TargetResilience
from pipeline.sinks.delivery import Deliverer, OutcomeKind
from pipeline.sinks.ledger import InMemoryLedger
from tests.helpers.sandbox_process import sandbox_process as sandbox_process_at
from tests.integration.webhook.conftest import (
    HOOK_PATH,
    NEW_SECRET,
    SECRET,
    call_event,
    sync_record,
    webhook_settings,
)

FAST = ResilienceSettings(
    rate_per_s=0, max_attempts=2, initial_backoff_s=0.01, max_backoff_s=0.02, jitter_s=0
)


def deliverer_for(connector: WebhookConnector, settings: ResilienceSettings = FAST) -> Deliverer:
    return Deliverer(
        connector, InMemoryLedger(), TargetResilience.from_settings("webhook", settings)
    )


async def test_events_of_a_call_arrive_in_order(webhook_connector, receiver):
    deliverer = deliverer_for(webhook_connector)
    records = [
        SyncRecord(key="call-42", event=call_event("call-42", event_type=t))
        for t in ("call_started", "transcript_segment", "call_ended", "call_summary")
    ]
    for record in records:
        assert (await deliverer.deliver_record(record)).kind is OutcomeKind.DELIVERED
    got = receiver.received("call-42")
    assert [e.body["type"] for e in got] == [
        "call.call_started",
        "call.transcript_segment",
        "call.call_ended",
        "call.call_summary",
    ]
    assert [e.webhook_id for e in got] == [r.event["event_id"] for r in records]


async def test_rotation_old_and_new_secret_both_sign(webhook_sandbox):
    with SandboxServer(make_app([NEW_SECRET])) as new_only:
        settings = webhook_settings(new_only.url + HOOK_PATH, secrets=(SECRET, NEW_SECRET))
        connector = WebhookConnector(settings, reload_settings=lambda: settings)
        try:
            outcome = await deliverer_for(connector).deliver_record(sync_record())
        finally:
            await connector.aclose()
        assert outcome.kind is OutcomeKind.DELIVERED
        assert len(receiver_of(new_only.app).received()) == 1


async def test_rotated_secret_is_picked_up_by_the_refresh_after_401():
    with SandboxServer(make_app([NEW_SECRET])) as srv:
        old = webhook_settings(srv.url + HOOK_PATH, secrets=(SECRET,))
        rotated = webhook_settings(srv.url + HOOK_PATH, secrets=(NEW_SECRET,))
        connector = WebhookConnector(old, reload_settings=lambda: rotated)
        try:
            outcome = await deliverer_for(connector).deliver_record(sync_record())
        finally:
            await connector.aclose()
        receiver = receiver_of(srv.app)
        assert outcome.kind is OutcomeKind.DELIVERED
        assert connector.credential_refreshes == 1
        assert receiver.rejected == 1 and len(receiver.received()) == 1


async def test_bad_signature_without_a_fix_pauses_the_sink():
    with SandboxServer(make_app([NEW_SECRET])) as srv:
        old = webhook_settings(srv.url + HOOK_PATH, secrets=(SECRET,))
        connector = WebhookConnector(old, reload_settings=lambda: old)
        try:
            outcome = await deliverer_for(connector).deliver_record(sync_record())
        finally:
            await connector.aclose()
        assert outcome.kind is OutcomeKind.PAUSE_AUTH
        assert "HTTP 401" in outcome.message
        assert receiver_of(srv.app).rejected == 2


async def test_410_gone_dead_letters_and_disables_the_endpoint(
    webhook_sandbox, webhook_connector, receiver
):
    receiver.gone_paths.add(HOOK_PATH)
    deliverer = deliverer_for(webhook_connector)
    first = await deliverer.deliver_record(sync_record())
    second = await deliverer.deliver_record(sync_record())
    assert first.kind is OutcomeKind.DEAD_LETTER and first.error_class == "permanent"
    assert "410 Gone" in first.message
    assert second.kind is OutcomeKind.DEAD_LETTER and "disabled" in second.message
    assert webhook_sandbox.controls.requests(HOOK_PATH) == 1  # no call after the 410


async def test_unreachable_url_is_retryable_with_a_clear_message():
    url = f"http://127.0.0.1:{free_port()}{HOOK_PATH}?token=s3cret"
    settings = webhook_settings(url)
    connector = WebhookConnector(settings, reload_settings=lambda: settings)
    try:
        outcome = await deliverer_for(connector).deliver_record(sync_record())
    finally:
        await connector.aclose()
    assert outcome.kind is OutcomeKind.RETRY_LATER
    assert outcome.error_class == "retryable"
    assert "unreachable" in outcome.message and "endpoint #1 (http://127.0.0.1:" in outcome.message
    assert "s3cret" not in outcome.message
    assert outcome.attempts == 2


async def test_slow_receiver_times_out_as_retryable(webhook_sandbox):
    webhook_sandbox.controls.set_latency(800)
    settings = webhook_settings(webhook_sandbox.url + HOOK_PATH)
    settings.http.read_timeout_s = 0.2
    connector = WebhookConnector(settings, reload_settings=lambda: settings)
    try:
        outcome = await deliverer_for(
            connector, FAST.model_copy(update={"max_attempts": 1})
        ).deliver_record(sync_record())
    finally:
        await connector.aclose()
    assert outcome.kind is OutcomeKind.RETRY_LATER
    assert "timed out" in outcome.message


async def test_real_retry_after_is_waited_at_least(webhook_sandbox, webhook_connector, receiver):
    webhook_sandbox.controls.throttle_next(1, retry_after=1)
    record = sync_record()
    started = time.monotonic()
    outcome = await deliverer_for(webhook_connector).deliver_record(record)
    waited = time.monotonic() - started
    assert outcome.kind is OutcomeKind.DELIVERED
    assert waited >= 1.0  # a lower bound: the target asked for 1 s
    assert receiver.count(record.event["event_id"]) == 1


async def test_rate_limited_receiver_is_paced_by_the_token_bucket(
    webhook_sandbox, webhook_connector, receiver
):
    webhook_sandbox.controls.limit_rate(20, retry_after=0.5)
    deliverer = deliverer_for(
        webhook_connector, FAST.model_copy(update={"rate_per_s": 10, "burst": 5})
    )
    records = [sync_record() for _ in range(12)]
    outcomes = await asyncio.gather(*(deliverer.deliver_record(r) for r in records))
    assert all(o.kind is OutcomeKind.DELIVERED for o in outcomes)
    assert len(receiver.received()) == 12
    assert webhook_sandbox.controls.requests(HOOK_PATH) == 12  # never throttled


@pytest.fixture
def sandbox_process(tmp_path):
    """``python -m connectors.webhook.sandbox`` as its own process; yields its URL."""
    with sandbox_process_at(
        "connectors.webhook.sandbox", ["--secret", SECRET], tmp_path / "sandbox.log"
    ) as url:
        yield url


async def test_subprocess_sandbox_driven_over_admin_http(sandbox_process):
    url = sandbox_process
    admin = SandboxAdmin(url)
    admin.fail_next(1, status=503)
    settings = webhook_settings(url + HOOK_PATH)
    connector = WebhookConnector(settings, reload_settings=lambda: settings)
    record = sync_record()
    try:
        outcome = await deliverer_for(connector).deliver_record(record)
    finally:
        await connector.aclose()
    assert outcome.kind is OutcomeKind.DELIVERED and outcome.attempts == 2
    assert admin.stats()["requests"] == {HOOK_PATH: 2}
    received = httpx.get(url + "/_sandbox/received", params={"call_id": record.key}).json()
    assert [e["webhook_id"] for e in received["events"]] == [record.event["event_id"]]
    admin.close()


def test_sandbox_refuses_to_start_without_a_secret():
    result = subprocess.run(
        [sys.executable, "-m", "connectors.webhook.sandbox", "--port", "0"],
        capture_output=True,
        text=True,
        timeout=30,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert result.returncode != 0
    assert "--secret" in result.stderr
