"""safe_update conflicts resolved by ``pipeline.conflicts``, and create_many/update_many jobs
with per-item outcomes, against the Zendesk sandbox."""

from __future__ import annotations

import httpx
import pytest

from connectors.base.errors import ConflictError
from connectors.base.sandbox import SandboxServer
from connectors.zendesk.sandbox import sandbox_of, state_of
from connectors.zendesk.sink import ZendeskConnector
from pipeline.conflicts import ConflictRecord, ConflictRules, RuleBasedConflictHandler
from pipeline.sinks.delivery import OutcomeKind
from tests.integration.zendesk.conftest import (
    API_TOKEN,
    EMAIL,
    enriched_event,
    record,
    zendesk_settings,
)
from tests.integration.zendesk.test_tickets import deliverer_for, notes


class ListPublisher:
    """Where parked conflicts land in this test (the Kafka publisher's protocol)."""

    def __init__(self) -> None:
        self.published: list[ConflictRecord] = []

    async def publish(self, conflict: ConflictRecord) -> None:
        self.published.append(conflict)


async def _open_then_agent_edits(
    sandbox: SandboxServer, connector: ZendeskConnector
) -> tuple[int, str]:
    summary = enriched_event()
    opened = await deliverer_for(connector).deliver_record(record(summary))
    assert opened.kind is OutcomeKind.DELIVERED, opened.message
    (ticket,) = state_of(sandbox.app).find_by_external_id(summary["call_id"])
    # an agent puts the ticket on hold in the Zendesk UI after our write
    sandbox.controls.mutate("change_ticket", ticket_id=ticket["id"], status="hold")
    return ticket["id"], summary["call_id"]


async def test_update_conflict_without_handler_reports_both_sides(
    zendesk_sandbox: SandboxServer, zendesk_connector: ZendeskConnector
) -> None:
    ticket_id, call_id = await _open_then_agent_edits(zendesk_sandbox, zendesk_connector)
    ended = enriched_event(call_id, event_type="call_ended", disposition="resolved")
    outcome = await deliverer_for(zendesk_connector).deliver_record(record(ended, "add_context"))
    assert outcome.kind is OutcomeKind.CONFLICT
    error = outcome.error
    assert isinstance(error, ConflictError)
    assert error.record_ref == f"zendesk:ticket/{ticket_id}"
    assert error.event_values == {"status": "solved"}
    assert error.target_values == {"status": "hold"}
    ticket = state_of(zendesk_sandbox.app).tickets[ticket_id]
    assert error.target_modified_at == ticket["updated_at"]
    assert ticket["status"] == "hold"  # nothing written
    assert len(notes(zendesk_sandbox, ticket_id)) == 1


@pytest.mark.parametrize(("rule", "status"), [("voice_wins", "solved"), ("target_wins", "hold")])
async def test_update_conflict_resolved_by_rule_is_forced(
    zendesk_sandbox: SandboxServer, zendesk_connector: ZendeskConnector, rule: str, status: str
) -> None:
    ticket_id, call_id = await _open_then_agent_edits(zendesk_sandbox, zendesk_connector)
    rules = ConflictRules.model_validate({"targets": {"zendesk": {"status": rule}}})
    publisher = ListPublisher()
    handler = RuleBasedConflictHandler(rules, publisher, target="zendesk")
    deliverer = deliverer_for(zendesk_connector, conflict_handler=handler)
    ended = enriched_event(call_id, event_type="call_ended", disposition="resolved")
    outcome = await deliverer.deliver_record(record(ended, "add_context"))
    assert outcome.kind is OutcomeKind.DELIVERED, outcome.message
    assert publisher.published == []
    ticket = state_of(zendesk_sandbox.app).tickets[ticket_id]
    assert ticket["status"] == status
    assert len(notes(zendesk_sandbox, ticket_id)) == 2  # the call's note went in once
    # the redelivered record is a duplicate: the resolution is not replayed
    again = await deliverer.deliver_record(record(ended, "add_context"))
    assert again.kind is OutcomeKind.DUPLICATE


async def test_update_conflict_parked_for_manual_rule(
    zendesk_sandbox: SandboxServer, zendesk_connector: ZendeskConnector
) -> None:
    ticket_id, call_id = await _open_then_agent_edits(zendesk_sandbox, zendesk_connector)
    publisher = ListPublisher()
    handler = RuleBasedConflictHandler(ConflictRules(), publisher, target="zendesk")
    ended = enriched_event(call_id, event_type="call_ended", disposition="resolved")
    outcome = await deliverer_for(zendesk_connector, conflict_handler=handler).deliver_record(
        record(ended, "add_context")
    )
    assert outcome.kind is OutcomeKind.CONFLICT_PARKED
    (parked,) = publisher.published
    assert parked.record_ref == f"zendesk:ticket/{ticket_id}"
    assert parked.fields["status"].event == "solved"
    assert parked.fields["status"].target == "hold"


async def test_create_many_job_fails_only_the_invalid_item(
    zendesk_sandbox: SandboxServer, zendesk_connector: ZendeskConnector
) -> None:
    events = [enriched_event(email=f"c{i}@example.com") for i in range(5)]
    events[2] = enriched_event(email="not-an-email")
    records = [record(e) for e in events]
    outcomes = await deliverer_for(zendesk_connector).deliver_batch(records)
    kinds = [o.kind for o in outcomes]
    assert (
        kinds
        == [OutcomeKind.DELIVERED] * 2 + [OutcomeKind.DEAD_LETTER] + [OutcomeKind.DELIVERED] * 2
    ), [o.message for o in outcomes]
    assert outcomes[2].error_class == "data"
    assert "RecordInvalid" in (outcomes[2].message or "")
    assert "requester" in (outcomes[2].message or "")
    assert "not-an-email" not in (outcomes[2].message or "")

    state = state_of(zendesk_sandbox.app)
    box = sandbox_of(zendesk_sandbox.app)
    assert box.calls["POST /api/v2/tickets/create_many"] == 1
    assert box.calls["PUT /api/v2/tickets/update_many"] == 1
    assert box.calls["POST /api/v2/tickets"] == 0
    assert box.calls["GET /api/v2/job_statuses/{job_status_id}"] >= 2
    for index, event in enumerate(events):
        found = state.find_by_external_id(event["call_id"])
        assert len(found) == (0 if index == 2 else 1)
        if found:
            assert len(notes(zendesk_sandbox, found[0]["id"])) == 1
            assert outcomes[index].results[0].external_id == str(found[0]["id"])


