"""No event value can add a condition to an encoded query (``sysparm_query``).

The sandbox reads queries the pessimistic way -- every ``^`` separates conditions, there is no
escape (ServiceNow documents none) -- so these tests hold for any instance: values with ``^``
or control characters never reach a query; caller lookups are skipped, call ids are rejected."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import pytest

from connectors.base.connector import SyncRecord
from connectors.base.errors import DataError
from connectors.base.sandbox import SandboxServer
from connectors.servicenow.sandbox import instance_of
from connectors.servicenow.sandbox_query import Condition, parse
from connectors.servicenow.sink import ServiceNowConnector
from pipeline.sinks.delivery import OutcomeKind
from tests.integration.servicenow.conftest import enriched_event, make_connector
from tests.integration.servicenow.test_incidents import deliverer_for

EVIL_EMAIL = "x@example.com^ORemail=victim@example.com^NQsys_idISNOTEMPTY"
EVIL_PHONE = "+1415^ORcaller_id=0123=^^ORDERBYname"
TRICKY_EMAIL = "x@example.com ORemail=victim@example.com NQsys_idISNOTEMPTY"  # no caret
TRICKY_PHONE = "+1415 LIKE 0123=ORDERBYname"


@pytest.fixture
async def connector(sn_sandbox: SandboxServer) -> AsyncIterator[ServiceNowConnector]:
    c = make_connector(sn_sandbox.url)
    yield c
    await c.aclose()


def sys_user_queries(sandbox: SandboxServer) -> list[str]:
    return [raw for table, raw in instance_of(sandbox.app).queries if table == "sys_user"]


@pytest.mark.parametrize(
    ("email", "phone", "field"),
    [
        (EVIL_EMAIL, "+14155550100", "email"),
        ("ok@example.com", EVIL_PHONE, "phone"),
        ("a@example.com\nemail=victim@example.com", None, "email"),
        (None, "+1415\x00", "phone"),
    ],
)
async def test_caller_values_with_a_caret_or_control_character_skip_the_lookup(
    sn_sandbox: SandboxServer,
    connector: ServiceNowConnector,
    caplog: pytest.LogCaptureFixture,
    email: str | None,
    phone: str | None,
    field: str,
) -> None:
    sn_sandbox.controls.mutate("add_user", email="victim@example.com", name="Victim")
    sn_sandbox.controls.mutate("add_user", email="other@example.com", name="Other")
    event = enriched_event("call-inj", email=email, phone=phone)
    with caplog.at_level(logging.WARNING, logger="connectors.servicenow.sink"):
        outcome = await deliverer_for(connector).deliver_record(
            SyncRecord("call-inj", event, "open_incident")
        )
    assert outcome.kind is OutcomeKind.DELIVERED, outcome.message
    [incident] = instance_of(sn_sandbox.app).store.find("incident", correlation_id="call-inj")
    assert not incident.get("caller_id")  # unmatched: nobody was guessed
    assert sys_user_queries(sn_sandbox) == []  # the value never reached a query
    [line] = [r for r in caplog.records if getattr(r, "caller_lookup", None)]
    details = line.__dict__["caller_lookup"]
    assert details["field"] == field and details["skipped"] is True
    for value in (email, phone):  # the line names the field and the reason, not the value
        assert value is None or value not in line.getMessage()


async def test_operator_text_without_a_caret_matches_only_the_literal_user(
    sn_sandbox: SandboxServer, connector: ServiceNowConnector
) -> None:
    victim = sn_sandbox.controls.mutate("add_user", email="victim@example.com", name="Victim")
    sn_sandbox.controls.mutate("add_user", email="other@example.com", name="Other")
    literal = sn_sandbox.controls.mutate("add_user", email=TRICKY_EMAIL, name="Literal")
    event = enriched_event("call-op", email=TRICKY_EMAIL, phone=TRICKY_PHONE)
    outcome = await deliverer_for(connector).deliver_record(
        SyncRecord("call-op", event, "open_incident")
    )
    assert outcome.kind is OutcomeKind.DELIVERED, outcome.message
    [incident] = instance_of(sn_sandbox.app).store.find("incident", correlation_id="call-op")
    assert incident["caller_id"] == literal != victim
    [raw] = sys_user_queries(sn_sandbox)
    assert "^" not in raw.replace("^OR", "")  # only the conditions we joined
    query = parse(raw)
    assert query.order == []  # no ORDERBY smuggled in
    assert query.groups == [
        [
            [
                Condition("email", "=", TRICKY_EMAIL),
                Condition("phone", "=", TRICKY_PHONE),
                Condition("mobile_phone", "=", TRICKY_PHONE),
            ]
        ]
    ]


@pytest.mark.parametrize(
    "call_id", ["call-b^ORcorrelation_display=voicebus", "call-b^^ORsys_idISNOTEMPTY", "call-b\n"]
)
@pytest.mark.parametrize("operation", ["open_incident", "draft_kb_article"])
async def test_a_call_id_that_could_inject_is_rejected_as_a_data_error(
    sn_sandbox: SandboxServer, connector: ServiceNowConnector, call_id: str, operation: str
) -> None:
    d = deliverer_for(connector)
    first = await d.deliver_record(SyncRecord("call-a", enriched_event("call-a"), "open_incident"))
    assert first.kind is OutcomeKind.DELIVERED
    before = list(instance_of(sn_sandbox.app).queries)
    event = enriched_event(
        call_id, "call_summary" if operation == "draft_kb_article" else "call_ended"
    )
    outcome = await d.deliver_record(SyncRecord(call_id, event, operation))
    assert outcome.kind is OutcomeKind.DEAD_LETTER, outcome.message
    assert isinstance(outcome.error, DataError)
    message = outcome.error.message
    assert "call_id (looked up as correlation_id)" in message and "invalid" in message
    assert call_id not in message
    assert instance_of(sn_sandbox.app).queries == before  # nothing was queried ...
    store = instance_of(sn_sandbox.app).store
    assert store.find("incident", correlation_id=call_id) == []  # ... nor created
    assert len(store.find("incident", correlation_id="call-a")) == 1


async def test_script_values_are_never_queried(
    sn_sandbox: SandboxServer, connector: ServiceNowConnector
) -> None:
    event = enriched_event("call-js", email="javascript:gs.getUser()", phone=None)
    outcome = await deliverer_for(connector).deliver_record(
        SyncRecord("call-js", event, "open_incident")
    )
    assert outcome.kind is OutcomeKind.DELIVERED
    assert sn_sandbox.controls.requests("/api/now/table/sys_user") == 0
