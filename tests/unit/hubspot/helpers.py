"""Small builders shared by the HubSpot unit tests."""

from __future__ import annotations

from typing import Any

from connectors.base.connector import SyncRecord
from connectors.hubspot.config import HubSpotSettings


def settings(**overrides: Any) -> HubSpotSettings:
    values: dict[str, Any] = {"access_token": "pat-unit-secret", "base_url": "https://hs.test"}
    values.update(overrides)
    return HubSpotSettings(**values)


def event(event_type: str = "call_ended", **overrides: Any) -> dict[str, Any]:
    payloads = {
        "call_started": {
            "direction": "OUTBOUND",
            "from_number": "+18005550199",
            "to_number": "+14155550100",
            "agent": None,
            "queue": None,
            "language": "en-US",
        },
        "call_ended": {"duration_s": 61, "disposition": "voicemail", "hangup_cause": "busy"},
        "call_summary": {
            "summary": "Wants a refund.",
            "sentiment": "NEGATIVE",
            "intents": ["refund"],
            "topics": [],
            "action_items": [],
        },
        "recording_available": {
            "url": "https://rec.test/1.mp3",
            "duration_s": 61,
            "format": "mp3",
            "checksum": "sha256:00",
        },
        "transcript_segment": {
            "sequence": 1,
            "speaker": "AGENT",
            "text": "hi",
            "start_ms": 0,
            "end_ms": 10,
            "confidence": 0.9,
        },
    }
    base: dict[str, Any] = {
        "event_id": "e-1",
        "event_type": event_type,
        "occurred_at": 1_764_014_400_000,  # 2025-11-24T20:00:00Z
        "tenant_id": "t",
        "call_id": "call-1",
        "source": "test",
        "payload": payloads[event_type],
        "customer": {
            "matched": False,
            "ambiguous": False,
            "lookup_number": "+14155550100",
            "match": None,
            "candidates": [],
            "open_deal": None,
            "open_ticket": None,
            "context": {},
        },
        "call": {
            "started_at": 1_764_014_340_000,
            "ended_at": None,
            "direction": "INBOUND",
            "from_number": "+14155550100",
            "to_number": "+18005550199",
            "duration_s": None,
            "disposition": None,
            "queue": "billing",
        },
    }
    base.update(overrides)
    return base


def record(
    event_type: str = "call_ended",
    *,
    operation: str | None = None,
    hints: dict[str, Any] | None = None,
    **overrides: Any,
) -> SyncRecord:
    ev = event(event_type, **overrides)
    return SyncRecord(key=str(ev.get("call_id")), event=ev, operation=operation, hints=hints or {})
