"""Enriched call events shaped like the processors' output (fastavro-style dicts)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

PAYLOAD_DEFAULTS: dict[str, dict[str, Any]] = {
    "call_started": {
        "direction": "INBOUND",
        "from_number": "+14155550123",
        "to_number": "+18005550199",
        "agent": None,
        "queue": "support",
        "language": "en-US",
    },
    "transcript_segment": {
        "sequence": 1,
        "speaker": "CUSTOMER",
        "text": "Hello, I have a question about my bill.",
        "start_ms": 0,
        "end_ms": 1500,
        "confidence": 0.93,
    },
    "call_ended": {"duration_s": 300, "disposition": "resolved", "hangup_cause": "normal_clearing"},
    "call_summary": {
        "summary": "Customer called about a billing issue.",
        "sentiment": "NEUTRAL",
        "intents": [],
        "action_items": [],
        "topics": ["billing"],
    },
    "recording_available": {
        "url": "https://recordings.example.com/r/1.wav",
        "duration_s": 300,
        "format": "wav",
        "checksum": "sha256:00",
    },
}


def make_event(
    event_type: str,
    *,
    payload: dict[str, Any] | None = None,
    call: dict[str, Any] | None = None,
    customer: dict[str, Any] | None = None,
    matched: bool = True,
    tenant_id: str = "acme",
    source: str = "twilio",
) -> dict[str, Any]:
    body = dict(PAYLOAD_DEFAULTS[event_type])
    body.update(payload or {})
    aggregate = {
        "direction": "INBOUND",
        "from_number": "+14155550123",
        "to_number": "+18005550199",
        "queue": "support",
        "agent": "agent-7",
        "duration_s": None,
        "disposition": None,
        "sentiment": None,
        "intents": [],
        "segments_seen": 3,
        "talk_time_ms": {"AGENT": 1000, "CUSTOMER": 2000},
        "has_summary": event_type == "call_summary",
        "complete": event_type in ("call_ended", "call_summary"),
    }
    aggregate.update(call or {})
    if customer is None:
        customer = {
            "matched": matched,
            "ambiguous": False,
            "match": {
                "crm": "salesforce",
                "record_id": "003xx000004TmiQ",
                "record_type": "Contact",
                "name": "Jane Roe",
                "account": "Roe Industries",
                "owner": "owner-1",
                "email": "jane.roe@example.com",
            }
            if matched
            else None,
            "candidates": [],
        }
    return {
        "event_id": str(uuid.uuid4()),
        "event_type": event_type,
        "occurred_at": datetime(2026, 11, 24, 21, 0, tzinfo=UTC),
        "tenant_id": tenant_id,
        "call_id": "call-1",
        "source": source,
        "schema_version": 1,
        "payload": body,
        "customer": customer,
        "call": aggregate,
    }
