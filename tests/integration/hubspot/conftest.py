"""HubSpot sandbox and connector fixtures (real aiohttp sandbox on a loopback port) and
enriched call events shaped like schemas/voice/enriched_call_event.avsc."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from connectors.base.connector import SyncRecord
from connectors.base.sandbox import SandboxServer
from connectors.hubspot.config import HubSpotSettings
from connectors.hubspot.sandbox import HubSpotState, make_app, state_of
from connectors.hubspot.sink import HubSpotConnector

TOKEN = "pat-na1-11111111-2222-3333-4444-555555555555"
NEW_TOKEN = "pat-na1-99999999-8888-7777-6666-555555555555"
T0 = datetime(2026, 11, 24, 20, 0, tzinfo=UTC)


def enriched_event(
    call_id: str | None = None,
    *,
    event_type: str = "call_ended",
    contact_id: str | None = None,
    phone: str = "+14155550100",
    deal_id: str | None = None,
    action_items: list[dict[str, Any]] | None = None,
    sentiment: str = "NEGATIVE",
    **overrides: Any,
) -> dict[str, Any]:
    call_id = call_id or f"call-{uuid.uuid4().hex[:10]}"
    started = T0
    ended = T0 + timedelta(seconds=95)
    payloads: dict[str, dict[str, Any]] = {
        "call_started": {
            "direction": "INBOUND",
            "from_number": phone,
            "to_number": "+18005550199",
            "agent": "ava",
            "queue": "support",
            "language": "en-US",
        },
        "call_ended": {
            "duration_s": 95,
            "disposition": "resolved",
            "hangup_cause": "normal_clearing",
        },
        "call_summary": {
            "summary": "Customer asked about a refund.",
            "sentiment": sentiment,
            "intents": ["refund", "billing"],
            "topics": ["refund"],
            "action_items": action_items if action_items is not None else [],
        },
        "recording_available": {
            "url": f"https://rec.example.com/{call_id}.mp3",
            "duration_s": 95,
            "format": "mp3",
            "checksum": "sha256:00",
        },
    }
    match = None
    if contact_id is not None:
        match = {
            "crm": "hubspot",
            "record_id": contact_id,
            "record_type": "CONTACT",
            "name": "Ada Lovelace",
            "account": None,
            "owner": None,
            "email": None,
            "updated_at": started,
        }
    open_deal = None
    if deal_id is not None:
        open_deal = {
            "event_id": str(uuid.uuid4()),
            "event_type": "deal_opened",
            "occurred_at": started,
            "attributes": {"deal_id": deal_id},
        }
    event: dict[str, Any] = {
        "event_id": str(uuid.uuid4()),
        "event_type": event_type,
        "occurred_at": ended,
        "tenant_id": "t-1",
        "call_id": call_id,
        "source": "test",
        "schema_version": 1,
        "payload": payloads[event_type],
        "customer": {
            "matched": match is not None,
            "ambiguous": False,
            "lookup_number": phone,
            "match": match,
            "candidates": [],
            "open_deal": open_deal,
            "open_ticket": None,
            "context": {},
        },
        "call": {
            "started_at": started,
            "ended_at": ended,
            "first_event_at": started,
            "last_event_at": ended,
            "events_seen": 3,
            "segments_seen": 0,
            "talk_time_ms": {},
            "duration_s": 95,
            "disposition": "resolved",
            "direction": "INBOUND",
            "from_number": phone,
            "to_number": "+18005550199",
            "queue": "support",
            "agent": "ava",
            "language": "en-US",
            "sentiment": None,
            "intents": [],
            "has_summary": event_type == "call_summary",
            "has_recording": False,
            "complete": False,
        },
        "processed_at": ended,
    }
    event.update(overrides)
    return event


def record_of(event: dict[str, Any], **kwargs: Any) -> SyncRecord:
    return SyncRecord(key=str(event.get("call_id") or "none"), event=event, **kwargs)


def hubspot_settings(url: str, **overrides: Any) -> HubSpotSettings:
    values: dict[str, Any] = {
        "base_url": url,
        "access_token": TOKEN,
        "requests_per_s": 0,
        "search_requests_per_s": 0,
    }
    values.update(overrides)
    return HubSpotSettings(**values)


BEFORE_T0 = "2026-11-23T20:00:00.000Z"  # seeded records existed before the test calls


def add_contact(state: HubSpotState, phone: str, **props: str) -> str:
    return str(
        state.store.create("contacts", {"phone": phone, "firstname": "Ada", **props}, at=BEFORE_T0)[
            "id"
        ]
    )


def add_deal(state: HubSpotState, **props: str) -> str:
    return str(state.store.create("deals", {"dealname": "Renewal", **props}, at=BEFORE_T0)["id"])


def calls_with(state: HubSpotState, call_id: str) -> list[dict[str, Any]]:
    return state.store.find("calls", "voicebus_call_id", call_id)


@pytest.fixture
def hubspot_sandbox() -> Iterator[SandboxServer]:
    with SandboxServer(
        make_app(private_tokens=[TOKEN], ten_secondly=None, search_per_s=None)
    ) as srv:
        yield srv


@pytest.fixture
def hubspot_state(hubspot_sandbox: SandboxServer) -> HubSpotState:
    return state_of(hubspot_sandbox.app)


@pytest.fixture
async def hubspot_connector(hubspot_sandbox: SandboxServer) -> AsyncIterator[HubSpotConnector]:
    settings = hubspot_settings(hubspot_sandbox.url)
    connector = HubSpotConnector(settings, reload_settings=lambda: settings)
    yield connector
    await connector.aclose()
