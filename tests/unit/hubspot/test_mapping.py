"""Enriched call events -> HubSpot operations and properties."""

from __future__ import annotations

import pytest

from connectors.base.errors import DataError, PermanentError
from connectors.hubspot.config import HUBSPOT_DISPOSITIONS
from connectors.hubspot.mapping import (
    KIND_CALL,
    KIND_CONTACT,
    KIND_DEAL,
    KIND_TASK,
    contact_ref,
    map_record,
)
from tests.unit.hubspot.helpers import event, record, settings


def test_call_ended_upserts_the_engagement_with_hubspot_properties():
    (op,) = map_record(record("call_ended"), settings())
    assert op.kind == KIND_CALL
    assert op.idempotency_key == "e-1:call"
    props = op.payload["properties"]
    assert props["voicebus_call_id"] == "call-1"
    assert props["hs_timestamp"] == "2025-11-24T19:59:00.000Z"  # the call's start
    assert props["hs_call_duration"] == "61000"  # milliseconds
    assert props["hs_call_direction"] == "INBOUND"
    assert props["hs_call_disposition"] == HUBSPOT_DISPOSITIONS["left_voicemail"]
    assert props["hs_call_status"] == "COMPLETED"
    assert props["hs_call_from_number"] == "+14155550100"
    assert props["hs_call_title"] == "Inbound call (billing)"
    assert all(isinstance(v, str) for v in props.values())
    assert op.payload["contact"] == {"id": None, "phones": ["+14155550100"]}


def test_call_started_is_in_progress_and_unknown_dispositions_are_left_out():
    (op,) = map_record(record("call_started"), settings())
    assert op.payload["properties"]["hs_call_status"] == "IN_PROGRESS"
    rec = record(
        "call_ended", payload={"duration_s": 1, "disposition": "martian", "hangup_cause": "x"}
    )
    (ended,) = map_record(rec, settings())
    assert "hs_call_disposition" not in ended.payload["properties"]


def test_disposition_map_is_configurable_from_the_environment(monkeypatch):
    monkeypatch.setenv("VOICEBUS_HUBSPOT_ACCESS_TOKEN", "pat-x")
    monkeypatch.setenv("VOICEBUS_HUBSPOT_DISPOSITIONS", '{"Voicemail": "guid-vm"}')
    from connectors.hubspot.config import HubSpotSettings

    (op,) = map_record(record("call_ended"), HubSpotSettings())
    assert op.payload["properties"]["hs_call_disposition"] == "guid-vm"


def test_recording_sets_the_recording_url():
    (op,) = map_record(record("recording_available"), settings())
    assert op.payload["properties"]["hs_call_recording_url"] == "https://rec.test/1.mp3"


def test_transcript_segments_make_no_operations():
    assert map_record(record("transcript_segment"), settings()) == []


def test_summary_logs_call_updates_contact_and_creates_one_task_per_action_item():
    items = [
        {
            "description": "Send the refund form",
            "owner": "ava",
            "due_date": 20_500,
            "kind": "email",
        },
        {"description": "Call back", "owner": None, "due_date": None, "kind": "task"},
    ]
    rec = record(
        "call_summary",
        payload={
            "summary": "Wants a refund.",
            "sentiment": "NEGATIVE",
            "intents": ["refund", "billing"],
            "action_items": items,
        },
    )
    ops = map_record(
        rec,
        settings(
            owner_ids={"ava": "77"},
            default_owner_id="1",
            transcript_url_template="https://v.test/{call_id}",
        ),
    )
    assert [o.kind for o in ops] == [KIND_CALL, KIND_CONTACT, KIND_TASK, KIND_TASK]
    body = ops[0].payload["properties"]["hs_call_body"]
    assert body.startswith("Wants a refund.") and "https://v.test/call-1" in body
    assert ops[1].payload["properties"] == {
        "voicebus_last_call_sentiment": "NEGATIVE",
        "voicebus_last_call_intents": "refund;billing",
    }
    first, second = ops[2].payload["properties"], ops[3].payload["properties"]
    assert [o.idempotency_key for o in ops[2:]] == ["e-1:0:task", "e-1:1:task"]
    assert first["voicebus_task_id"] == "e-1:0"
    assert first["hs_task_subject"] == "Send the refund form"
    assert first["hs_task_type"] == "EMAIL"
    assert first["hs_task_status"] == "NOT_STARTED"
    assert first["hs_task_priority"] == "MEDIUM"
    assert first["hs_timestamp"] == "2026-02-16T09:00:00.000Z"  # day 20500 since 1970
    assert first["hubspot_owner_id"] == "77"
    assert second["hubspot_owner_id"] == "1"
    assert second["hs_timestamp"] == "2025-11-25T20:00:00.000Z"  # occurred + 1 day


