"""Gmail sandbox/connector fixtures and enriched call events with follow-up data."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, date, datetime
from typing import Any

import pytest

from connectors.base.connector import SyncRecord
from connectors.base.sandbox import SandboxServer
from connectors.gmail.config import GmailSettings
from connectors.gmail.sandbox import make_app
from connectors.gmail.sink import GmailConnector

CLIENT_SECRET = "gmail-client-secret-do-not-log"  # noqa: S105 - test value
REFRESH_TOKEN = "gmail-refresh-token-do-not-log"  # noqa: S105 - test value
SEND_PATH = "/gmail/v1/users/me/messages/send"


def enriched_event(
    *, email: str | None = "ada@example.com", meetings: int = 0, **overrides: Any
) -> dict[str, Any]:
    """An enriched ``call_summary`` event of a matched customer."""
    call_id = overrides.pop("call_id", None) or f"call-{uuid.uuid4().hex[:8]}"
    items: list[dict[str, Any]] = [
        {"description": "Send the updated quote", "owner": None, "due_date": None, "kind": "task"}
    ]
    for i in range(meetings):
        items.append(
            {
                "description": f"Contract review #{i + 1}",
                "owner": "owner@example.com",
                "due_date": date(2026, 12, 1 + i),
                "kind": "meeting",
            }
        )
    event = {
        "event_id": str(uuid.uuid4()),
        "event_type": "call_summary",
        "occurred_at": datetime(2026, 11, 24, 21, 0, tzinfo=UTC),
        "tenant_id": "t-1",
        "call_id": call_id,
        "source": "test",
        "schema_version": 1,
        "payload": {
            "summary": f"Customer asked about pricing for {call_id}.",
            "sentiment": "POSITIVE",
            "intents": ["follow_up"],
            "action_items": items,
            "topics": ["pricing"],
        },
        "customer": {
            "matched": True,
            "ambiguous": False,
            "lookup_number": "+15551234567",
            "match": {
                "crm": "hubspot",
                "record_id": "c-1",
                "record_type": "contact",
                "name": "Ada Lovelace",
                "account": "Analytical Engines",
                "owner": None,
                "email": email,
                "updated_at": None,
            },
            "candidates": [],
        },
        "call": {"started_at": datetime(2026, 11, 24, 20, 50, tzinfo=UTC), "duration_s": 252},
        "processed_at": datetime(2026, 11, 24, 21, 0, 1, tzinfo=UTC),
    }
    event.update(overrides)
    return event


TRANSCRIPT = [
    {"speaker": "AGENT", "text": "Thanks for calling, how can I help?"},
    {"speaker": "CUSTOMER", "text": "I would like a quote, please."},
]


def follow_up_record(operation: str = "send_follow_up", **kwargs: Any) -> SyncRecord:
    event = enriched_event(**kwargs)
    return SyncRecord(
        key=event["call_id"],
        event=event,
        operation=operation,
        hints={"template": "call-follow-up", "transcript": TRANSCRIPT},
    )


def gmail_settings(url: str, **overrides: Any) -> GmailSettings:
    values: dict[str, Any] = {
        "client_id": "sandbox-client",
        "client_secret": CLIENT_SECRET,
        "refresh_token": REFRESH_TOKEN,
        "api_base_url": url,
        "calendar_base_url": url,
        "token_url": url + "/token",
        "sender_address": "care@example.com",
        "owner_email": "owner@example.com",
        "meeting_timezone": "Europe/Berlin",
    }
    values.update(overrides)
    return GmailSettings(**values)


@pytest.fixture
def gmail_sandbox() -> Iterator[SandboxServer]:
    app = make_app(client_secret=CLIENT_SECRET, refresh_token=REFRESH_TOKEN)
    with SandboxServer(app) as srv:
        yield srv


@pytest.fixture
async def gmail_connector(gmail_sandbox: SandboxServer) -> AsyncIterator[GmailConnector]:
    connector = GmailConnector(gmail_settings(gmail_sandbox.url))
    yield connector
    await connector.aclose()
