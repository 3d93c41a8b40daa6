"""Validation of call events and contacts: precise errors naming the field, no PII echoed."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest
from pydantic import ValidationError

from pipeline.events import (
    ActionItem,
    CallEnded,
    CallEvent,
    CallStarted,
    CallSummary,
    Contact,
    EventType,
    Sentiment,
    TranscriptSegment,
    is_e164,
)


def started_event(**overrides: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "event_id": str(uuid.uuid4()),
        "event_type": "call_started",
        "occurred_at": "2026-03-01T10:00:00.123456Z",
        "tenant_id": "acme",
        "call_id": "call-1",
        "source": "twilio",
        "payload": {
            "direction": "INBOUND",
            "from_number": "+14155550123",
            "to_number": "+14155550100",
        },
    }
    event.update(overrides)
    return event


def locs(exc: ValidationError) -> set[tuple[Any, ...]]:
    return {tuple(e["loc"]) for e in exc.errors()}


def test_valid_event_fills_defaults_and_normalises_time() -> None:
    event = CallEvent.model_validate(started_event(occurred_at="2026-03-01T11:00:00.123456+01:00"))
    assert event.event_type is EventType.CALL_STARTED
    assert isinstance(event.payload, CallStarted)
    assert event.payload.language == "en-US" and event.payload.agent is None
    assert event.schema_version == 1
    # timestamp-millis: UTC, microseconds cut to milliseconds
    assert event.occurred_at == datetime(2026, 3, 1, 10, 0, 0, 123000, tzinfo=UTC)


def test_unknown_payload_field_is_named() -> None:
    bad = started_event()
    bad["payload"]["caller_name"] = "Jane"
    with pytest.raises(ValidationError) as info:
        CallEvent.model_validate(bad)
    assert locs(info.value) == {("payload", "caller_name")}


def test_unknown_envelope_field_and_wrong_type_are_named_together() -> None:
    bad = started_event(priority="high", schema_version="two")
    bad["payload"]["direction"] = "SIDEWAYS"
    with pytest.raises(ValidationError) as info:
        CallEvent.model_validate(bad)
    assert locs(info.value) == {("priority",), ("schema_version",), ("payload", "direction")}


@pytest.mark.parametrize(
    "number", ["2125550147", "+1 212 555 0147", "+0123456", "+1212555014712345", "tel:+1212"]
)
def test_non_e164_numbers_are_rejected_without_echoing_them(number: str) -> None:
    bad = started_event()
    bad["payload"]["from_number"] = number
    with pytest.raises(ValidationError) as info:
        CallEvent.model_validate(bad)
    assert locs(info.value) == {("payload", "from_number")}
    assert "E.164" in str(info.value)
    assert number not in str(info.value)  # PII stays out of error text


def test_e164_helper() -> None:
    assert is_e164("+442079460000")
    assert not is_e164("+44 20 7946 0000")


def test_event_type_must_match_payload_model() -> None:
    payload = CallEnded(duration_s=10, disposition="resolved", hangup_cause="normal_clearing")
    with pytest.raises(ValidationError) as info:
        CallEvent.model_validate(started_event(payload=payload))
    assert locs(info.value) == {("payload",)}
    assert "needs a CallStarted payload, got CallEnded" in str(info.value)


def test_payload_dict_of_another_type_is_explained() -> None:
    with pytest.raises(ValidationError) as info:
        CallEvent.model_validate(started_event(event_type="call_ended"))
    assert locs(info.value) == {("payload",)}
    assert "this is a CallStarted payload but event_type is 'call_ended'" in str(info.value)


def test_unknown_event_type_is_reported_on_event_type_only() -> None:
    with pytest.raises(ValidationError) as info:
        CallEvent.model_validate(started_event(event_type="call_transferred"))
    assert locs(info.value) == {("event_type",)}


def test_naive_timestamp_is_rejected() -> None:
    with pytest.raises(ValidationError) as info:
        CallEvent.model_validate(started_event(occurred_at="2026-03-01T10:00:00"))
    assert locs(info.value) == {("occurred_at",)}


def test_missing_payload_and_empty_ids() -> None:
    bad = started_event(call_id="", tenant_id="")
    del bad["payload"]
    with pytest.raises(ValidationError) as info:
        CallEvent.model_validate(bad)
    assert {("call_id",), ("tenant_id",), ("payload",)} <= locs(info.value)


def test_transcript_segment_bounds() -> None:
    with pytest.raises(ValidationError) as info:
        TranscriptSegment(
            sequence=-1, speaker="AGENT", text="hi", start_ms=500, end_ms=100, confidence=1.5
        )
    assert locs(info.value) == {("sequence",), ("end_ms",), ("confidence",)}


def test_avro_int_range_is_enforced() -> None:
    with pytest.raises(ValidationError) as info:
        CallEnded(duration_s=2**31, disposition="resolved", hangup_cause="busy")
    assert locs(info.value) == {("duration_s",)}


def test_action_items_with_dates_and_create_infers_event_type() -> None:
    summary = CallSummary(
        summary="Demo requested",
        sentiment=Sentiment.POSITIVE,
        intents=["meeting_request"],
        action_items=[{"description": "Demo", "due_date": "2026-03-04", "kind": "meeting"}],
    )
    assert summary.action_items[0] == ActionItem(
        description="Demo", due_date=date(2026, 3, 4), kind="meeting"
    )
    event = CallEvent.create(summary, tenant_id="acme", call_id="c-9", source="vapi")
    assert event.event_type is EventType.CALL_SUMMARY
    assert event.occurred_at.tzinfo is UTC
    with pytest.raises(ValidationError) as info:
        CallSummary(summary="x", sentiment="ANGRY", action_items=[{"due_date": "soon"}])
    assert locs(info.value) == {
        ("sentiment",),
        ("action_items", 0, "description"),
        ("action_items", 0, "due_date"),
    }


def test_events_are_immutable() -> None:
    event = CallEvent.model_validate(started_event())
    with pytest.raises(ValidationError):
        event.call_id = "other"  # type: ignore[misc]


def test_contact_validation_and_key() -> None:
    contact = Contact(
        crm="salesforce",
        record_id="003A1",
        record_type="CONTACT",
        tenant_id="acme",
        name="Jane Doe",
        phone_numbers=["+14155550123"],
        email="jane@example.com",
        updated_at=datetime(2026, 1, 1, 12, tzinfo=timezone(timedelta(hours=2))),
    )
    assert contact.key == "salesforce:003A1"
    assert contact.updated_at == datetime(2026, 1, 1, 10, tzinfo=UTC)
    with pytest.raises(ValidationError) as info:
        Contact.model_validate(
            {
                **contact.model_dump(),
                "phone_numbers": ["+14155550123", "555-0100"],
                "email": "not-an-email",
                "record_type": "PERSON",
            }
        )
    assert locs(info.value) == {("phone_numbers", 1), ("email",), ("record_type",)}
    assert "555-0100" not in str(info.value)
