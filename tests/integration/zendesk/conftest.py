"""Zendesk sandbox + connector fixtures and enriched call events (real aiohttp sandbox on a
loopback port, validating every request against ../shared/specs/zendesk)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from connectors.base.connector import SyncRecord
from connectors.base.sandbox import SandboxServer
from connectors.zendesk.config import ZendeskSettings
from connectors.zendesk.sandbox import make_app, sandbox_of
from connectors.zendesk.sink import ZendeskConnector

EMAIL = "agent@example.com"
API_TOKEN = "zd-test-token-4f9c2b1e"  # noqa: S105 - the sandbox's own test credential


def enriched_event(
    call_id: str | None = None,
    *,
    event_type: str = "call_summary",
    intents: list[str] | None = None,
    email: str | None = "pat@example.com",
    name: str = "Pat Caller",
    disposition: str | None = None,
    **overrides: Any,
) -> dict[str, Any]:
    """An enriched call event as ``schemas/voice/enriched_call_event.avsc`` decodes it."""
    call_id = call_id or f"call-{uuid.uuid4().hex[:10]}"
    payloads = {
        "call_summary": {
            "summary": "Caller is unhappy about a double charge on the last invoice.",
            "sentiment": "NEGATIVE",
            "intents": intents if intents is not None else ["complaint"],
            "action_items": [
                {
                    "description": "Refund the duplicate charge",
                    "owner": "billing",
                    "due_date": None,
                    "kind": "task",
                }
            ],
            "topics": ["billing"],
        },
        "call_ended": {
            "duration_s": 240,
            "disposition": disposition or "resolved",
            "hangup_cause": "normal_clearing",
        },
        "recording_available": {
            "url": "https://rec.example.com/r/1.mp3",
            "duration_s": 240,
            "format": "mp3",
            "checksum": "sha256:00",
        },
    }
    match = None
    if email is not None or name:
        match = {
            "crm": "salesforce",
            "record_id": f"003{uuid.uuid4().hex[:6]}",
            "record_type": "CONTACT",
            "name": name,
            "account": None,
            "owner": None,
            "email": email,
            "updated_at": 1_700_000_000_000,
        }
    event: dict[str, Any] = {
        "event_id": str(uuid.uuid4()),
        "event_type": event_type,
        "occurred_at": datetime.now(UTC),
        "tenant_id": "t-1",
        "call_id": call_id,
        "source": "test",
        "schema_version": 1,
        "payload": payloads[event_type],
        "customer": {
            "matched": match is not None,
            "ambiguous": False,
            "lookup_number": "+15550100",
            "match": match,
            "candidates": [],
            "open_deal": None,
            "open_ticket": None,
            "context": {},
        },
        "call": {
            "started_at": None,
            "ended_at": None,
            "first_event_at": 0,
            "last_event_at": 0,
            "events_seen": 3,
            "segments_seen": 2,
            "talk_time_ms": {},
            "duration_s": 240,
            "disposition": disposition,
            "direction": "INBOUND",
            "from_number": "+15550100",
            "to_number": "+15550199",
            "queue": "billing",
            "agent": "agent-7",
            "language": "en-US",
            "sentiment": "NEGATIVE",
            "intents": intents if intents is not None else ["complaint"],
            "has_summary": True,
            "has_recording": False,
            "complete": False,
        },
        "processed_at": 0,
    }
    event.update(overrides)
    return event


def record(
    event: dict[str, Any], operation: str | None = "open_ticket", **hints: Any
) -> SyncRecord:
    return SyncRecord(
        key=str(event.get("call_id") or "none"), event=event, operation=operation, hints=hints
    )


def zendesk_settings(url: str, **overrides: Any) -> ZendeskSettings:
    values: dict[str, Any] = {
        "base_url": url,
        "email": EMAIL,
        "api_token": API_TOKEN,
        "transcript_url_template": "https://voice.example.com/calls/{call_id}",
    }
    values.update(overrides)
    return ZendeskSettings(**values)


@pytest.fixture
def zendesk_sandbox() -> Iterator[SandboxServer]:
    with SandboxServer(make_app(email=EMAIL, api_token=API_TOKEN, oauth_token="oauth-abc")) as srv:
        yield srv
        assert sandbox_of(srv.app).violations == [], "requests broke the Zendesk spec"


@pytest.fixture
async def zendesk_connector(zendesk_sandbox: SandboxServer) -> AsyncIterator[ZendeskConnector]:
    settings = zendesk_settings(zendesk_sandbox.url)
    connector = ZendeskConnector(settings, reload_settings=lambda: settings)
    yield connector
    await connector.aclose()
