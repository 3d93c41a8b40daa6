"""Enriched call event -> Zendesk ticket operations."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from connectors.base.connector import SyncRecord
from connectors.base.errors import DataError
from connectors.zendesk.config import ZendeskSettings
from connectors.zendesk.mapping import map_record
from connectors.zendesk.writer import FORCE_FLAG
from pipeline.conflicts import FORCE
from tests.integration.zendesk.conftest import enriched_event


def settings(**overrides: Any) -> ZendeskSettings:
    values: dict[str, Any] = {"base_url": "https://acme.zendesk.com", "oauth_token": "t"}
    values.update(overrides)
    return ZendeskSettings(**values)


def one(record: SyncRecord, config: ZendeskSettings | None = None) -> dict[str, Any]:
    (operation,) = map_record(record, config or settings())
    return {"kind": operation.kind, "key": operation.idempotency_key, **operation.payload}


def rec(event: dict[str, Any], operation: str | None = "open_ticket", **hints: Any) -> SyncRecord:
    return SyncRecord(key=event.get("call_id", "k"), event=event, operation=operation, hints=hints)


def test_open_ticket_body() -> None:
    event = enriched_event(intents=["complaint", "Late Delivery!"])
    config = settings(
        custom_fields={360001: "call.queue", 360002: "payload.sentiment", 360003: "nope.x"},
        transcript_url_template="https://v.example/calls/{call_id}",
    )
    op = one(rec(event, tags=["VIP Line"], group="42"), config)
    ticket = op["ticket"]
    assert op["kind"] == "open_ticket"
    assert op["key"] == f"{event['event_id']}:open_ticket"
    assert ticket["external_id"] == event["call_id"]
    assert ticket["comment"]["public"] is True
    assert event["payload"]["summary"] in ticket["comment"]["body"]
    assert f"https://v.example/calls/{event['call_id']}" in ticket["comment"]["body"]
    assert ticket["priority"] == "high"
    assert ticket["tags"] == [
        "voicebus",
        "voice_call",
        "vip_line",
        "intent_complaint",
        "intent_late_delivery",
    ]
    assert ticket["custom_fields"] == [
        {"id": 360001, "value": "billing"},
        {"id": 360002, "value": "NEGATIVE"},
    ]
    assert ticket["group_id"] == 42
    assert ticket["requester"] == {"name": "Pat Caller", "email": "pat@example.com"}
    assert op["requester_user"] is None
    assert op["note"]["public"] is False
    assert f"voicebus-ref: {event['event_id']}" in op["note"]["body"]
    assert "Refund the duplicate charge (owner: billing)" in op["note"]["body"]
    assert op["idempotency_key"] == f"voicebus-{event['event_id']}-open-ticket"


@pytest.mark.parametrize(
    ("intents", "sentiment", "hint", "expected"),
    [
        (["complaint"], "POSITIVE", None, "high"),
        (["billing_question"], "POSITIVE", None, "low"),
        (["billing_question"], "MIXED", None, "normal"),
        (["complaint"], "NEGATIVE", "urgent", "urgent"),
    ],
)
def test_priority_map(intents: list[str], sentiment: str, hint: str | None, expected: str) -> None:
    event = enriched_event(intents=intents)
    event["payload"]["sentiment"] = sentiment
    hints = {"priority": hint} if hint else {}
    assert one(rec(event, **hints))["ticket"]["priority"] == expected


def test_requester_without_email_is_created_by_external_id() -> None:
    event = enriched_event(email=None)
    op = one(rec(event))
    assert "requester" not in op["ticket"]
    user = op["requester_user"]
    assert user["name"] == "Pat Caller" and user["phone"] == "+15550100"
    assert user["external_id"].startswith("salesforce:003")
    event["customer"]["match"] = None
    assert one(rec(event))["requester_user"] == {
        "name": "Caller +15550100",
        "phone": "+15550100",
        "external_id": "tel:15550100",
    }


def test_update_ticket_sets_status_from_disposition() -> None:
    ended = enriched_event(event_type="call_ended", disposition="resolved")
    op = one(rec(ended, "add_context"))
    assert op["kind"] == "update_ticket"
    assert op["ticket"]["status"] == "solved"
    assert op["ticket"]["comment"]["public"] is False
    other = one(rec(ended, None), settings(status_map={"escalated": "open"}))
    assert "status" not in other["ticket"]


@pytest.mark.parametrize("missing", ["call_id", "event_id"])
def test_missing_required_field_names_it(missing: str) -> None:
    event = enriched_event()
    del event[missing]
    with pytest.raises(DataError, match=missing):
        map_record(rec(event), settings())


def test_unknown_operation_and_bad_hints_are_data_errors() -> None:
    with pytest.raises(DataError, match="post_summary"):
        map_record(rec(enriched_event(), "post_summary"), settings())
    with pytest.raises(DataError, match="not a number"):
        map_record(rec(enriched_event(), ticket_id="abc"), settings())
    with pytest.raises(DataError, match="group id"):
        map_record(rec(enriched_event(), group="support"), settings())


def test_force_flag_is_the_conflict_frameworks() -> None:
    assert FORCE_FLAG == FORCE


def test_settings_need_exactly_one_auth_and_hide_values() -> None:
    with pytest.raises(ValidationError, match="exactly one auth"):
        ZendeskSettings(base_url="https://a.zendesk.com")
    with pytest.raises(ValidationError, match="exactly one auth"):
        ZendeskSettings(
            base_url="https://a.zendesk.com", email="a@b.co", api_token="x", oauth_token="y"
        )
    with pytest.raises(ValidationError) as caught:
        ZendeskSettings(base_url="https://u:hunter2@a.zendesk.com", oauth_token="t")
    assert "hunter2" not in str(caught.value)
    with pytest.raises(ValidationError, match="PRIORITY_MAP"):
        settings(priority_map={"NEGATIVE": "super"})


def test_callers_open_ticket_is_linked_per_configuration() -> None:
    event = enriched_event()
    event["customer"]["open_ticket"] = {
        "event_id": "b-1",
        "event_type": "ticket_opened",
        "occurred_at": 0,
        "attributes": {"zendesk_ticket_id": "77"},
    }
    assert one(rec(event))["ticket_id"] == 77
    assert one(rec(event, ticket_id=5))["ticket_id"] == 5
    assert one(rec(event), settings(open_ticket_attribute=None))["ticket_id"] is None
