"""100 simulated calls -> 100 Tasks on the right contacts; replays never duplicate; unmatched
callers become Leads by rule; batch mode cuts API calls per call by >= 10x."""

from __future__ import annotations

import asyncio

from connectors.salesforce.sandbox import SalesforceSandbox
from connectors.salesforce.sink import SalesforceConnector
from pipeline.sinks.delivery import Deliverer, OutcomeKind
from pipeline.sinks.ledger import InMemoryLedger

from .conftest import make_deliverer
from .helpers import enriched_event, record_of

CALLS = 100
UNMATCHED_EVERY = 5  # every 5th caller is unknown to Salesforce


def seed_and_build(
    sf: SalesforceSandbox, prefix: str = "call"
) -> tuple[list, dict[str, str | None]]:
    """(records, call_id -> expected WhoId); unmatched callers also get an upsert_lead record,
    as the routing rule 'customer_matched: false -> salesforce upsert_lead' would send."""
    records, expected = [], {}
    for i in range(CALLS):
        call_id = f"{prefix}-{i:03d}"
        phone = f"+1555{i:07d}"
        if i % UNMATCHED_EVERY == 0:
            event = enriched_event(call_id, phone=phone)
            records.append(record_of(event))
            records.append(record_of(event, "upsert_lead", company="Walk-in"))
            expected[call_id] = None
        else:
            contact = sf.org.insert("Contact", {"LastName": f"Caller {i}", "Phone": phone})
            records.append(record_of(enriched_event(call_id, contact_id=contact, phone=phone)))
            expected[call_id] = contact
    return records, expected


def tasks_by_call(sf: SalesforceSandbox) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for task in sf.org.all("Task"):
        out.setdefault(task["Voicebus_Call_Id__c"], []).append(task)
    return out


async def deliver_all(deliverer: Deliverer, records: list) -> list:
    # different calls concurrently, as the sink runtime's key lanes do
    return await asyncio.gather(*(deliverer.deliver_record(r) for r in records))


async def test_hundred_calls_make_hundred_tasks_and_replays_do_not_duplicate(
    sf: SalesforceSandbox, connector: SalesforceConnector
) -> None:
    records, expected = seed_and_build(sf)
    deliverer = make_deliverer(connector)
    outcomes = await deliver_all(deliverer, records)
    assert {o.kind for o in outcomes} == {OutcomeKind.DELIVERED}, [o.message for o in outcomes]
    tasks = tasks_by_call(sf)
    assert len(sf.org.all("Task")) == CALLS and len(tasks) == CALLS
    for call_id, who in expected.items():
        (task,) = tasks[call_id]
        assert task.get("WhoId") == who, call_id
        assert task["TaskSubtype"] == "Call" and task["Status"] == "Completed"
        assert task["CallType"] == "Inbound" and task["CallDurationInSeconds"] == 125
    leads = sf.org.all("Lead")
    assert len(leads) == CALLS // UNMATCHED_EVERY
    assert {lead["Voicebus_Phone__c"] for lead in leads} == {
        f"+1555{i:07d}" for i in range(0, CALLS, UNMATCHED_EVERY)
    }
    assert all(lead["Company"] == "Walk-in" for lead in leads)

    # replay through the same sink: the ledger answers, nothing is sent
    calls_before = sf.org.api_calls
    replay = await deliver_all(deliverer, records)
    assert {o.kind for o in replay} == {OutcomeKind.DUPLICATE}
    assert sf.org.api_calls == calls_before

    # replay after losing the ledger (new sink, fresh ledger): Salesforce's upsert keys hold
    fresh = Deliverer(connector, InMemoryLedger(), deliverer.resilience)
    again = await deliver_all(fresh, records)
    assert {o.kind for o in again} == {OutcomeKind.DELIVERED}
    assert len(sf.org.all("Task")) == CALLS
    assert len(sf.org.all("Lead")) == CALLS // UNMATCHED_EVERY
    assert all(len(v) == 1 for v in tasks_by_call(sf).values())


async def test_unmatched_caller_with_a_contact_in_salesforce_is_linked_by_phone_lookup(
    sf: SalesforceSandbox, connector: SalesforceConnector
) -> None:
    contact = sf.org.insert("Contact", {"LastName": "Known", "MobilePhone": "+15557654321"})
    record = record_of(enriched_event("call-lookup", phone="+15557654321"))
    outcome = await make_deliverer(connector).deliver_record(record)
    assert outcome.kind is OutcomeKind.DELIVERED
    (task,) = sf.org.find_by("Task", "Voicebus_Call_Id__c", "call-lookup")
    assert task["WhoId"] == contact


