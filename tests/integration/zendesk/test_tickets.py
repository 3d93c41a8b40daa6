"""Zendesk ticket behaviour through the real Deliverer (ledger, resilience) and the real
routing rules, against the sandbox."""

from __future__ import annotations

import functools
from typing import Any

import pytest

from connectors.base.connector import SyncRecord
from connectors.base.contract import RecordingClock
from connectors.base.sandbox import SandboxServer
from connectors.zendesk.config import ZendeskSettings
from connectors.zendesk.sandbox import sandbox_of, state_of
from connectors.zendesk.sink import ZendeskConnector
from pipeline.processors.routing.router import Router
from pipeline.resilience.target import ResilienceSettings, TargetResilience
from pipeline.sinks.delivery import Deliverer, OutcomeKind
from pipeline.sinks.ledger import InMemoryLedger
from tests.integration.zendesk.conftest import enriched_event, record, zendesk_settings

ROUTES = """
version: 1
rules:
  - name: zendesk-complaint
    when: {event_type: [call_summary], intents_any: [complaint]}
    then: [{target: zendesk, operation: open_ticket, hints: {tags: [complaint_line]}}]
  - name: zendesk-context
    when: {event_type: [call_ended, recording_available]}
    then: [{target: zendesk, operation: add_context}]
"""


def _same(settings: ZendeskSettings) -> ZendeskSettings:
    return settings


def deliverer_for(connector: ZendeskConnector, **handler: Any) -> Deliverer:
    clock = RecordingClock()
    resilience = TargetResilience.from_settings(
        "zendesk",
        ResilienceSettings(rate_per_s=0, max_attempts=3, initial_backoff_s=0.1, jitter_s=0),
        sleep=clock.sleep,
        clock=clock,
    )
    return Deliverer(connector, InMemoryLedger(), resilience, **handler)


def routed(router: Router, event: dict[str, Any]) -> list[SyncRecord]:
    return [
        SyncRecord(key=event["call_id"], event=event, operation=d.operation, hints=d.hints)
        for d in router.route(event)
        if d.target == "zendesk"
    ]


def notes(sandbox: SandboxServer, ticket_id: int) -> list[dict[str, Any]]:
    return [c for c in state_of(sandbox.app).comments(ticket_id) if not c["public"]]


async def test_thirty_complaints_make_thirty_tickets_even_when_replayed(
    zendesk_sandbox: SandboxServer, zendesk_connector: ZendeskConnector
) -> None:
    router = Router.from_yaml(ROUTES)
    events = [
        enriched_event(
            intents=["complaint", "billing"] if i % 10 < 3 else ["billing_question"],
            email=f"caller{i}@example.com",
            name=f"Caller {i}",
        )
        for i in range(100)
    ]
    records = [r for e in events for r in routed(router, e)]
    assert len(records) == 30
    deliverer = deliverer_for(zendesk_connector)
    outcomes = [await deliverer.deliver_record(r) for r in records]
    assert [o.kind for o in outcomes] == [OutcomeKind.DELIVERED] * 30, [o.message for o in outcomes]

    state = state_of(zendesk_sandbox.app)
    assert len(state.tickets) == 30
    for event in events[:3]:
        (ticket,) = state.find_by_external_id(event["call_id"])
        requester = state.users[ticket["requester_id"]]
        assert requester["email"] == event["customer"]["match"]["email"]
        assert requester["name"] == event["customer"]["match"]["name"]
        assert ticket["priority"] == "high" and "complaint_line" in ticket["tags"]
        assert "intent_complaint" in ticket["tags"]
        first, *rest = state.comments(ticket["id"])
        assert first["public"] and event["payload"]["summary"] in first["body"]
        assert f"https://voice.example.com/calls/{event['call_id']}" in first["body"]
        (note,) = notes(zendesk_sandbox, ticket["id"])
        assert "Refund the duplicate charge" in note["body"]
        assert f"voicebus-ref: {event['event_id']}" in note["body"]

    # replay through the same ledger: nothing is sent
    before = zendesk_sandbox.controls.requests()
    again = [await deliverer.deliver_record(r) for r in records]
    assert {o.kind for o in again} == {OutcomeKind.DUPLICATE}
    assert zendesk_sandbox.controls.requests() == before

    # replay with a fresh process and an empty ledger: Zendesk's external_id + note markers
    fresh = ZendeskConnector(zendesk_connector.settings, reload_settings=lambda: fresh.settings)
    try:
        replayed = [await deliverer_for(fresh).deliver_record(r) for r in records]
    finally:
        await fresh.aclose()
    assert {o.kind for o in replayed} == {OutcomeKind.DELIVERED}
    assert len(state.tickets) == 30
    assert all(len(notes(zendesk_sandbox, tid)) == 1 for tid in state.tickets)


