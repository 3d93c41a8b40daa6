"""Webhook sandbox and connector fixtures (real aiohttp receiver on a loopback port)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime

import pytest

from connectors.base.connector import SyncRecord
from connectors.base.sandbox import SandboxServer
from connectors.webhook.config import WebhookSettings
from connectors.webhook.sandbox import WebhookReceiver, make_app, receiver_of
from connectors.webhook.sink import WebhookConnector

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
NEW_SECRET = "whsec_QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWY="
HOOK_PATH = "/hooks/voicebus"


def call_event(call_id: str | None = None, **overrides) -> dict:
    event = {
        "event_id": str(uuid.uuid4()),
        "event_type": "call_ended",
        "occurred_at": datetime.now(UTC),
        "tenant_id": "t-1",
        "call_id": call_id or f"call-{uuid.uuid4().hex[:8]}",
        "source": "test",
        "schema_version": 1,
        "payload": {"duration_s": 42, "disposition": "resolved", "hangup_cause": "normal_clearing"},
    }
    event.update(overrides)
    return event


def sync_record(**overrides) -> SyncRecord:
    event = call_event(**overrides)
    return SyncRecord(key=str(event.get("call_id") or "none"), event=event)


@pytest.fixture
def webhook_sandbox() -> Iterator[SandboxServer]:
    with SandboxServer(make_app([SECRET])) as srv:
        yield srv


@pytest.fixture
def receiver(webhook_sandbox: SandboxServer) -> WebhookReceiver:
    return receiver_of(webhook_sandbox.app)


def webhook_settings(url: str, secrets=(SECRET,), **resilience) -> WebhookSettings:
    return WebhookSettings(urls=[url], secrets=list(secrets), resilience=resilience or {})


@pytest.fixture
async def webhook_connector(webhook_sandbox: SandboxServer) -> AsyncIterator[WebhookConnector]:
    settings = webhook_settings(webhook_sandbox.url + HOOK_PATH)
    connector = WebhookConnector(settings, reload_settings=lambda: settings)
    yield connector
    await connector.aclose()
