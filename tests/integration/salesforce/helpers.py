"""Builders shared by the Salesforce integration tests (enriched events, settings)."""

from __future__ import annotations

import time
import uuid
from typing import Any

from pydantic import SecretStr

from connectors.base.connector import SyncRecord
from connectors.salesforce.config import SalesforceSettings
from connectors.salesforce.sandbox import SalesforceSandbox
from pipeline.resilience.target import ResilienceSettings


def settings_for(sf: SalesforceSandbox, **overrides: Any) -> SalesforceSettings:
    values: dict[str, Any] = {
        "login_url": sf.login_url,
        "client_id": sf.org.credentials.client_id,
        "client_secret": SecretStr(sf.org.credentials.client_secret),
        "resilience": ResilienceSettings(rate_per_s=0, jitter_s=0, initial_backoff_s=0.01),
    }
    values.update(overrides)
    return SalesforceSettings(**values)


def enriched_event(
    call_id: str,
    *,
    contact_id: str | None = None,
    record_type: str = "CONTACT",
    phone: str = "+15550100",
    event_type: str = "call_ended",
    occurred_at_ms: int | None = None,
    direction: str = "INBOUND",
    summary: str | None = None,
    sentiment: str | None = None,
    intents: list[str] | None = None,
    open_deal_id: str | None = None,
    action_items: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """An enriched call event (schemas/voice/enriched_call_event.avsc) as the sink decodes it."""
    occurred = occurred_at_ms if occurred_at_ms is not None else int(time.time() * 1000)
    match = (
        {
            "crm": "salesforce",
            "record_id": contact_id,
            "record_type": record_type,
            "name": "Test Caller",
            "account": None,
            "owner": None,
            "email": None,
            "updated_at": occurred - 86_400_000,
        }
        if contact_id
        else None
    )
    if event_type == "call_summary":
        payload: dict[str, Any] = {
            "summary": summary or "Customer asked about the invoice.",
            "sentiment": sentiment or "POSITIVE",
            "intents": intents or ["billing"],
            "action_items": action_items or [],
            "topics": [],
        }
    else:
        payload = {"duration_s": 125, "disposition": "answered", "hangup_cause": "normal"}
    deal = (
        {
            "event_id": "deal-evt",
            "event_type": "deal_stage_changed",
            "occurred_at": occurred - 3_600_000,
            "attributes": {"deal_id": open_deal_id, "stage": "Prospecting"},
        }
        if open_deal_id
        else None
    )
    return {
        "event_id": str(uuid.uuid4()),
        "event_type": event_type,
        "occurred_at": occurred,
        "tenant_id": "acme",
        "call_id": call_id,
        "source": "test",
        "schema_version": 1,
        "payload": payload,
        "customer": {
            "matched": match is not None,
            "ambiguous": False,
            "lookup_number": phone,
            "match": match,
            "candidates": [],
            "open_deal": deal,
            "open_ticket": None,
            "context": {},
        },
        "call": {
            "started_at": occurred - 125_000,
            "ended_at": occurred,
            "first_event_at": occurred - 125_000,
            "last_event_at": occurred,
            "events_seen": 5,
            "segments_seen": 3,
            "talk_time_ms": {},
            "duration_s": 125,
            "disposition": "answered",
            "direction": direction,
            "from_number": phone if direction == "INBOUND" else "+15559990000",
            "to_number": "+15559990000" if direction == "INBOUND" else phone,
            "queue": None,
            "agent": "agent-7",
            "language": "en",
            "sentiment": sentiment,
            "intents": intents or [],
            "has_summary": event_type == "call_summary",
            "has_recording": False,
            "complete": True,
        },
        "processed_at": occurred + 50,
    }


def record_of(event: dict[str, Any], operation: str = "log_call", **hints: Any) -> SyncRecord:
    return SyncRecord(key=event["call_id"], event=event, operation=operation, hints=hints)
