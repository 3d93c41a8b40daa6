"""Customer matching and per-call state on the real broker: an ambiguous number, a contact
published after the call started, events out of order, a duplicate publish and a deal from
business.events."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from pipeline.events import (
    CallDirection,
    CallEnded,
    CallEvent,
    CallStarted,
    CallSummary,
    Contact,
    RecordType,
    Sentiment,
    SpeakerRole,
    TranscriptSegment,
)
from pipeline.producer import CallEventProducer
from pipeline.serde import AvroCodec, load_schema
from pipeline.topics import BUSINESS_EVENTS_TOPIC, ENRICHED_TOPIC
from tests.integration.processors.conftest import TopicReader

pytestmark = pytest.mark.integration

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
SHARED = "+14155550111"  # a contact and a lead
LATE = "+14155550122"  # nobody until the call is under way
COMPANY = "+14155550100"


def contact(record_id: str, rtype: RecordType, number: str, updated: datetime) -> Contact:
    return Contact(
        crm="salesforce",
        record_id=record_id,
        record_type=rtype,
        tenant_id="acme",
        name=f"Person {record_id}",
        phone_numbers=[number],
        email=f"{record_id.lower()}@example.com",
        updated_at=updated,
    )


def event(call_id: str, payload, at: datetime) -> CallEvent:
    return CallEvent.create(
        payload, tenant_id="acme", call_id=call_id, source="vapi", occurred_at=at
    )


def started(number: str) -> CallStarted:
    return CallStarted(direction=CallDirection.INBOUND, from_number=number, to_number=COMPANY)


def segment(seq: int, speaker=SpeakerRole.CUSTOMER) -> TranscriptSegment:
    return TranscriptSegment(
        sequence=seq,
        speaker=speaker,
        text="hello",
        start_ms=seq * 1000,
        end_ms=seq * 1000 + 800,
        confidence=0.9,
    )


def test_ambiguous_late_out_of_order_duplicate_and_business_context(fresh_settings, workers):
    codec = AvroCodec(fresh_settings)
    reader = TopicReader(fresh_settings, ENRICHED_TOPIC)

    def decoded() -> list[dict]:
        return [codec.decode(m.value()) for m in reader.records]

    def wait_for(pred, timeout_s=60.0):
        reader.poll_until(
            lambda _: pred(decoded()), timeout_s=timeout_s, alive=lambda: worker.proc.poll() is None
        )
        return decoded()

    ambiguous_call, late_call, ooo_call = "call-amb", "call-late", "call-ooo"
    with CallEventProducer(fresh_settings) as producer:
        producer.publish_contact(
            contact("003A", RecordType.CONTACT, SHARED, T0 - timedelta(days=30))
        )
        producer.publish_contact(contact("00QB", RecordType.LEAD, SHARED, T0 - timedelta(days=1)))
        # business context for the contact: a deal opened, a ticket opened then closed
        business_schema = load_schema("business/business_event.avsc")
        for etype, attrs, minutes in (
            ("deal_opened", {"deal_id": "D1", "stage": "proposal"}, 1),
            ("ticket_opened", {"ticket_id": "T1"}, 2),
            ("ticket_closed", {"ticket_id": "T1"}, 3),
        ):
            value = codec.encode(
                {
                    "event_id": str(uuid.uuid4()),
                    "event_type": etype,
                    "occurred_at": T0 - timedelta(hours=1) + timedelta(minutes=minutes),
                    "tenant_id": "acme",
                    "subject_ref": "salesforce:003A",
                    "attributes": attrs,
                },
                subject="business.events-value",
                schema=business_schema,
            )
            producer.publish_raw(BUSINESS_EVENTS_TOPIC, "salesforce:003A", value)
        amb = [
            event(ambiguous_call, started(SHARED), T0),
            event(ambiguous_call, segment(1), T0 + timedelta(seconds=5)),
        ]
        for e in amb:
            producer.publish(e)
        producer.publish(amb[1])  # the same event again (producer-side duplicate)
        # out of order: summary, ended, started, then a segment
        ooo = [
            event(
                ooo_call,
                CallSummary(summary="s", sentiment=Sentiment.NEGATIVE, intents=["complaint"]),
                T0 + timedelta(minutes=9),
            ),
            event(
                ooo_call,
                CallEnded(duration_s=300, disposition="resolved", hangup_cause="normal_clearing"),
                T0 + timedelta(minutes=5),
            ),
            event(ooo_call, started(SHARED), T0),
            event(ooo_call, segment(1, SpeakerRole.AGENT), T0 + timedelta(seconds=30)),
        ]
        for e in ooo:
            producer.publish(e)
        late = [
            event(late_call, started(LATE), T0),
            event(late_call, segment(1), T0 + timedelta(seconds=3)),
        ]
        for e in late:
            producer.publish(e)
    worker = workers.start()

    records = wait_for(
        lambda rs: (
            {r["call_id"] for r in rs} >= {ambiguous_call, ooo_call, late_call} and len(rs) >= 8
        )
    )
    by_call: dict[str, list[dict]] = {}
    for r in records:
        by_call.setdefault(r["call_id"], []).append(r)

    # ambiguous: CONTACT beats a more recently updated LEAD; both listed, best first
    assert [str(r["event_id"]) for r in by_call[ambiguous_call]] == [
        str(e.event_id) for e in amb
    ]  # duplicate dropped
    cust = by_call[ambiguous_call][-1]["customer"]
    assert cust["matched"] and cust["ambiguous"]
    assert cust["match"]["record_id"] == "003A"
    assert [c["record_id"] for c in cust["candidates"]] == ["003A", "00QB"]
    # business context: open deal, the ticket was closed
    assert cust["open_deal"]["attributes"] == {"deal_id": "D1", "stage": "proposal"}
    assert cust["open_ticket"] is None

    # out of order: merged into one picture
    o = by_call[ooo_call]
    assert [r["event_type"] for r in o] == [
        "call_summary",
        "call_ended",
        "call_started",
        "transcript_segment",
    ]
    assert o[0]["customer"]["matched"] is False and o[0]["customer"]["lookup_number"] is None
    assert o[0]["call"]["has_summary"] and o[0]["call"]["started_at"] is None
    assert o[1]["call"]["sentiment"] == "NEGATIVE" and o[1]["call"]["duration_s"] == 300
    assert o[2]["call"]["complete"] is True and o[2]["customer"]["matched"] is True
    last = o[3]["call"]
    assert last["segments_seen"] == 1 and last["talk_time_ms"] == {"AGENT": 800}
    assert last["intents"] == ["complaint"] and last["disposition"] == "resolved"
    assert last["first_event_at"] == T0 and last["last_event_at"] == T0 + timedelta(minutes=9)

    # unknown caller flagged, not dropped
    assert [r["customer"]["matched"] for r in by_call[late_call]] == [False, False]
    assert by_call[late_call][0]["customer"]["lookup_number"] == LATE

    # the contact appears while the call goes on: later events of the call pick it up
    with CallEventProducer(fresh_settings) as producer:
        producer.publish_contact(contact("003L", RecordType.CONTACT, LATE, T0), wait=True)
    seq = 2
    deadline = time.monotonic() + 60
    matched = None
    while matched is None and time.monotonic() < deadline:
        with CallEventProducer(fresh_settings) as producer:
            producer.publish(event(late_call, segment(seq), T0 + timedelta(seconds=seq * 3)))
        seq += 1
        rs = wait_for(lambda rs: sum(r["call_id"] == late_call for r in rs) >= seq, timeout_s=10)
        matched = next(
            (r for r in rs if r["call_id"] == late_call and r["customer"]["matched"]), None
        )
    reader.close()
    assert matched is not None, worker.log()[-3000:]
    assert matched["customer"]["match"]["record_id"] == "003L"
    assert matched["call"]["segments_seen"] == matched["call"]["events_seen"] - 1
