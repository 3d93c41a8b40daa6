"""HubSpot behaviour through the real Deliverer against the sandbox: 100 calls, replays,
tasks, batch mode economy, 207 partial failures, rate limits, deal stages."""

from __future__ import annotations

import asyncio

import pytest

from connectors.base.sandbox import SandboxServer
from connectors.hubspot.sandbox import HubSpotState, make_app, state_of
from connectors.hubspot.sink import HubSpotConnector
from pipeline.resilience.target import ResilienceSettings, TargetResilience
from pipeline.sinks.delivery import Deliverer, OutcomeKind
from pipeline.sinks.ledger import InMemoryLedger
from tests.integration.hubspot.conftest import (
    TOKEN,
    add_contact,
    add_deal,
    calls_with,
    enriched_event,
    hubspot_settings,
    record_of,
)

FAST = ResilienceSettings(
    rate_per_s=0, max_attempts=3, initial_backoff_s=0.01, max_backoff_s=0.02, jitter_s=0
)


def deliverer_for(
    connector: HubSpotConnector,
    ledger: InMemoryLedger | None = None,
    settings: ResilienceSettings = FAST,
) -> Deliverer:
    return Deliverer(
        connector, ledger or InMemoryLedger(), TargetResilience.from_settings("hubspot", settings)
    )


def hundred_calls(state: HubSpotState) -> tuple[list, dict[str, str]]:
    """100 calls (ended + summary with two action items); even calls name their HubSpot
    contact, odd ones are found by the caller's number."""
    records, contact_of = [], {}
    for n in range(100):
        phone = f"+1415555{n:04d}"
        contact = add_contact(state, phone)
        call_id = f"call-{n:03d}"
        contact_of[call_id] = contact
        named = contact if n % 2 == 0 else None
        items = [
            {
                "description": f"Send refund form #{n}",
                "owner": None,
                "due_date": None,
                "kind": "email",
            },
            {
                "description": f"Call back customer #{n}",
                "owner": None,
                "due_date": 20790,
                "kind": "task",
            },
        ]
        records.append(record_of(enriched_event(call_id, contact_id=named, phone=phone)))
        records.append(
            record_of(
                enriched_event(
                    call_id,
                    event_type="call_summary",
                    contact_id=named,
                    phone=phone,
                    action_items=items,
                )
            )
        )
    return records, contact_of


def check_effects(state: HubSpotState, contact_of: dict[str, str]) -> None:
    calls = state.store.all("calls")
    assert len(calls) == 100
    for call in calls:
        call_id = call["properties"]["voicebus_call_id"]
        assert state.store.associated("calls", call["id"], "contacts") == [contact_of[call_id]]
        assert call["properties"]["hs_call_status"] == "COMPLETED"
        assert call["properties"]["hs_call_body"].startswith("Customer asked about a refund")
        assert call["properties"]["hs_call_duration"] == "95000"
    tasks = state.store.all("tasks")
    assert len(tasks) == 200
    assert len({t["properties"]["voicebus_task_id"] for t in tasks}) == 200
    for task in tasks:
        assert len(state.store.associated("tasks", task["id"], "contacts")) == 1
        assert task["properties"]["hs_task_status"] == "NOT_STARTED"
    for contact in contact_of.values():
        props = state.store.get("contacts", contact)["properties"]
        assert props["voicebus_last_call_sentiment"] == "NEGATIVE"
        assert props["voicebus_last_call_intents"] == "refund;billing"


async def test_hundred_calls_once_each_and_replays_change_nothing(hubspot_connector, hubspot_state):
    records, contact_of = hundred_calls(hubspot_state)
    ledger = InMemoryLedger()
    deliverer = deliverer_for(hubspot_connector, ledger)
    outcomes = [await deliverer.deliver_record(r) for r in records]
    assert {o.kind for o in outcomes} == {OutcomeKind.DELIVERED}, [o.message for o in outcomes]
    check_effects(hubspot_state, contact_of)

    # replay with the same ledger: nothing is sent again
    replay = [await deliverer.deliver_record(r) for r in records]
    assert {o.kind for o in replay} == {OutcomeKind.DUPLICATE}

    # replay with the ledger lost: HubSpot's unique properties keep one copy of everything
    fresh = deliverer_for(hubspot_connector, InMemoryLedger())
    again = [await fresh.deliver_record(r) for r in records]
    assert {o.kind for o in again} == {OutcomeKind.DELIVERED}, [o.message for o in again]
    check_effects(hubspot_state, contact_of)


