"""Salesforce mapping, error classification, SOQL quoting/parsing and settings (no network)."""

from __future__ import annotations

from datetime import date

import httpx
import pytest
from pydantic import SecretStr, ValidationError

from connectors.base.connector import SyncRecord
from connectors.base.errors import (
    AuthError,
    DataError,
    PermanentError,
    RetryableError,
    ThrottledError,
)
from connectors.salesforce.client import parse_api_usage, soql_quote
from connectors.salesforce.config import SalesforceSettings
from connectors.salesforce.errors import classify, classify_response, multiple_choices
from connectors.salesforce.mapping import map_record
from connectors.salesforce.sandbox_soql import SoqlError, parse
from connectors.salesforce.sandbox_state import checksum, valid_id

CONTACT = "0035g0000000001AAA"
OPPORTUNITY = "0065g0000000001AAA"


def settings(**kw) -> SalesforceSettings:
    return SalesforceSettings(client_id="cid", client_secret=SecretStr("s"), **kw)


def event(**over) -> dict:
    base = {
        "event_id": "e-1",
        "event_type": "call_summary",
        "occurred_at": 1_700_000_000_000,
        "call_id": "call-1",
        "payload": {
            "summary": "Asked for a refund",
            "sentiment": "NEGATIVE",
            "intents": ["refund", "billing"],
            "action_items": [{"description": "Send refund form", "owner": None}],
            "topics": [],
        },
        "customer": {
            "matched": True,
            "lookup_number": "+15550100",
            "match": {"crm": "salesforce", "record_id": CONTACT, "record_type": "CONTACT"},
            "open_deal": {"attributes": {"deal_id": OPPORTUNITY}},
        },
        "call": {"direction": "OUTBOUND", "duration_s": 61, "disposition": "answered",
                 "started_at": 1_699_999_939_000, "to_number": "+15550100"},
    }  # fmt: skip
    base.update(over)
    return base


def test_log_call_builds_a_complete_task_upserted_by_call_id() -> None:
    op, _action_item = map_record(
        SyncRecord("call-1", event(), "log_call"), settings(transcript_url_base="https://vp/t")
    )
    assert op.kind == "log_call" and op.idempotency_key == "e-1:log_call"
    payload = op.payload
    assert (payload["sobject"], payload["external_id_field"], payload["external_id"]) == (
        "Task", "Voicebus_Call_Id__c", "call-1",
    )  # fmt: skip
    fields = payload["fields"]
    assert fields["TaskSubtype"] == "Call" and fields["CallType"] == "Outbound"
    assert fields["CallDurationInSeconds"] == 61 and fields["CallDisposition"] == "answered"
    assert fields["WhoId"] == CONTACT and fields["WhatId"] == OPPORTUNITY
    assert fields["ActivityDate"] == "2023-11-14" and fields["Status"] == "Completed"
    description = fields["Description"]
    for text in ("Asked for a refund", "NEGATIVE", "refund, billing", "Send refund form",
                 "https://vp/t/call-1"):  # fmt: skip
        assert text in description
    assert payload["lookup_phone"] is None  # matched: no lookup


def test_a_match_in_another_crm_is_not_a_who_id_and_triggers_a_lookup() -> None:
    ev = event()
    ev["customer"]["match"] = {"crm": "hubspot", "record_id": "123", "record_type": "CONTACT"}
    op, item = map_record(SyncRecord("call-1", ev, "log_call"), settings())
    assert "WhoId" not in op.payload["fields"]
    assert op.payload["lookup_phone"] == "+15550100"
    assert "WhoId" not in item.payload["fields"]  # the follow-up Task shares the lookup
    assert item.payload["lookup_phone"] == "+15550100"


def test_summary_action_items_become_follow_up_tasks_keyed_by_event_and_index() -> None:
    items = [
        {"description": "Send refund form", "owner": None, "due_date": date(2023, 11, 20)},
        {"description": "   ", "owner": None},  # empty: no task, but the index is kept
        {"description": "x" * 300, "owner": None, "due_date": 19_700},  # days since epoch
        {"description": "Call back", "due_date": "2023-12-01"},
    ]
    ev = event()
    ev["payload"]["action_items"] = items
    call, *follow_ups = map_record(SyncRecord("call-1", ev, "log_call"), settings())
    assert call.kind == "log_call"
    assert [op.kind for op in follow_ups] == ["log_action_item"] * 3
    assert [op.idempotency_key for op in follow_ups] == [
        "e-1:log_action_item:0", "e-1:log_action_item:2", "e-1:log_action_item:3",
    ]  # fmt: skip
    first, long, third = (op.payload for op in follow_ups)
    assert (first["sobject"], first["external_id_field"], first["external_id"]) == (
        "Task", "Voicebus_Action_Item_Id__c", "e-1:0",
    )  # fmt: skip
    fields = first["fields"]
    assert fields["Subject"] == "Send refund form" and fields["Status"] == "Not Started"
    assert fields["Priority"] == "Normal" and fields["TaskSubtype"] == "Task"
    assert fields["WhoId"] == CONTACT and fields["ActivityDate"] == "2023-11-20"
    assert "call-1" in fields["Description"]
    assert len(long["fields"]["Subject"]) == 255
    assert long["fields"]["ActivityDate"] == "2023-12-09"
    assert third["fields"]["ActivityDate"] == "2023-12-01"