def test_insight_properties_can_be_switched_off():
    ops = map_record(
        record("call_summary"), settings(sentiment_property=None, intents_property=None)
    )
    assert [o.kind for o in ops] == [KIND_CALL]


def test_hubspot_match_names_the_contact_other_crms_fall_back_to_phone():
    match = {"crm": "hubspot", "record_id": "501", "record_type": "CONTACT"}
    ev = event(customer={"lookup_number": "+1555", "match": match})
    assert contact_ref(ev) == {"id": "501", "phones": ["+1555", "+14155550100"]}
    other = event(customer={"lookup_number": None, "match": {**match, "crm": "salesforce"}})
    assert contact_ref(other) == {"id": None, "phones": ["+14155550100"]}
    outbound = event(
        "call_started", call={"direction": "OUTBOUND", "to_number": "+1777"}, customer={}
    )
    assert contact_ref(outbound)["phones"][0] == "+1777"


@pytest.mark.parametrize("field", ["call_id", "event_id", "event_type"])
def test_missing_required_field_is_a_data_error_naming_it(field):
    rec = record("call_ended")
    ev = dict(rec.event)
    del ev[field]
    with pytest.raises(DataError, match=field):
        map_record(type(rec)(key="k", event=ev), settings())


def test_unknown_operation_is_permanent_and_lists_the_supported_ones():
    with pytest.raises(PermanentError, match="log_call"):
        map_record(record(operation="explode"), settings())


def test_move_deal_stage_needs_a_stage_and_a_deal():
    with pytest.raises(PermanentError, match="dealstage"):
        map_record(record(operation="move_deal_stage", hints={"deal_id": "9"}), settings())
    with pytest.raises(DataError, match="deal_id"):
        map_record(
            record(operation="move_deal_stage", hints={"dealstage": "closedwon"}), settings()
        )
    (op,) = map_record(
        record(
            operation="move_deal_stage",
            hints={"deal_id": "9", "dealstage": "closedwon", "pipeline": "default"},
        ),
        settings(),
    )
    assert op.kind == KIND_DEAL
    assert op.payload == {
        "deal_id": "9",
        "properties": {"dealstage": "closedwon", "pipeline": "default"},
        "occurred_at": "2025-11-24T20:00:00.000Z",  # for the writer's conflict check
    }


def test_resolve_conflict_maps_to_one_forced_update_of_the_record() -> None:
    hints = {
        "conflict_id": "c1",
        "record_ref": "hubspot:contact/501",
        "values": {"voicebus_last_call_sentiment": "NEUTRAL", "voicebus_last_call_intents": None},
        "force": True,
        "idempotency_key": "conflict:c1",
    }
    (op,) = map_record(record(operation="resolve_conflict", hints=hints), settings())
    assert op.kind == KIND_CONTACT and op.idempotency_key == "conflict:c1"
    assert op.payload["_force"] is True
    assert op.payload["contact"] == {"id": "501", "phones": []}
    assert op.payload["properties"] == hints["values"]
    deal_hints = {**hints, "record_ref": "hubspot:deal/77", "values": {"dealstage": "closedwon"}}
    (deal,) = map_record(record(operation="resolve_conflict", hints=deal_hints), settings())
    assert deal.kind == KIND_DEAL and deal.payload["deal_id"] == "77"
    assert deal.payload["_force"] is True and deal.payload["properties"] == {
        "dealstage": "closedwon"
    }


@pytest.mark.parametrize(
    "hints",
    [
        {"record_ref": "salesforce:Opportunity/1", "values": {"a": "1"}},
        {"record_ref": "hubspot:deal/1^x", "values": {"a": "1"}},
        {"record_ref": "hubspot:deal/1", "values": {}},
    ],
)
def test_resolve_conflict_with_a_bad_decision_is_a_data_error(hints: dict) -> None:
    with pytest.raises(DataError, match="resolve_conflict"):
        map_record(record(operation="resolve_conflict", hints=hints), settings())


def test_updates_people_also_edit_carry_the_event_time_for_the_conflict_check() -> None:
    ops = map_record(record("call_summary", operation="update_contact"), settings())
    assert [o.kind for o in ops] == [KIND_CONTACT]
    assert ops[0].payload["occurred_at"] == "2025-11-24T20:00:00.000Z"
