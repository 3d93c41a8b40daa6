"""Mapping of enriched call events to ServiceNow operations."""

from __future__ import annotations

import pytest

from connectors.base.connector import SyncRecord
from connectors.base.errors import DataError
from connectors.servicenow.config import ServiceNowSettings
from connectors.servicenow.mapping import map_record
from tests.integration.servicenow.conftest import enriched_event

SETTINGS = ServiceNowSettings(
    instance_url="https://acme.service-now.com",
    username="u",
    password="p",
    kb_knowledge_base="b" * 32,
)


def op(operation: str | None, hints: dict | None = None, **kwargs):
    event = enriched_event("call-1", **kwargs)
    [result] = map_record(SyncRecord("call-1", event, operation, hints or {}), SETTINGS)
    return result


def test_open_incident_fields_from_sentiment_and_intents() -> None:
    o = op("open_incident", sentiment="NEGATIVE", intents=["complaint", "outage"])
    f = o.payload["fields"]
    assert (f["urgency"], f["impact"]) == ("1", "1")  # outage is the highest impact
    assert f["correlation_id"] == "call-1" and f["correlation_display"] == "voicebus"
    assert f["contact_type"] == "phone" and f["category"] == "inquiry"
    assert f["short_description"] == "Caller reports the router keeps dropping"
    assert o.payload["email"] == "jane.roe@example.com"
    assert o.idempotency_key.endswith(":open_incident")


def test_hints_override_and_are_checked() -> None:
    f = op("open_incident", {"urgency": 3, "impact": "2", "category": "hardware"}).payload["fields"]
    assert (f["urgency"], f["impact"], f["category"]) == ("3", "2", "hardware")
    with pytest.raises(DataError, match="urgency"):
        op("open_incident", {"urgency": 9})


def test_no_operation_defaults_to_open_incident_and_unknown_is_data() -> None:
    assert op(None).kind == "open_incident"
    with pytest.raises(DataError, match="open_ticket"):
        op("open_ticket")


def test_update_incident_state_resolved_carries_close_fields_and_no_urls() -> None:
    o = op("update_incident", {"state": "resolved"}, event_type="recording_available")
    f = o.payload["fields"]
    assert f["state"] == "6" and f["close_code"] and f["close_notes"]
    assert "https://" not in f["work_notes"]
    with pytest.raises(DataError, match="state"):
        op("update_incident", {"state": "exploded"})


def test_resolve_conflict_maps_to_a_forced_patch() -> None:
    hints = {
        "record_ref": "servicenow:incident/" + "c" * 32,
        "values": {"state": "2"},
        "idempotency_key": "conflict:abc",
        "force": True,
    }
    o = op("resolve_conflict", hints)
    assert o.kind == "update_record" and o.idempotency_key == "conflict:abc"
    assert o.payload == {
        "table": "incident",
        "sys_id": "c" * 32,
        "fields": {"state": "2"},
        "_force": True,
    }
    with pytest.raises(DataError, match="record_ref"):
        op("resolve_conflict", {"record_ref": "zendesk:1", "values": {"a": 1}})


def test_kb_text_is_escaped_html() -> None:
    f = op("draft_kb_article", summary="Use <script>x</script> & go").payload["fields"]
    assert f["text"] == "<p>Use &lt;script&gt;x&lt;/script&gt; &amp; go</p>"
    assert f["workflow_state"] == "draft" and f["kb_knowledge_base"] == "b" * 32