async def test_batch_mode_makes_ten_times_fewer_api_calls_per_call(hubspot_sandbox, hubspot_state):
    settings = hubspot_settings(hubspot_sandbox.url)
    connector = HubSpotConnector(settings, reload_settings=lambda: settings)
    try:
        realtime = [
            record_of(enriched_event(f"rt-{n}", contact_id=add_contact(hubspot_state, f"+1{n}")))
            for n in range(100)
        ]
        batched = [
            record_of(enriched_event(f"bt-{n}", contact_id=add_contact(hubspot_state, f"+2{n}")))
            for n in range(100)
        ]
        deliverer = deliverer_for(connector)
        hubspot_sandbox.controls.reset()
        for record in realtime:
            assert (await deliverer.deliver_record(record)).kind is OutcomeKind.DELIVERED
        realtime_calls = hubspot_sandbox.controls.requests()
        hubspot_sandbox.controls.reset()
        for start in range(0, 100, 50):  # the sink's default batch_size
            outcomes = await deliverer.deliver_batch(batched[start : start + 50])
            assert {o.kind for o in outcomes} == {OutcomeKind.DELIVERED}
        batch_calls = hubspot_sandbox.controls.requests()
    finally:
        await connector.aclose()
    assert len(hubspot_state.store.all("calls")) == 200
    for record in batched:
        (call,) = calls_with(hubspot_state, record.event["call_id"])
        expected = record.event["customer"]["match"]["record_id"]
        assert hubspot_state.store.associated("calls", call["id"], "contacts") == [expected]
    per_call_realtime, per_call_batch = realtime_calls / 100, batch_calls / 100
    assert per_call_realtime >= 10 * per_call_batch, (realtime_calls, batch_calls)


async def test_partial_batch_failure_fails_only_the_failed_inputs(
    hubspot_sandbox, hubspot_connector, hubspot_state
):
    records = [
        record_of(enriched_event(f"p-{n}", contact_id=add_contact(hubspot_state, f"+3{n}")))
        for n in range(10)
    ]
    bad = {"p-2", "p-5", "p-7"}
    hubspot_sandbox.controls.mutate("fail_inputs", object_type="calls", keys=sorted(bad))
    before = hubspot_sandbox.controls.requests("/crm/v3/objects/calls/batch/upsert")
    outcomes = await deliverer_for(hubspot_connector).deliver_batch(records)
    kinds = {r.event["call_id"]: o for r, o in zip(records, outcomes, strict=True)}
    for call_id, outcome in kinds.items():
        if call_id in bad:
            assert outcome.kind is OutcomeKind.DEAD_LETTER
            assert outcome.error_class == "data"
            assert "VALIDATION_ERROR" in (outcome.message or "")
            assert calls_with(hubspot_state, call_id) == []
        else:
            assert outcome.kind is OutcomeKind.DELIVERED, outcome.message
            assert len(calls_with(hubspot_state, call_id)) == 1
    # one batch call: the failed inputs were not retried, the delivered not resent
    assert hubspot_sandbox.controls.requests("/crm/v3/objects/calls/batch/upsert") - before == 1


