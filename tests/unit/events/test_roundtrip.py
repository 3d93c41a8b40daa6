"""model -> Avro bytes -> model is the identity, for varied events and contacts."""

from __future__ import annotations

import io
import uuid
from datetime import UTC, date, datetime

import fastavro
import pytest

from pipeline.events import (
    ActionItem,
    CallEvent,
    CallStarted,
    CallSummary,
    Contact,
    RecordingAvailable,
    Sentiment,
    TranscriptSegment,
)
from pipeline.schema_catalog import load_schema
from pipeline.simulate import build_scenario

CALL_SCHEMA = fastavro.parse_schema(load_schema("voice/call_event.avsc"))
CONTACT_SCHEMA = fastavro.parse_schema(load_schema("crm/contact.avsc"))


def avro_bytes(schema, record: dict) -> bytes:
    out = io.BytesIO()
    fastavro.schemaless_writer(out, schema, record)
    return out.getvalue()


def read(schema, data: bytes, **kwargs):
    return fastavro.schemaless_reader(io.BytesIO(data), schema, **kwargs)


def edge_cases() -> list[CallEvent]:
    at = datetime(1999, 12, 31, 23, 59, 59, 999000, tzinfo=UTC)
    common = {"tenant_id": "t-ü", "call_id": "c/1", "source": "genesys", "occurred_at": at}
    return [
        CallEvent.create(
            CallStarted(
                direction="OUTBOUND",
                from_number="+19",
                to_number="+999999999999999",
                agent="",
                queue="q",
                language="ja-JP",
            ),
            event_id=uuid.UUID(int=0),
            **common,
        ),
        CallEvent.create(
            TranscriptSegment(
                sequence=2**31 - 1,
                speaker="UNKNOWN",
                text="",
                start_ms=0,
                end_ms=2**40,
                confidence=0.0,
            ),
            **common,
        ),
        CallEvent.create(
            CallSummary(
                summary="😀 émoji",
                sentiment=Sentiment.MIXED,
                action_items=[
                    ActionItem(description="d", owner=None, due_date=date(1970, 1, 1)),
                    ActionItem(description="e", kind="email"),
                ],
            ),
            **common,
        ),
        CallEvent.create(
            RecordingAvailable(
                url="s3://b/k", duration_s=0, format="ogg", checksum="sha256:" + "0" * 64
            ),
            **common,
        ),
    ]


def varied_events() -> list[CallEvent]:
    scenario = build_scenario(6, seed=11)
    return [e for call in scenario.calls for e in call] + edge_cases()


@pytest.mark.parametrize("event", varied_events(), ids=lambda e: e.event_type.value)
def test_call_event_round_trip(event: CallEvent) -> None:
    data = avro_bytes(CALL_SCHEMA, event.to_avro())
    assert CallEvent.from_avro(read(CALL_SCHEMA, data)) == event
    # the union branch written is the payload's own record, chosen explicitly
    named = read(CALL_SCHEMA, data, return_record_name=True)
    assert named["payload"][0] == event.payload.avro_name
    assert CallEvent.from_avro(named) == event


def test_contact_round_trip() -> None:
    contacts = build_scenario(8, seed=3).contacts
    contacts.append(
        Contact(
            crm="hubspot",
            record_id="1",
            record_type="ACCOUNT",
            tenant_id="t",
            name="",
            updated_at=datetime(2030, 5, 5, tzinfo=UTC),
        )
    )
    for contact in contacts:
        data = avro_bytes(CONTACT_SCHEMA, contact.to_avro())
        assert Contact.from_avro(read(CONTACT_SCHEMA, data)) == contact


def test_to_avro_uses_plain_values() -> None:
    event = edge_cases()[0]
    record = event.to_avro()
    assert record["event_id"] == "00000000-0000-0000-0000-000000000000"
    assert record["event_type"] == "call_started" and type(record["event_type"]) is str
    name, payload = record["payload"]
    assert name == "io.voicebus.voice.CallStarted"
    assert isinstance(payload["direction"], str) and payload["direction"] == "OUTBOUND"
