"""Realistic call-event records for the registry tests."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any


def call_summary_event(**summary_extra: Any) -> dict[str, Any]:
    """A CallSummary event as an AI voice agent would publish it after a support call."""
    return {
        "event_id": uuid.uuid4(),
        "event_type": "call_summary",
        "occurred_at": dt.datetime(2026, 11, 24, 20, 15, 30, 123000, tzinfo=dt.UTC),
        "tenant_id": "acme-support",
        "call_id": "CA9f8e7d6c5b4a39281706f5e4d3c2b1a0",
        "source": "vapi",
        "schema_version": 1,
        "payload": (
            "io.voicebus.voice.CallSummary",
            {
                "summary": "Customer reported a double charge on the November invoice; "
                "agent issued a refund and scheduled a follow-up call.",
                "sentiment": "MIXED",
                "intents": ["billing_dispute", "refund_request"],
                "action_items": [
                    {
                        "description": "Confirm refund posted to card ending 4242",
                        "owner": "billing-team",
                        "due_date": dt.date(2026, 11, 28),
                        "kind": "task",
                    },
                    {
                        "description": "Follow-up call with customer",
                        "owner": None,
                        "due_date": None,
                        "kind": "meeting",
                    },
                ],
                "topics": ["billing", "refund"],
                **summary_extra,
            },
        ),
    }


def without_union_tag(event: dict[str, Any]) -> dict[str, Any]:
    """The record as a deserializer returns it (union branch as a plain dict)."""
    plain = dict(event)
    plain["payload"] = dict(event["payload"][1])
    return plain