async def test_vanished_contact_fails_only_its_insights(
    hubspot_sandbox, hubspot_connector, hubspot_state
):
    contacts = [add_contact(hubspot_state, f"+4{n}") for n in range(4)]
    records = [
        record_of(enriched_event(f"v-{n}", event_type="call_summary", contact_id=c))
        for n, c in enumerate(contacts)
    ]
    hubspot_sandbox.controls.mutate("delete_object", object_type="contacts", object_id=contacts[1])
    outcomes = await deliverer_for(hubspot_connector).deliver_batch(records)
    assert [o.kind for o in outcomes] == [
        OutcomeKind.DELIVERED,
        OutcomeKind.DEAD_LETTER,
        OutcomeKind.DELIVERED,
        OutcomeKind.DELIVERED,
    ]
    assert outcomes[1].error_class == "data"
    props = hubspot_state.store.get("contacts", contacts[2])["properties"]
    assert props["voicebus_last_call_sentiment"] == "NEGATIVE"


async def test_rate_limit_of_ten_per_second_sends_nothing_to_the_dlq():
    app = make_app(private_tokens=[TOKEN], secondly=10, ten_secondly=None, search_per_s=None)
    with SandboxServer(app) as srv:
        state = state_of(srv.app)
        # configured above the portal's limit on purpose: the first burst of 20 meets 429s,
        # then the X-HubSpot-RateLimit headers bring the client's rate down to 10/s
        settings = hubspot_settings(srv.url, requests_per_s=50, burst=20)
        connector = HubSpotConnector(settings, reload_settings=lambda: settings)
        resilience = ResilienceSettings(rate_per_s=0, max_attempts=3, jitter_s=0)
        try:
            deliverer = deliverer_for(connector, settings=resilience)
            records = [
                record_of(enriched_event(f"r-{n}", contact_id=add_contact(state, f"+5{n}")))
                for n in range(25)
            ]
            outcomes = await asyncio.gather(*(deliverer.deliver_record(r) for r in records))
        finally:
            await connector.aclose()
        assert state.limits.rejected.get("SECONDLY", 0) > 0  # 429s did happen
        assert connector.client.bucket.rate_per_s == pytest.approx(10.0)
        assert [o.kind for o in outcomes] == [OutcomeKind.DELIVERED] * 25, (
            [o.message for o in outcomes if o.kind is not OutcomeKind.DELIVERED],
            state.limits.rejected,
        )
        assert len(state.store.all("calls")) == 25


async def test_route_moves_the_deal_stage(hubspot_sandbox, hubspot_connector, hubspot_state):
    contact = add_contact(hubspot_state, "+16505550100")
    deal = {"id": add_deal(hubspot_state, dealstage="contractsent")}
    event = enriched_event("deal-1", contact_id=contact, deal_id=deal["id"])
    deliverer = deliverer_for(hubspot_connector)
    moved = await deliverer.deliver_record(
        record_of(event, operation="move_deal_stage", hints={"dealstage": "closedwon"})
    )
    assert moved.kind is OutcomeKind.DELIVERED, moved.message
    assert hubspot_state.store.get("deals", deal["id"])["properties"]["dealstage"] == "closedwon"
    logged = await deliverer.deliver_record(record_of(event))
    assert logged.kind is OutcomeKind.DELIVERED
    (call,) = calls_with(hubspot_state, "deal-1")
    assert hubspot_state.store.associated("calls", call["id"], "deals") == [deal["id"]]

    unknown_stage = await deliverer.deliver_record(
        record_of(
            enriched_event("deal-2", contact_id=contact, deal_id=deal["id"]),
            operation="move_deal_stage",
            hints={"dealstage": "no_such_stage"},
        )
    )
    assert unknown_stage.kind is OutcomeKind.DEAD_LETTER
    assert unknown_stage.error_class == "data"
    assert "dealstage" in (unknown_stage.message or "")
    assert "no_such_stage" not in (unknown_stage.message or "")


async def test_unknown_caller_is_logged_without_an_association(hubspot_connector, hubspot_state):
    outcome = await deliverer_for(hubspot_connector).deliver_record(
        record_of(enriched_event("anon-1", phone="+19995550000"))
    )
    assert outcome.kind is OutcomeKind.DELIVERED, outcome.message
    (call,) = calls_with(hubspot_state, "anon-1")
    assert hubspot_state.store.associated("calls", call["id"], "contacts") == []
