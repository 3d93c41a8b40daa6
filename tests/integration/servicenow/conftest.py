"""ServiceNow sandbox, connectors pointed at it, and enriched call events as the sink gets them."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from connectors.base.connector import SyncRecord
from connectors.base.sandbox import SandboxServer
from connectors.servicenow.config import AuthMode, ServiceNowSettings
from connectors.servicenow.sandbox import make_app
from connectors.servicenow.sink import ServiceNowConnector

USER = "voicebus.integration"
PASSWORD = "pw-Sup3r-s3cret-value"
CLIENT_ID = "vb-oauth-client"
CLIENT_SECRET = "cs-An0ther-s3cret-value"


@pytest.fixture
def sn_sandbox() -> Iterator[SandboxServer]:
    app = make_app(users={USER: PASSWORD}, clients={CLIENT_ID: (CLIENT_SECRET, USER)})
    with SandboxServer(app) as srv:
        yield srv


def sn_settings(url: str, auth: AuthMode = AuthMode.BASIC, **extra: Any) -> ServiceNowSettings:
    values: dict[str, Any] = {
        "instance_url": url,
        "auth": auth,
        "username": USER,
        "password": PASSWORD,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "kb_knowledge_base": "a" * 32,
    }
    return ServiceNowSettings(**{**values, **extra})


def make_connector(url: str, auth: AuthMode = AuthMode.BASIC, **extra: Any) -> ServiceNowConnector:
    settings = sn_settings(url, auth, **extra)
    return ServiceNowConnector(settings, reload_settings=lambda: settings)


def enriched_event(
    call_id: str,
    event_type: str = "call_summary",
    *,
    intents: list[str] | None = None,
    sentiment: str = "NEGATIVE",
    email: str | None = "jane.roe@example.com",
    phone: str | None = "+14155550123",
    occurred_at: datetime | None = None,
    summary: str = "Caller reports the router keeps dropping. Wants a technician.",
) -> dict[str, Any]:
    """An enriched call event as fastavro decodes schemas/voice/enriched_call_event.avsc."""
    now = occurred_at or datetime.now(UTC)
    payloads: dict[str, dict[str, Any]] = {
        "call_summary": {
            "summary": summary,
            "sentiment": sentiment,
            "intents": intents if intents is not None else ["complaint"],
            "action_items": [],
            "topics": ["router"],
        },
        "call_ended": {"duration_s": 95, "disposition": "resolved", "hangup_cause": "normal"},
        "recording_available": {
            "url": "https://rec.example.com/r/1?token=abc",
            "duration_s": 95,
            "format": "wav",
            "checksum": "sha256:" + "0" * 64,
        },
    }
    return {
        "event_id": str(uuid.uuid4()),
        "event_type": event_type,
        "occurred_at": now,
        "tenant_id": "acme",
        "call_id": call_id,
        "source": "twilio",
        "schema_version": 1,
        "payload": payloads[event_type],
        "customer": {
            "matched": email is not None,
            "ambiguous": False,
            "lookup_number": phone,
            "match": {
                "crm": "hubspot",
                "record_id": "501",
                "record_type": "CONTACT",
                "name": "Jane Roe",
                "account": None,
                "owner": None,
                "email": email,
                "updated_at": now - timedelta(days=1),
            }
            if email is not None
            else None,
            "candidates": [],
            "open_deal": None,
            "open_ticket": None,
            "context": {},
        },
        "call": {
            "started_at": now - timedelta(minutes=2),
            "ended_at": now,
            "first_event_at": now - timedelta(minutes=2),
            "last_event_at": now,
            "events_seen": 4,
            "segments_seen": 2,
            "talk_time_ms": {"CUSTOMER": 1200},
            "duration_s": 95,
            "disposition": "resolved",
            "direction": "INBOUND",
            "from_number": phone,
            "to_number": "+18005550199",
            "queue": "support",
            "agent": None,
            "language": "en",
            "sentiment": sentiment,
            "intents": intents if intents is not None else ["complaint"],
            "has_summary": event_type == "call_summary",
            "has_recording": False,
            "complete": True,
        },
        "processed_at": now,
    }


def record(
    call_id: str | None = None,
    operation: str | None = "open_incident",
    hints: dict[str, Any] | None = None,
    **event_kwargs: Any,
) -> SyncRecord:
    call = call_id or f"call-{uuid.uuid4().hex[:12]}"
    return SyncRecord(
        key=call,
        event=enriched_event(call, **event_kwargs),
        operation=operation,
        hints=hints or {},
    )
