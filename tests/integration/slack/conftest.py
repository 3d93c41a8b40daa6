"""Slack sandbox + connector fixtures and enriched call-event builders."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import SecretStr

from connectors.base.connector import SyncRecord
from connectors.base.sandbox import SandboxServer
from connectors.slack import sandbox as slack_sandbox
from connectors.slack.config import SlackSettings
from connectors.slack.sink import SlackConnector

TOKEN = "xoxb-sandbox-token-1"
CHANNELS = [
    slack_sandbox.Channel("C0SUPPORT01", "support"),
    slack_sandbox.Channel("C0ALERTS001", "alerts"),
    slack_sandbox.Channel("C0NOBOT0001", "private-nobot", bot_member=False),
    slack_sandbox.Channel("C0ARCHIVE01", "old", archived=True),
]


def enriched_event(
    event_type: str = "call_summary",
    *,
    call_id: str | None = None,
    sentiment: str = "NEGATIVE",
    payload: dict[str, Any] | None = None,
    **overrides: Any,
) -> dict[str, Any]:
    """An enriched call event as the sink decodes it (fastavro: union -> plain dict)."""
    call_id = call_id or f"call-{uuid.uuid4().hex[:12]}"
    now = datetime.now(UTC)
    if payload is None:
        if event_type == "call_summary":
            payload = {
                "summary": "Caller could not log in after the update & wants a <refund>.",
                "sentiment": sentiment,
                "intents": ["login_issue", "refund"],
                "action_items": [],
                "topics": ["billing"],
            }
        else:
            payload = {
                "sequence": 3,
                "speaker": "CUSTOMER",
                "text": "This is the third time I call!",
                "start_ms": 1000,
                "end_ms": 4000,
                "confidence": 0.9,
            }
    event = {
        "event_id": str(uuid.uuid4()),
        "event_type": event_type,
        "occurred_at": now,
        "tenant_id": "acme",
        "call_id": call_id,
        "source": "vapi",
        "schema_version": 1,
        "payload": payload,
        "customer": {
            "matched": True,
            "ambiguous": False,
            "lookup_number": "+1555***0100",
            "match": {
                "crm": "hubspot",
                "record_id": "42",
                "record_type": "CONTACT",
                "name": "J. D.",
                "account": "Acme Corp",
                "owner": None,
                "email": None,
                "updated_at": now,
            },
            "candidates": [],
            "open_deal": None,
            "open_ticket": None,
            "context": {},
        },
        "call": {
            "started_at": now,
            "ended_at": None,
            "first_event_at": now,
            "last_event_at": now,
            "events_seen": 3,
            "segments_seen": 1,
            "talk_time_ms": {},
            "duration_s": 192,
            "disposition": None,
            "direction": "INBOUND",
            "from_number": None,
            "to_number": None,
            "queue": "billing",
            "agent": None,
            "language": "en-US",
            "sentiment": sentiment,
            "intents": ["login_issue"],
            "has_summary": event_type == "call_summary",
            "has_recording": False,
            "complete": False,
        },
        "processed_at": now,
    }
    event.update(overrides)
    return event


def record_of(
    event: dict[str, Any], operation: str | None = "post_summary", channel: str = "#support"
) -> SyncRecord:
    return SyncRecord(
        key=str(event.get("call_id", "")),
        event=event,
        operation=operation,
        hints={"channel": channel},
    )


def make_sandbox(**kwargs: Any) -> SandboxServer:
    return SandboxServer(slack_sandbox.make_app([TOKEN], CHANNELS, **kwargs))


@pytest.fixture
def slack_sandbox_server() -> Iterator[SandboxServer]:
    with make_sandbox(channel_rate_per_s=None) as srv:
        yield srv


def slack_settings(url: str, **overrides: Any) -> SlackSettings:
    values: dict[str, Any] = {
        "bot_token": SecretStr(TOKEN),
        "base_url": f"{url}/api",
        "channel_rate_per_s": 0,
    }
    values.update(overrides)
    return SlackSettings(**values)


@pytest.fixture
async def slack_connector(slack_sandbox_server: SandboxServer) -> AsyncIterator[SlackConnector]:
    connector = SlackConnector(
        slack_settings(slack_sandbox_server.url),
        reload_settings=lambda: slack_settings(slack_sandbox_server.url),
    )
    yield connector
    await connector.aclose()