async def test_batch_with_two_events_of_one_call_makes_one_ticket(
    zendesk_sandbox: SandboxServer, zendesk_connector: ZendeskConnector
) -> None:
    first = enriched_event()
    second = enriched_event(first["call_id"])
    outcomes = await deliverer_for(zendesk_connector).deliver_batch([record(first), record(second)])
    assert [o.kind for o in outcomes] == [OutcomeKind.DELIVERED] * 2
    (ticket,) = state_of(zendesk_sandbox.app).find_by_external_id(first["call_id"])
    assert len(notes(zendesk_sandbox, ticket["id"])) == 2


async def test_idempotency_key_semantics_of_the_sandbox(zendesk_sandbox: SandboxServer) -> None:
    body = {"ticket": {"subject": "s", "comment": {"body": "b"}, "external_id": "c-1"}}
    async with httpx.AsyncClient(
        base_url=zendesk_sandbox.url, auth=(f"{EMAIL}/token", API_TOKEN)
    ) as http:
        headers = {"Idempotency-Key": "k-1"}
        first = await http.post("/api/v2/tickets", json=body, headers=headers)
        second = await http.post("/api/v2/tickets", json=body, headers=headers)
        other = {"ticket": {**body["ticket"], "subject": "changed"}}
        third = await http.post("/api/v2/tickets", json=other, headers=headers)
        no_auth = await http.get("/api/v2/tickets", auth=("x/token", "wrong"))
        unknown = await http.get("/api/v2/nothing-here")
    assert first.status_code == 201 and first.headers["x-idempotency-lookup"] == "miss"
    assert second.status_code == 201 and second.headers["x-idempotency-lookup"] == "hit"
    assert second.json()["ticket"]["id"] == first.json()["ticket"]["id"]
    assert third.status_code == 400 and third.json()["error"] == "IdempotentRequestError"
    assert no_auth.status_code == 401
    assert no_auth.json() == {"error": "Couldn't authenticate you"}
    assert unknown.status_code == 404 and unknown.json()["error"] == "InvalidEndpoint"
    assert len(state_of(zendesk_sandbox.app).tickets) == 1
    assert first.headers["X-Rate-Limit-Remaining"].isdigit()
    sandbox_of(zendesk_sandbox.app).violations.clear()  # the unknown path was on purpose


async def test_batch_update_conflict_settles_only_its_item(
    zendesk_sandbox: SandboxServer, zendesk_connector: ZendeskConnector
) -> None:
    ticket_id, call_id = await _open_then_agent_edits(zendesk_sandbox, zendesk_connector)
    calm = enriched_event()
    deliverer = deliverer_for(zendesk_connector)
    assert (await deliverer.deliver_record(record(calm))).kind is OutcomeKind.DELIVERED
    records = [
        record(enriched_event(call_id, event_type="call_ended"), "add_context"),
        record(enriched_event(calm["call_id"], event_type="call_ended"), "add_context"),
        record(enriched_event()),
    ]
    outcomes = await deliverer.deliver_batch(records)
    assert [o.kind for o in outcomes] == [
        OutcomeKind.CONFLICT,
        OutcomeKind.DELIVERED,
        OutcomeKind.DELIVERED,
    ], [o.message for o in outcomes]
    state = state_of(zendesk_sandbox.app)
    assert state.tickets[ticket_id]["status"] == "hold"
    (calm_ticket,) = state.find_by_external_id(calm["call_id"])
    assert state.tickets[calm_ticket["id"]]["status"] == "solved"


async def test_create_retried_after_a_lost_answer_returns_the_same_ticket(
    zendesk_sandbox: SandboxServer, zendesk_connector: ZendeskConnector
) -> None:
    (operation,) = zendesk_connector.map_record(record(enriched_event()))
    first = await zendesk_connector.writer.create(operation.payload)
    again = await zendesk_connector.writer.create(operation.payload)  # as after a timeout
    assert again["id"] == first["id"]
    assert again["_replayed"] is True and first["_replayed"] is False
    assert len(state_of(zendesk_sandbox.app).tickets) == 1


async def test_list_lookup_finds_the_call_ticket(zendesk_sandbox: SandboxServer) -> None:
    event = enriched_event(event_type="call_ended")
    seeded = zendesk_sandbox.controls.mutate("seed_ticket", external_id=event["call_id"])
    settings = zendesk_settings(zendesk_sandbox.url, ticket_lookup="list")
    connector = ZendeskConnector(settings, reload_settings=lambda: settings)
    try:
        outcome = await deliverer_for(connector).deliver_record(record(event, "add_context"))
    finally:
        await connector.aclose()
    assert outcome.kind is OutcomeKind.DELIVERED, outcome.message
    assert outcome.results[0].external_id == str(seeded["id"])
    box = sandbox_of(zendesk_sandbox.app)
    assert box.calls["GET /api/v2/tickets"] == 1 and box.calls["GET /api/v2/search"] == 0