def test_action_items_come_only_with_a_summary_logged_as_a_call() -> None:
    custom = settings(action_item_external_id_field="Follow_Up_Key__c")
    ended = event(event_type="call_ended")
    assert [op.kind for op in map_record(SyncRecord("c", ended, "log_call"), custom)] == [
        "log_call"
    ]
    insights = map_record(SyncRecord("c", event(), "update_insights"), custom)
    assert [op.kind for op in insights] == ["update_insights"]
    _, item = map_record(SyncRecord("c", event(), "log_call"), custom)
    assert item.payload["external_id_field"] == "Follow_Up_Key__c"


def test_missing_call_id_and_unknown_operation_are_data_errors() -> None:
    ev = event()
    del ev["call_id"]
    with pytest.raises(DataError, match="'call_id'"):
        map_record(SyncRecord("k", ev, "log_call"), settings())
    with pytest.raises(DataError, match="unknown operation 'frobnicate'"):
        map_record(SyncRecord("k", event(), "frobnicate"), settings())


def test_stage_update_is_conditional_on_the_event_time() -> None:
    (op,) = map_record(
        SyncRecord("k", event(), "update_opportunity_stage", hints={"stage": "Closed Won"}),
        settings(),
    )
    assert op.payload["record_id"] == OPPORTUNITY
    assert op.payload["fields"] == {"StageName": "Closed Won"}
    assert op.payload["if_unmodified_since"] == "Tue, 14 Nov 2023 22:13:20 GMT"
    with pytest.raises(DataError, match="hints.stage"):
        map_record(SyncRecord("k", event(), "update_opportunity_stage"), settings())


def test_insights_and_leads() -> None:
    (op,) = map_record(SyncRecord("k", event(), "update_insights"), settings())
    assert op.payload["sobject"] == "Contact"
    assert op.payload["fields"] == {"Voicebus_Sentiment__c": "Negative",
                                    "Voicebus_Intents__c": "refund;billing"}  # fmt: skip
    (lead,) = map_record(SyncRecord("k", event(), "upsert_lead", hints={"lookup_first": True}),
                         settings())  # fmt: skip
    assert lead.payload["external_id"] == "+15550100" and lead.payload["skip_if_contact"]
    assert lead.payload["fields"]["Company"] == "Unknown (voice caller)"


@pytest.mark.parametrize(
    ("status", "code", "cls"),
    [
        (403, "REQUEST_LIMIT_EXCEEDED", ThrottledError),
        (429, None, ThrottledError),
        (400, "UNABLE_TO_LOCK_ROW", RetryableError),
        (503, "SERVER_UNAVAILABLE", RetryableError),
        (500, None, RetryableError),
        (401, "INVALID_SESSION_ID", AuthError),
        (400, "REQUIRED_FIELD_MISSING", DataError),
        (400, "FIELD_CUSTOM_VALIDATION_EXCEPTION", DataError),
        (400, "MALFORMED_ID", DataError),
        (400, "INVALID_OPERATION", PermanentError),
        (403, "INSUFFICIENT_ACCESS", PermanentError),
        (404, "NOT_FOUND", PermanentError),
    ],
)
def test_error_codes_map_to_classes(status, code, cls) -> None:
    error = classify(status, code, ["LastName"], operation="upsert Task")
    assert type(error) is cls
    assert (code or str(status)) in error.message and "LastName" in error.message


def test_limit_exceeded_uses_retry_after_or_the_configured_wait() -> None:
    error = classify(403, "REQUEST_LIMIT_EXCEEDED", [], operation="x", limit_retry_after_s=7)
    assert isinstance(error, ThrottledError) and error.retry_after == 7
    response = httpx.Response(429, headers={"Retry-After": "3"}, json=[{"errorCode": "X"}])
    error = classify_response(response, operation="x")
    assert isinstance(error, ThrottledError) and error.retry_after == 3


