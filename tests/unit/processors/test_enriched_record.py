"""The enriched record matches its Avro schema and keeps the CallEvent envelope as is."""

from __future__ import annotations

import io
import json
import uuid

import fastavro

from pipeline import headers as h
from pipeline.processors.call_state import apply_event
from pipeline.processors.customers import ContactIndex, unmatched
from pipeline.processors.dlq import dead_letter_headers
from pipeline.processors.enrich import build_enriched, to_avro
from pipeline.processors.routing_hook import plan_routes
from pipeline.serde import load_schema


def test_envelope_fields_and_payload_union_identical_to_call_event():
    enriched = load_schema("voice/enriched_call_event.avsc")
    original = load_schema("voice/call_event.avsc")
    fields = {f["name"]: f for f in enriched["fields"]}
    for f in original["fields"]:
        assert fields[f["name"]] == f  # same name, type (payload union included), default


def _roundtrip(record: dict) -> dict:
    schema = fastavro.parse_schema(load_schema("voice/enriched_call_event.avsc"))
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, schema, to_avro(record))
    buf.seek(0)
    return fastavro.schemaless_reader(buf, schema)


def test_every_event_type_encodes_with_customer_and_call():
    index = ContactIndex()
    index.apply(
        "hubspot:1",
        {
            "crm": "hubspot",
            "record_id": "1",
            "record_type": "CONTACT",
            "tenant_id": "t",
            "name": "Ann",
            "phone_numbers": ["+14155550111"],
            "updated_at": 5,
        },
    )
    payloads = {
        "call_started": {
            "direction": "INBOUND",
            "from_number": "+14155550111",
            "to_number": "+14155550100",
            "agent": None,
            "queue": "billing",
            "language": "en-US",
        },
        "transcript_segment": {
            "sequence": 1,
            "speaker": "CUSTOMER",
            "text": "hi",
            "start_ms": 0,
            "end_ms": 900,
            "confidence": 0.5,
        },
        "call_ended": {
            "duration_s": 30,
            "disposition": "resolved",
            "hangup_cause": "normal_clearing",
        },
        "call_summary": {
            "summary": "s",
            "sentiment": "POSITIVE",
            "intents": ["x"],
            "action_items": [],
            "topics": [],
        },
        "recording_available": {
            "url": "https://r",
            "duration_s": 30,
            "format": "wav",
            "checksum": "sha256:00",
        },
    }
    state = None
    for offset, (etype, payload) in enumerate(payloads.items()):
        event = {
            "event_id": str(uuid.uuid4()),
            "event_type": etype,
            "occurred_at": 1000 + offset,
            "tenant_id": "t",
            "call_id": "c",
            "source": "vapi",
            "schema_version": 1,
            "payload": payload,
        }
        state = apply_event(state, event, offset).state
        customer = index.match("t", "+14155550111")
        record = build_enriched(event, state, customer, processed_at=99)
        back = _roundtrip(record)
        assert (
            str(back["event_id"]) == event["event_id"]
            and back["payload"] == payload | back["payload"]
        )
        assert back["customer"]["match"]["name"] == "Ann"
        assert back["call"]["events_seen"] == offset + 1
    assert back["call"]["complete"] and back["call"]["has_recording"]
    assert back["call"]["talk_time_ms"] == {"CUSTOMER": 900}


def test_unknown_customer_encodes():
    event = {
        "event_id": str(uuid.uuid4()),
        "event_type": "call_ended",
        "occurred_at": 1,
        "tenant_id": "t",
        "call_id": "c",
        "source": "s",
        "payload": {"duration_s": 1, "disposition": "d", "hangup_cause": "h"},
    }
    state = apply_event(None, event, 0).state
    back = _roundtrip(build_enriched(event, state, unmatched(None), processed_at=1))
    assert back["customer"]["matched"] is False and back["call"]["started_at"] is None


class FakeDecision:
    def __init__(self, target: str, redaction: str) -> None:
        self.target, self.operation, self.hints, self.rule, self.redaction = (
            target,
            "op",
            {"a": 1},
            "r1",
            redaction,
        )


class FakeRouter:
    def route(self, enriched):
        return [FakeDecision("slack", "standard"), FakeDecision("salesforce", "none")]


def test_plan_routes_redacts_per_decision_and_sets_headers():
    seen = []

    def redact(record, policy):
        seen.append(policy)
        return {**record, "policy": policy}

    routed = plan_routes(
        {"call_id": "c"}, FakeRouter(), redact, [(h.TRACEPARENT, b"00-abc-def-01")]
    )
    assert [r.topic for r in routed] == ["sync.slack", "sync.salesforce"]
    assert seen == ["standard", "none"] and routed[0].value["policy"] == "standard"
    hdrs = dict(routed[0].headers)
    assert hdrs[h.OPERATION] == b"op" and json.loads(hdrs[h.HINTS]) == {"a": 1}
    assert hdrs[h.ROUTE] == b"r1" and hdrs[h.REDACTION] == b"standard"
    assert hdrs[h.TRACEPARENT] == b"00-abc-def-01"
    assert plan_routes({"call_id": "c"}, None, redact) == []


def test_dead_letter_headers_keep_originals_and_replace_old_errors():
    out = dead_letter_headers(
        [("x-origin", b"a"), (h.ERROR_CLASS, b"old")],
        error_class="decode",
        message="bad-magic: nope",
        topic="voice.call-events",
        partition=2,
        offset=41,
    )
    names = [k for k, _ in out]
    assert names.count(h.ERROR_CLASS) == 1 and ("x-origin", b"a") in out
    d = dict(out)
    assert (
        d[h.ERROR_CLASS] == b"decode"
        and d[h.SOURCE_PARTITION] == b"2"
        and d[h.SOURCE_OFFSET] == b"41"
    )
    assert d[h.ATTEMPTS] == b"1" and d[h.FIRST_FAILURE_AT] == d[h.LAST_FAILURE_AT]
