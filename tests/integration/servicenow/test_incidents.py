"""Incidents from routed call events, through the real Router and Deliverer, on the sandbox."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from connectors.base.connector import SyncRecord
from connectors.base.contract import RecordingClock
from connectors.base.sandbox import SandboxServer
from connectors.servicenow.sandbox import instance_of
from connectors.servicenow.sink import ServiceNowConnector
from pipeline.processors.routing import Router
from pipeline.resilience.target import ResilienceSettings, TargetResilience
from pipeline.sinks.delivery import Deliverer, OutcomeKind
from pipeline.sinks.ledger import InMemoryLedger
from tests.integration.servicenow.conftest import USER, enriched_event, make_connector

RULES = """
version: 1
rules:
  - name: servicenow-complaint
    when: {event_type: [call_summary], intents_any: [complaint]}
    then: [{target: servicenow, operation: open_incident, hints: {category: network}}]
  - name: servicenow-complaint-progress
    when: {event_type: [recording_available], intents_any: [complaint]}
    then: [{target: servicenow, operation: update_incident, hints: {state: in_progress}}]
  - name: slack-everything
    when: {event_type: [call_summary]}
    then: [{target: slack, operation: post_summary}]
"""


def deliverer_for(
    connector: ServiceNowConnector, ledger: InMemoryLedger | None = None
) -> Deliverer:
    clock = RecordingClock()
    resilience = TargetResilience.from_settings(
        connector.name,
        ResilienceSettings(rate_per_s=0, max_attempts=3, initial_backoff_s=0.1, jitter_s=0),
        sleep=clock.sleep,
        clock=clock,
    )
    return Deliverer(connector, ledger or InMemoryLedger(), resilience)


def routed(router: Router, event: dict) -> list[SyncRecord]:
    return [
        SyncRecord(key=event["call_id"], event=event, operation=d.operation, hints=dict(d.hints))
        for d in router.route(event)
        if d.target == "servicenow"
    ]


@pytest.fixture
async def connector(sn_sandbox: SandboxServer):
    c = make_connector(sn_sandbox.url)
    yield c
    await c.aclose()


async def test_100_calls_30_complaints_make_30_incidents_even_when_replayed(
    sn_sandbox: SandboxServer, connector: ServiceNowConnector
) -> None:
    inst = instance_of(sn_sandbox.app)
    router = Router.from_yaml(RULES)
    start = datetime.now(UTC) - timedelta(minutes=30)
    users: dict[str, str] = {}
    events: list[dict] = []
    for n in range(100):
        call_id = f"call-{n:03d}"
        complaint = n % 10 < 3
        email = f"caller{n}@example.com"
        if complaint:
            users[call_id] = sn_sandbox.controls.mutate("add_user", email=email, name=f"C {n}")
        intents = ["complaint"] if complaint else ["billing_question"]
        at = start + timedelta(seconds=n)
        events.append(
            enriched_event(call_id, intents=intents, email=email, phone=None, occurred_at=at)
        )
        events.append(
            enriched_event(
                call_id,
                "recording_available",
                intents=intents,
                email=email,
                phone=None,
                occurred_at=at + timedelta(seconds=1),
            )
        )
    records = [r for e in events for r in routed(router, e)]
    assert len(records) == 60  # 30 opens + 30 updates; the other 70 calls route elsewhere

    ledger = InMemoryLedger()
    deliverer = deliverer_for(connector, ledger)
    outcomes = [await deliverer.deliver_record(r) for r in records]
    assert [o.kind for o in outcomes] == [OutcomeKind.DELIVERED] * 60, [o.message for o in outcomes]

    incidents = inst.store.find("incident", correlation_display="voicebus")
    assert len(incidents) == 30
    by_call = {i["correlation_id"]: i for i in incidents}
    assert set(by_call) == set(users)
    for call_id, incident in by_call.items():
        assert incident["caller_id"] == users[call_id]
        assert incident["contact_type"] == "phone"
        assert incident["category"] == "network"
        assert incident["urgency"] == "1" and incident["impact"] == "2"  # NEGATIVE, complaint
        assert incident["state"] == "2"  # the later event of the same call moved it on
        assert incident["sys_created_by"] == USER
        notes = inst.store.notes(incident["sys_id"])
        assert len(notes) == 1 and "Call recording available (wav, 95 s)" in notes[0]
        assert "token=" not in notes[0]  # the recording URL is never copied

    # replay with the same ledger: nothing is sent again
    before = sn_sandbox.controls.requests()
    again = [await deliverer.deliver_record(r) for r in records]
    assert {o.kind for o in again} == {OutcomeKind.DUPLICATE}
    assert sn_sandbox.controls.requests() == before
    # replay of the opens after the ledger was lost: correlation_id lookup finds each incident
    fresh = deliverer_for(connector)
    opens = [r for r in records if r.operation == "open_incident"]
    replayed = [await fresh.deliver_record(r) for r in opens]
    assert [o.kind for o in replayed] == [OutcomeKind.DELIVERED] * 30
    assert len(inst.store.find("incident", correlation_display="voicebus")) == 30
    assert [o.results[0].detail["created"] for o in replayed] == [False] * 30
    assert {o.results[0].external_id for o in replayed} == {i["sys_id"] for i in incidents}


async def test_two_incidents_with_the_same_correlation_id_are_a_data_error_naming_them(
    sn_sandbox: SandboxServer, connector: ServiceNowConnector
) -> None:
    store = instance_of(sn_sandbox.app).store
    twins = [
        store.insert(
            "incident", {"correlation_id": "call-dup", "correlation_display": "voicebus"}, "admin"
        )["sys_id"]
        for _ in range(2)
    ]
    event = enriched_event("call-dup")
    outcome = await deliverer_for(connector).deliver_record(
        SyncRecord(key="call-dup", event=event, operation="open_incident")
    )
    assert outcome.kind is OutcomeKind.DEAD_LETTER and outcome.error_class == "data"
    assert all(sys_id in (outcome.message or "") for sys_id in twins)
    assert len(store.find("incident", correlation_id="call-dup")) == 2


async def test_ambiguous_or_unknown_caller_leaves_caller_empty(
    sn_sandbox: SandboxServer, connector: ServiceNowConnector
) -> None:
    sn_sandbox.controls.mutate("add_user", email="shared@example.com")
    sn_sandbox.controls.mutate("add_user", email="shared@example.com")
    d = deliverer_for(connector)
    for call_id, email in (("call-amb", "shared@example.com"), ("call-unk", "nobody@example.com")):
        event = enriched_event(call_id, email=email, phone=None)
        assert (await d.deliver_record(SyncRecord(call_id, event, "open_incident"))).kind is (
            OutcomeKind.DELIVERED
        )
    store = instance_of(sn_sandbox.app).store
    for call_id in ("call-amb", "call-unk"):
        [incident] = store.find("incident", correlation_id=call_id)
        assert incident.get("caller_id", "") == ""
    assert len(store.rows("sys_user")) == 2  # no user was created


async def test_phone_lookup_matches_mobile_phone_and_request_is_opened(
    sn_sandbox: SandboxServer, connector: ServiceNowConnector
) -> None:
    user = sn_sandbox.controls.mutate("add_user", mobile_phone="+14155550999")
    event = enriched_event("call-req", email=None, phone="+14155550999", intents=["order"])
    outcome = await deliverer_for(connector).deliver_record(
        SyncRecord("call-req", event, "open_request")
    )
    assert outcome.kind is OutcomeKind.DELIVERED, outcome.message
    [request] = instance_of(sn_sandbox.app).store.find("sc_request", correlation_id="call-req")
    assert request["requested_for"] == user
    assert request["number"].startswith("REQ")


async def test_kb_draft_is_html_escaped_and_made_once(
    sn_sandbox: SandboxServer, connector: ServiceNowConnector
) -> None:
    summary = "Reset the <b>router</b> & wait 30 s. Then it works."
    event = enriched_event("call-kb", summary=summary)
    rec = SyncRecord("call-kb", event, "draft_kb_article", {"title": "Router drops: reset it"})
    assert (await deliverer_for(connector).deliver_record(rec)).kind is OutcomeKind.DELIVERED
    # the ledger is lost: the meta marker lookup still prevents a second draft
    assert (await deliverer_for(connector).deliver_record(rec)).kind is OutcomeKind.DELIVERED
    [draft] = instance_of(sn_sandbox.app).store.rows("kb_knowledge")
    assert draft["workflow_state"] == "draft"
    assert draft["kb_knowledge_base"] == "a" * 32
    assert draft["short_description"] == "Router drops: reset it"
    assert (
        draft["text"]
        == "<p>Reset the &lt;b&gt;router&lt;/b&gt; &amp; wait 30 s. Then it works.</p>"
    )


async def test_unknown_operation_and_missing_kb_base_are_data_errors(
    sn_sandbox: SandboxServer,
) -> None:
    c = make_connector(sn_sandbox.url, kb_knowledge_base=None)
    try:
        d = deliverer_for(c)
        bad = await d.deliver_record(SyncRecord("k", enriched_event("k"), "close_everything"))
        assert bad.error_class == "data" and "close_everything" in (bad.message or "")
        kb = await d.deliver_record(SyncRecord("k", enriched_event("k"), "draft_kb_article"))
        assert kb.error_class == "data" and "KB_KNOWLEDGE_BASE" in (kb.message or "")
        assert sn_sandbox.controls.requests() == 0
    finally:
        await c.aclose()


async def test_acl_denial_is_permanent_and_names_no_secret(sn_sandbox: SandboxServer) -> None:
    c = make_connector(sn_sandbox.url)
    try:
        sn_sandbox.controls.mutate("deny", table="incident", user=USER)
        outcome = await deliverer_for(c).deliver_record(
            SyncRecord("call-acl", enriched_event("call-acl"), "open_incident")
        )
        assert outcome.kind is OutcomeKind.DEAD_LETTER and outcome.error_class == "permanent"
        assert "ACL" in (outcome.message or "") and "HTTP 403" in (outcome.message or "")
        assert "jane.roe@example.com" not in (outcome.message or "")
    finally:
        await c.aclose()