def test_vendor_message_text_never_reaches_the_error() -> None:
    response = httpx.Response(
        400, json=[{"message": "Jane Roe 555-0100 fails rule", "errorCode": "INVALID_FIELD",
                    "fields": ["Phone"]}],
    )  # fmt: skip
    error = classify_response(response, operation="upsert Lead")
    assert "Jane" not in error.message and "555-0100" not in error.message
    assert "INVALID_FIELD" in error.message and "Phone" in error.message


def test_300_names_the_duplicates() -> None:
    response = httpx.Response(
        300,
        json=["/services/data/v60.0/sobjects/Task/00TA", "/services/data/v60.0/sobjects/Task/00TB"],
    )
    error = multiple_choices(response, operation="upsert Task")
    assert "00TA" in error.message and "00TB" in error.message and "2 records" in error.message


def test_soql_quote_escapes_per_the_reference() -> None:
    assert soql_quote("O'Brien\\x\n\"") == "'O\\'Brien\\\\x\\n\\\"'"


def test_sandbox_soql_parser_honours_escapes_and_rejects_garbage() -> None:
    def known(sobject):
        return {"Id", "Phone", "MobilePhone", "LastModifiedDate"} if sobject == "Contact" else None

    rows = [{"Id": "a", "Phone": "x' OR Phone != '"}, {"Id": "b", "Phone": "+1"}]
    query = parse("SELECT Id FROM Contact WHERE Phone = " + soql_quote(rows[0]["Phone"]), known)
    assert query.run(rows) == [{"Id": "a"}]
    both = parse(
        "SELECT Id FROM Contact WHERE (Phone = '+1' OR MobilePhone IN ('z')) LIMIT 5", known
    )
    assert both.run(rows) == [{"Id": "b"}]
    for bad in (
        "SELECT Id FROM Contact WHERE Phone = 'x",
        "SELECT FROM Contact",
        "SELECT Id FROM Contact WHERE Phone = 'a' junk",
        "SELECT Id FROM Contact WHERE Phone = '\\z'",
    ):
        with pytest.raises(SoqlError) as info:
            parse(bad, known)
        assert info.value.code == "MALFORMED_QUERY"


def test_ids_carry_the_case_safe_checksum() -> None:
    assert checksum("001A0000006Vm9r") == "IAC"  # example from Salesforce's documentation
    assert valid_id("001A0000006Vm9rIAC") and not valid_id("001A0000006Vm9rAAA")


def test_api_usage_header_parsing() -> None:
    assert parse_api_usage("api-usage=18/5000") == (18, 5000)
    assert parse_api_usage("per-app-api-usage=1/2(appName=x), api-usage=3/4") == (3, 4)
    assert parse_api_usage(None) is None


def test_settings_name_what_is_missing_without_echoing_values() -> None:
    with pytest.raises(ValidationError) as info:
        SalesforceSettings(
            auth_flow="jwt_bearer", client_id="cid", client_secret=SecretStr("zz-secret")
        )
    text = str(info.value)
    assert "VOICEBUS_SALESFORCE_USERNAME" in text and "VOICEBUS_SALESFORCE_PRIVATE_KEY" in text
    assert "zz-secret" not in text
    assert settings(api_version="v61").api_version == "61.0"
    assert settings().token_url == "https://login.salesforce.com/services/oauth2/token"


def test_the_carried_transcript_ends_the_description_and_is_cut_at_the_limit() -> None:
    segments = [
        {"speaker": "AGENT", "start_ms": 0, "text": "Hello"},
        {"speaker": "CUSTOMER", "start_ms": 61_000, "text": "Card 4111 1111 1111 1111"},
    ]
    ev = event(transcript={"segments": segments, "truncated": False})
    op, _item = map_record(SyncRecord("call-1", ev, "log_call"), settings())
    description = op.payload["fields"]["Description"]
    head, transcript = description.split("\n\nTranscript:\n")
    assert head.endswith("voicebus call id: call-1")
    # CRM class: the processors leave the text unredacted (default policy none)
    assert transcript.splitlines() == [
        "[00:00] AGENT: Hello",
        "[01:01] CUSTOMER: Card 4111 1111 1111 1111",
    ]

    long = [{"speaker": "AGENT", "start_ms": i * 1000, "text": "y" * 500} for i in range(100)]
    ev = event(transcript={"segments": long, "truncated": False})
    op, _item = map_record(SyncRecord("call-1", ev, "log_call"), settings())
    description = op.payload["fields"]["Description"]
    assert len(description) == 32_000
    assert "voicebus call id: call-1" in description
    assert description.endswith(
        "[transcript cut at Salesforce's 32,000-character Description limit]"
    )
