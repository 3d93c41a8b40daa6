"""Pure logic of the processors: per-call merge and dedupe, customer index, business context."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from pipeline.processors.business import BusinessContext
from pipeline.processors.call_state import DEDUPE_WINDOW, Disposition, apply_event, call_aggregate
from pipeline.processors.customers import ContactIndex, lookup_number, normalise_number

T0 = 1_767_600_000_000


def ev(event_type: str, payload: dict, at: int = T0, event_id: str | None = None) -> dict:
    return {
        "event_id": event_id or str(uuid.uuid4()),
        "event_type": event_type,
        "occurred_at": at,
        "tenant_id": "acme",
        "call_id": "c1",
        "source": "vapi",
        "schema_version": 1,
        "payload": payload,
    }


STARTED = {"direction": "INBOUND", "from_number": "+14155550111", "to_number": "+14155550100"}


def seg(speaker: str, start: int, end: int) -> dict:
    return {
        "sequence": 1,
        "speaker": speaker,
        "text": "x",
        "start_ms": start,
        "end_ms": end,
        "confidence": 0.9,
    }


def test_out_of_order_events_merge_into_one_picture():
    state = None
    for offset, e in enumerate(
        [
            ev(
                "call_summary",
                {"summary": "s", "sentiment": "NEGATIVE", "intents": ["cancel"]},
                T0 + 9000,
            ),
            ev(
                "call_ended",
                {"duration_s": 42, "disposition": "resolved", "hangup_cause": "n"},
                T0 + 5000,
            ),
            ev("transcript_segment", seg("AGENT", 0, 1500), T0 + 1000),
            ev("transcript_segment", seg("CUSTOMER", 1500, 2000), T0 + 2000),
            ev("call_started", STARTED, T0),
        ]
    ):
        update = apply_event(state, e, offset)
        assert update.disposition is Disposition.NEW
        state = update.state
    call = call_aggregate(state)
    assert call["complete"] and call["has_summary"]
    assert call["started_at"] == T0 and call["ended_at"] == T0 + 5000
    assert call["first_event_at"] == T0 and call["last_event_at"] == T0 + 9000
    assert call["talk_time_ms"] == {"AGENT": 1500, "CUSTOMER": 500}
    assert call["segments_seen"] == 2 and call["events_seen"] == 5
    assert (
        call["duration_s"] == 42
        and call["sentiment"] == "NEGATIVE"
        and call["intents"] == ["cancel"]
    )
    assert lookup_number(state) == "+14155550111"


def test_incomplete_without_call_started_and_number_unknown():
    state = apply_event(
        None, ev("call_ended", {"duration_s": 1, "disposition": "d", "hangup_cause": "h"}), 0
    ).state
    assert call_aggregate(state)["complete"] is False
    assert lookup_number(state) is None


def test_duplicate_publish_dropped_but_reread_of_same_offset_replayed():
    e = ev("transcript_segment", seg("AGENT", 0, 100))
    state = apply_event(None, e, 7).state
    again = apply_event(state, e, 7)  # same record read again after a restart
    assert again.disposition is Disposition.REPLAY and again.state["events_seen"] == 1
    dup = apply_event(state, e, 9)  # same event published twice
    assert dup.disposition is Disposition.DUPLICATE and dup.state["talk_time_ms"] == {"AGENT": 100}


def test_dedupe_window_is_bounded():
    state = None
    first = ev("transcript_segment", seg("AGENT", 0, 1))
    state = apply_event(state, first, 0).state
    for i in range(DEDUPE_WINDOW):
        state = apply_event(state, ev("transcript_segment", seg("AGENT", 0, 1)), i + 1).state
    assert len(state["recent"]) == DEDUPE_WINDOW
    assert apply_event(state, first, 999).disposition is Disposition.NEW  # fell out of the window


def contact(rid: str, rtype: str, numbers: list[str], updated: int, tenant: str = "acme") -> dict:
    return {
        "crm": "salesforce",
        "record_id": rid,
        "record_type": rtype,
        "tenant_id": tenant,
        "name": rid,
        "account": None,
        "owner": None,
        "phone_numbers": numbers,
        "email": None,
        "updated_at": datetime.fromtimestamp(updated, UTC),
    }


def test_match_priority_contact_over_lead_then_newest_and_ambiguous():
    index = ContactIndex()
    index.apply("salesforce:L1", contact("L1", "LEAD", ["+14155550111"], 300))
    index.apply("salesforce:C_old", contact("C_old", "CONTACT", ["+1 415-555-0111"], 100))
    index.apply("salesforce:C_new", contact("C_new", "CONTACT", ["+14155550111"], 200))
    index.apply("salesforce:A1", contact("A1", "ACCOUNT", ["+14155550111"], 400))
    m = index.match("acme", "+14155550111")
    assert m["matched"] and m["ambiguous"]
    assert m["match"]["record_id"] == "C_new"
    assert [c["record_id"] for c in m["candidates"]] == ["C_new", "C_old", "L1", "A1"]
    assert index.match("other-tenant", "+14155550111")["matched"] is False


def test_updates_and_tombstones_keep_the_index_right():
    index = ContactIndex()
    index.apply("salesforce:C1", contact("C1", "CONTACT", ["+14155550111"], 1))
    index.apply("salesforce:C1", contact("C1", "CONTACT", ["+14155550122"], 2))  # number changed
    assert index.match("acme", "+14155550111")["matched"] is False
    assert index.match("acme", "+14155550122")["match"]["record_id"] == "C1"
    index.apply("salesforce:C1", None)
    assert index.match("acme", "+14155550122")["matched"] is False and len(index) == 0
    unknown = index.match("acme", "not a number")
    assert unknown["matched"] is False and unknown["candidates"] == []


def test_normalise_number_is_strict_e164():
    assert normalise_number("+44 20 7946 0958") == "+442079460958"
    assert normalise_number("0044 20 7946 0958") == "+442079460958"
    assert normalise_number("020 7946 0958") is None
    assert normalise_number(None) is None


def test_business_context_keeps_latest_open_items_and_closes():
    ctx = BusinessContext()

    def b(etype: str, at: int, **attrs: str) -> dict:
        return {
            "event_id": str(uuid.uuid4()),
            "event_type": etype,
            "occurred_at": at,
            "tenant_id": "acme",
            "subject_ref": "salesforce:C1",
            "attributes": attrs,
        }

    ctx.apply(b("deal_opened", 1, stage="proposal"))
    ctx.apply(b("deal_stage_changed", 3, stage="negotiation"))
    ctx.apply(b("deal_stage_changed", 2, stage="stale"))  # older than what we have: ignored
    ctx.apply(b("ticket_opened", 4, ticket_id="T1"))
    ctx.apply(b("ticket_updated", 5, ticket_id="T1", status="resolved"))
    ctx.apply(b("incident_opened", 6))
    customer = {"match": {"crm": "salesforce", "record_id": "C1"}}
    ctx.annotate(customer)
    assert customer["open_deal"]["attributes"] == {"stage": "negotiation"}
    assert customer["open_ticket"] is None
    assert list(customer["context"]) == ["incident"]