async def test_call_summary_updates_the_same_task_with_the_summary(
    sf: SalesforceSandbox, connector: SalesforceConnector
) -> None:
    contact = sf.org.insert("Contact", {"LastName": "Doe", "Phone": "+15550100"})
    deliverer = make_deliverer(connector)
    ended = enriched_event("call-s", contact_id=contact)
    summary = enriched_event(
        "call-s", contact_id=contact, event_type="call_summary", summary="Wants a refund"
    )
    for event in (ended, summary):
        assert (await deliverer.deliver_record(record_of(event))).kind is OutcomeKind.DELIVERED
    (task,) = sf.org.find_by("Task", "Voicebus_Call_Id__c", "call-s")
    assert "Wants a refund" in task["Description"] and "Sentiment: POSITIVE" in task["Description"]


async def test_batch_mode_cuts_api_calls_per_call_by_ten_times(
    sf: SalesforceSandbox, connector: SalesforceConnector
) -> None:
    realtime_records, _ = seed_and_build(sf, "rt")
    log_calls = [r for r in realtime_records if r.operation == "log_call"]
    before = sf.org.api_calls
    outcomes = await deliver_all(make_deliverer(connector), log_calls)
    assert {o.kind for o in outcomes} == {OutcomeKind.DELIVERED}
    realtime_calls = sf.org.api_calls - before

    batch_records, expected = seed_and_build(sf, "bt")
    batch_log_calls = [r for r in batch_records if r.operation == "log_call"]
    deliverer = make_deliverer(connector)
    before = sf.org.api_calls
    batch_outcomes = []
    for start in range(0, len(batch_log_calls), 50):  # the runtime's default batch_size
        batch_outcomes += await deliverer.deliver_batch(batch_log_calls[start : start + 50])
    batch_calls = sf.org.api_calls - before
    assert {o.kind for o in batch_outcomes} == {OutcomeKind.DELIVERED}
    tasks = tasks_by_call(sf)
    for call_id, who in expected.items():
        (task,) = tasks[call_id]
        assert task.get("WhoId") == who
    per_call_realtime = realtime_calls / CALLS
    per_call_batch = batch_calls / CALLS
    print(f"API calls per call: realtime {per_call_realtime:.2f}, batch {per_call_batch:.2f}")
    assert realtime_calls >= CALLS
    assert per_call_realtime >= 10 * per_call_batch


async def test_batch_item_failures_are_per_record(
    sf: SalesforceSandbox, connector: SalesforceConnector
) -> None:
    from connectors.salesforce.sandbox_state import RecordError

    def no_short_calls(sobject, fields):
        if sobject == "Task" and fields.get("CallDisposition") == "rejected-by-rule":
            return RecordError(
                400,
                "FIELD_CUSTOM_VALIDATION_EXCEPTION",
                "Disposition not allowed",
                ["CallDisposition"],
            )
        return None

    sf.org.validation_rules.append(no_short_calls)
    good = [record_of(enriched_event(f"ok-{i}")) for i in range(3)]
    bad_event = enriched_event("bad-1")
    bad_event["call"]["disposition"] = "rejected-by-rule"
    outcomes = await make_deliverer(connector).deliver_batch([*good, record_of(bad_event)])
    assert [o.kind for o in outcomes[:3]] == [OutcomeKind.DELIVERED] * 3
    assert outcomes[3].kind is OutcomeKind.DEAD_LETTER and outcomes[3].error_class == "data"
    assert "FIELD_CUSTOM_VALIDATION_EXCEPTION" in outcomes[3].message
    assert "CallDisposition" in outcomes[3].message
    assert "Disposition not allowed" not in outcomes[3].message  # vendor text stays out
    assert len(sf.org.all("Task")) == 3


async def test_one_unknown_number_calling_twice_in_a_batch_makes_one_lead(
    sf: SalesforceSandbox, connector: SalesforceConnector
) -> None:
    first = enriched_event("twice-1", phone="+15551112222")
    second = enriched_event("twice-2", phone="+15551112222")
    records = [
        record_of(first, "upsert_lead", last_name="Early"),
        record_of(second, "upsert_lead", last_name="Later"),
        record_of(first),
        record_of(second),
    ]
    outcomes = await make_deliverer(connector).deliver_batch(records)
    assert [o.kind for o in outcomes] == [OutcomeKind.DELIVERED] * 4, [o.message for o in outcomes]
    (lead,) = sf.org.all("Lead")
    assert lead["LastName"] == "Later"
    assert len(sf.org.all("Task")) == 2
