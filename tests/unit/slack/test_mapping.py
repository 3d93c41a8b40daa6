"""Records -> Slack operations and Block Kit messages."""

from __future__ import annotations

import pytest

from connectors.base.connector import SyncRecord
from connectors.base.errors import DataError, PermanentError
from connectors.slack.mapping import (
    ThreadRef,
    escape,
    map_record,
    summary_message,
    thread_key,
)
from tests.integration.slack.conftest import enriched_event


def record(event, operation="post_summary", hints=None):
    return SyncRecord(
        key=event.get("call_id", ""),
        event=event,
        operation=operation,
        hints={"channel": "#support"} if hints is None else hints,
    )


def test_summary_blocks_have_header_section_fields_and_context():
    event = enriched_event()
    message = summary_message(event)
    kinds = [b["type"] for b in message["blocks"]]
    assert kinds == ["header", "section", "context"]
    fields = [f["text"] for f in message["blocks"][1]["fields"]]
    assert fields[0] == "*Sentiment*\nNEGATIVE"
    assert fields[1] == "*Intents*\nlogin_issue, refund"
    assert fields[2] == "*Duration*\n3m 12s"
    assert fields[3] == "*Customer*\nJ. D. (Acme Corp)"
    context = message["blocks"][2]["elements"][0]["text"]
    assert event["call_id"] in context and event["event_id"] in context
    assert "&lt;refund&gt;" in message["blocks"][1]["text"]["text"]
    assert message["text"]  # notification fallback


def test_limits_are_respected_for_huge_summaries():
    event = enriched_event()
    event["payload"]["summary"] = "x" * 10_000
    message = summary_message(event)
    assert len(message["blocks"][1]["text"]["text"]) <= 3000
    assert len(message["blocks"][0]["text"]["text"]) <= 150
    assert len(message["text"]) <= 300


def test_one_operation_per_record_keyed_by_event_and_channel():
    event = enriched_event()
    [op] = map_record(record(event), None)
    assert op.kind == "post_summary"
    assert op.idempotency_key == f"{event['event_id']}:post_summary@#support"
    assert op.payload["thread_key"] == thread_key(event["call_id"], "#support")
    assert op.payload["parent_is_reply"] is True
    insight = enriched_event("transcript_segment", call_id=event["call_id"])
    [op2] = map_record(record(insight, operation=None), None)
    assert op2.kind == "post_insight" and op2.payload["thread_key"] == op.payload["thread_key"]
    assert op2.payload["parent"]["text"].startswith("Call in progress")


def test_default_channel_and_errors():
    event = enriched_event()
    [op] = map_record(record(event, hints={}), "#fallback")
    assert op.payload["channel"] == "#fallback"
    with pytest.raises(PermanentError, match="hints.channel"):
        map_record(record(event, hints={}), None)
    with pytest.raises(PermanentError, match="unknown operation 'log_call'"):
        map_record(record(event, operation="log_call"), None)
    del event["call_id"]
    with pytest.raises(DataError, match="'call_id'"):
        map_record(record(event), None)


def test_post_summary_needs_a_summary():
    event = enriched_event("transcript_segment")
    with pytest.raises(DataError, match="payload.summary"):
        map_record(record(event), None)


def test_thread_ref_round_trip_and_escape():
    ref = ThreadRef("C0123", "1700000000.000100", "ev-1")
    assert ThreadRef.decode(ref.encode()) == ref
    assert ThreadRef.decode("garbage") is None
    assert escape("<!channel> & <http://x|y>") == "&lt;!channel&gt; &amp; &lt;http://x|y&gt;"


def test_avro_uuid_event_ids_are_accepted():
    """fastavro decodes ``logicalType: uuid`` to ``uuid.UUID``: the sink hands us that."""
    import uuid

    event = enriched_event()
    event["event_id"] = uuid.UUID(event["event_id"])
    [op] = map_record(record(event), None)
    assert op.idempotency_key == f"{event['event_id']}:post_summary@#support"
    assert op.payload["event_id"] == str(event["event_id"])