async def test_later_events_of_the_call_update_the_same_ticket(
    zendesk_sandbox: SandboxServer, zendesk_connector: ZendeskConnector
) -> None:
    router = Router.from_yaml(ROUTES)
    deliverer = deliverer_for(zendesk_connector)
    summary = enriched_event()
    call_id = summary["call_id"]
    (opened,) = [await deliverer.deliver_record(r) for r in routed(router, summary)]
    assert opened.kind is OutcomeKind.DELIVERED
    (ticket,) = state_of(zendesk_sandbox.app).find_by_external_id(call_id)
    assert ticket["status"] == "new"

    recording = enriched_event(call_id, event_type="recording_available")
    ended = enriched_event(call_id, event_type="call_ended", disposition="resolved")
    for event in (recording, ended):
        (rec,) = routed(router, event)
        outcome = await deliverer.deliver_record(rec)
        assert outcome.kind is OutcomeKind.DELIVERED, outcome.message

    state = state_of(zendesk_sandbox.app)
    assert len(state.find_by_external_id(call_id)) == 1
    assert state.tickets[ticket["id"]]["status"] == "solved"
    bodies = [n["body"] for n in notes(zendesk_sandbox, ticket["id"])]
    assert len(bodies) == 3
    assert "https://rec.example.com/r/1.mp3" in bodies[1]
    assert "Disposition: resolved" in bodies[2]
    # the status change went out as a safe update that Zendesk accepted
    assert sandbox_of(zendesk_sandbox.app).calls["PUT /api/v2/tickets/{ticket_id}"] == 3


async def test_event_for_a_call_without_ticket_waits_for_it(
    zendesk_sandbox: SandboxServer, zendesk_connector: ZendeskConnector
) -> None:
    ended = enriched_event(event_type="call_ended")
    outcome = await deliverer_for(zendesk_connector).deliver_record(record(ended, "add_context"))
    assert outcome.kind is OutcomeKind.RETRY_LATER
    assert "no ticket" in (outcome.message or "")
    assert state_of(zendesk_sandbox.app).tickets == {}


async def test_link_to_an_existing_ticket_by_hint(
    zendesk_sandbox: SandboxServer, zendesk_connector: ZendeskConnector
) -> None:
    existing = zendesk_sandbox.controls.mutate("seed_ticket", external_id="crm-case-9")
    event = enriched_event()
    outcome = await deliverer_for(zendesk_connector).deliver_record(
        record(event, "open_ticket", ticket_id=existing["id"])
    )
    assert outcome.kind is OutcomeKind.DELIVERED, outcome.message
    state = state_of(zendesk_sandbox.app)
    assert len(state.tickets) == 1
    assert len(notes(zendesk_sandbox, existing["id"])) == 1


@pytest.mark.parametrize(
    ("rule", "expected"),
    [("oldest", 0), ("newest", 1), ("dead_letter", None)],
)
async def test_several_tickets_with_the_call_external_id_follow_the_rule(
    zendesk_sandbox: SandboxServer, rule: str, expected: int | None
) -> None:
    event = enriched_event(event_type="call_ended")
    seeded = [
        zendesk_sandbox.controls.mutate("seed_ticket", external_id=event["call_id"])
        for _ in range(2)
    ]
    settings = zendesk_settings(zendesk_sandbox.url, duplicate_rule=rule)
    connector = ZendeskConnector(settings, reload_settings=lambda: settings)
    try:
        outcome = await deliverer_for(connector).deliver_record(record(event, "add_context"))
    finally:
        await connector.aclose()
    state = state_of(zendesk_sandbox.app)
    if expected is None:
        assert outcome.kind is OutcomeKind.DEAD_LETTER
        assert outcome.error_class == "data"
        for ticket in seeded:
            assert str(ticket["id"]) in (outcome.message or "")
        assert all(not notes(zendesk_sandbox, t["id"]) for t in seeded)
        return
    assert outcome.kind is OutcomeKind.DELIVERED, outcome.message
    chosen, other = seeded[expected], seeded[1 - expected]
    assert len(notes(zendesk_sandbox, chosen["id"])) == 1
    assert notes(zendesk_sandbox, other["id"]) == []
    assert state.tickets[chosen["id"]]["status"] == "solved"
    assert len(state.tickets) == 2


async def test_oauth_bearer_token(zendesk_sandbox: SandboxServer) -> None:
    good = zendesk_settings(
        zendesk_sandbox.url, email=None, api_token=None, oauth_token="oauth-abc"
    )
    bad = zendesk_settings(zendesk_sandbox.url, email=None, api_token=None, oauth_token="nope")
    for settings, kind in ((good, OutcomeKind.DELIVERED), (bad, OutcomeKind.PAUSE_AUTH)):
        connector = ZendeskConnector(settings, reload_settings=functools.partial(_same, settings))
        try:
            outcome = await deliverer_for(connector).deliver_record(record(enriched_event()))
        finally:
            await connector.aclose()
        assert outcome.kind is kind, outcome.message
        assert "nope" not in (outcome.message or "")
    assert len(state_of(zendesk_sandbox.app).tickets) == 1
