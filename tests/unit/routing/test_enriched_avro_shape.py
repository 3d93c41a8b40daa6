"""Route and redact events exactly as fastavro decodes schemas/voice/enriched_call_event.avsc."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path

import fastavro

from pipeline.processors.redaction import redact_event
from pipeline.processors.routing import Router

REPO = Path(__file__).resolve().parents[3]
SCHEMA = fastavro.parse_schema(
    json.loads((REPO / "schemas" / "voice" / "enriched_call_event.avsc").read_text())
)
NOW = datetime(2026, 11, 24, 21, 0, tzinfo=UTC)


def round_trip(record: dict) -> dict:
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, SCHEMA, record)
    buffer.seek(0)
    return fastavro.schemaless_reader(buffer, SCHEMA, SCHEMA)


def enriched_summary(sentiment: str, intents: list[str], text: str) -> dict:
    return {
        "event_id": "6f1f6f0e-3b1a-4d7e-9c38-2f0d5c6a1b11",
        "event_type": "call_summary",
        "occurred_at": NOW,
        "tenant_id": "acme",
        "call_id": "call-1",
        "source": "twilio",
        "schema_version": 1,
        "payload": {
            "summary": text,
            "sentiment": sentiment,
            "intents": intents,
            "action_items": [
                {"description": text, "owner": None, "due_date": None, "kind": "task"}
            ],
            "topics": [],
        },
        "customer": {
            "matched": True,
            "ambiguous": False,
            "lookup_number": "+14155550123",
            "match": {
                "crm": "hubspot",
                "record_id": "501",
                "record_type": "CONTACT",
                "name": "Jane Roe",
                "account": None,
                "owner": None,
                "email": "jane.roe@example.com",
                "updated_at": NOW,
            },
            "candidates": [],
            "open_deal": None,
            "open_ticket": None,
            "context": {},
        },
        "call": {
            "started_at": NOW,
            "ended_at": NOW,
            "first_event_at": NOW,
            "last_event_at": NOW,
            "events_seen": 3,
            "segments_seen": 1,
            "talk_time_ms": {"CUSTOMER": 1200},
            "duration_s": 95,
            "disposition": "resolved",
            "direction": "INBOUND",
            "from_number": "+14155550123",
            "to_number": "+18005550199",
            "queue": "support",
            "agent": None,
            "language": "en-US",
            "sentiment": sentiment,
            "intents": intents,
            "has_summary": True,
            "has_recording": False,
            "complete": True,
        },
        "processed_at": NOW,
    }


def test_decoded_enriched_event_routes_and_redacts():
    text = "Card 4111 1111 1111 1111, mail jane.roe@example.com"
    decoded = round_trip(enriched_summary("NEGATIVE", ["complaint", "follow_up"], text))
    router = Router.from_file(REPO / "config" / "routes.yaml")

    decisions = {d.target: d for d in router.route(decoded)}
    slack = redact_event(decoded, decisions["slack"].redaction)
    salesforce = redact_event(decoded, decisions["salesforce"].redaction)
    strict = redact_event(decoded, "strict")

    assert set(decisions) == {"slack", "zendesk", "salesforce", "gmail"}
    assert slack["payload"]["summary"] == "Card [CARD ****1111], mail [EMAIL]"
    assert slack["payload"]["action_items"][0]["description"] == slack["payload"]["summary"]
    assert salesforce["payload"]["summary"] == text
    assert strict["customer"]["match"]["name"] == "[NAME]"
    assert strict["customer"]["lookup_number"] == "[PHONE ***23]"
    assert strict["call"]["to_number"] == "[PHONE ***99]"
    # the redacted event still fits the schema (sinks re-encode it)
    for variant in (slack, salesforce, strict):
        assert round_trip(variant)["payload"]["sentiment"] == "NEGATIVE"


def test_duration_and_direction_come_from_the_decoded_aggregate():
    decoded = round_trip(enriched_summary("POSITIVE", [], "thanks"))
    router = Router.from_yaml(
        "version: 1\nrules:\n  - name: long-inbound\n"
        "    when: {direction: [INBOUND], min_duration_s: 90, queue: [support]}\n"
        "    then: [{target: hubspot, operation: log_call}]\n"
    )

    assert [d.rule for d in router.route(decoded)] == ["long-inbound"]
