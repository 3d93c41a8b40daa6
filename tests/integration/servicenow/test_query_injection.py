"""Caller e-mail/phone values cannot add conditions to the sys_user lookup's encoded query:
the sandbox parses every query as ServiceNow does and the value arrives as one literal."""

from __future__ import annotations

import pytest

from connectors.base.connector import SyncRecord
from connectors.base.sandbox import SandboxServer
from connectors.servicenow.sandbox import instance_of
from connectors.servicenow.sandbox_query import Condition, parse
from pipeline.sinks.delivery import OutcomeKind
from tests.integration.servicenow.conftest import enriched_event, make_connector
from tests.integration.servicenow.test_incidents import deliverer_for

EVIL_EMAIL = "x@example.com^ORemail=victim@example.com^NQsys_idISNOTEMPTY"
EVIL_PHONE = "+1415^ORcaller_id=0123=^^ORDERBYname"


@pytest.fixture
async def connector(sn_sandbox: SandboxServer):
    c = make_connector(sn_sandbox.url)
    yield c
    await c.aclose()


async def test_caret_and_operators_in_values_match_only_the_literal(
    sn_sandbox: SandboxServer, connector
) -> None:
    victim = sn_sandbox.controls.mutate("add_user", email="victim@example.com", name="Victim")
    sn_sandbox.controls.mutate("add_user", email="other@example.com", name="Other")
    literal = sn_sandbox.controls.mutate("add_user", email=EVIL_EMAIL, name="Literal")
    event = enriched_event("call-inj", email=EVIL_EMAIL, phone=EVIL_PHONE)
    outcome = await deliverer_for(connector).deliver_record(
        SyncRecord("call-inj", event, "open_incident")
    )
    assert outcome.kind is OutcomeKind.DELIVERED, outcome.message
    inst = instance_of(sn_sandbox.app)
    [incident] = inst.store.find("incident", correlation_id="call-inj")
    assert incident["caller_id"] == literal != victim  # injected ^OR/^NQ would match 3 users
    [(table, raw)] = [q for q in inst.queries if q[0] == "sys_user"]
    query = parse(raw)
    assert query.order == []  # no ORDERBY smuggled in
    assert query.groups == [
        [
            [
                Condition("email", "=", EVIL_EMAIL),
                Condition("phone", "=", EVIL_PHONE),
                Condition("mobile_phone", "=", EVIL_PHONE),
            ]
        ]
    ]


async def test_an_injecting_call_id_cannot_widen_the_correlation_lookup(
    sn_sandbox: SandboxServer, connector
) -> None:
    d = deliverer_for(connector)
    first = await d.deliver_record(SyncRecord("call-a", enriched_event("call-a"), "open_incident"))
    assert first.kind is OutcomeKind.DELIVERED
    evil = "call-b^ORcorrelation_display=voicebus"
    outcome = await d.deliver_record(SyncRecord(evil, enriched_event(evil), "open_incident"))
    assert outcome.kind is OutcomeKind.DELIVERED, outcome.message
    assert outcome.results[0].detail["created"] is True  # did not "find" call-a's incident
    store = instance_of(sn_sandbox.app).store
    assert len(store.find("incident", correlation_id=evil)) == 1


async def test_script_values_are_never_queried(sn_sandbox: SandboxServer, connector) -> None:
    event = enriched_event("call-js", email="javascript:gs.getUser()", phone=None)
    outcome = await deliverer_for(connector).deliver_record(
        SyncRecord("call-js", event, "open_incident")
    )
    assert outcome.kind is OutcomeKind.DELIVERED
    assert sn_sandbox.controls.requests("/api/now/table/sys_user") == 0
