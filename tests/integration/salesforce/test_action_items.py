"""A call summary's action items become follow-up Tasks on the caller's Contact/Lead: one per
item, realtime and batch, and replays (even without the ledger) never add more."""

from __future__ import annotations

from datetime import date
from typing import Any

from connectors.base.connector import SyncRecord
from connectors.salesforce.sandbox import SalesforceSandbox
from connectors.salesforce.sink import SalesforceConnector
from pipeline.sinks.delivery import Deliverer, OutcomeKind
from pipeline.sinks.ledger import InMemoryLedger

from .conftest import make_deliverer
from .helpers import enriched_event, record_of
from .test_calls import deliver_all

CALLS = 100
UNKNOWN_EVERY = 5  # every 5th caller has no Salesforce match (and no Contact to find)
LOOKUP_EVERY = 7  # every 7th caller is unmatched by enrichment but found by phone lookup


def items_for(i: int) -> list[dict[str, Any]]:
    """0..3 action items, some with a due date, as the summariser emits them."""
    return [
        {
            "description": f"Follow up {i}-{n}",
            "owner": None,
            "due_date": date(2026, 12, 1 + n) if n % 2 == 0 else None,
            "kind": "task",
        }
        for n in range(i % 4)
    ]


def summaries(sf: SalesforceSandbox, prefix: str) -> tuple[list[SyncRecord], dict[str, Any]]:
    """(call_summary records, action-item external id -> (expected WhoId, subject, due))."""
    records, expected = [], {}
    for i in range(CALLS):
        phone = f"+1666{i:07d}"
        contact: str | None = None
        if i % UNKNOWN_EVERY != 0:
            contact = sf.org.insert("Contact", {"LastName": f"Caller {i}", "Phone": phone})
        matched = contact if i % LOOKUP_EVERY != 0 else None
        event = enriched_event(
            f"{prefix}-{i:03d}",
            contact_id=matched,
            phone=phone,
            event_type="call_summary",
            action_items=items_for(i),
        )
        records.append(record_of(event))
        for n, item in enumerate(items_for(i)):
            due = item["due_date"].isoformat() if item["due_date"] else None
            expected[f"{event['event_id']}:{n}"] = (contact, item["description"], due)
    return records, expected


def action_item_tasks(sf: SalesforceSandbox) -> dict[str, dict[str, Any]]:
    tasks = [t for t in sf.org.all("Task") if t.get("Voicebus_Action_Item_Id__c")]
    by_id = {t["Voicebus_Action_Item_Id__c"]: t for t in tasks}
    assert len(by_id) == len(tasks), "two Tasks share an action-item id"
    return by_id


def check_tasks(sf: SalesforceSandbox, expected: dict[str, Any]) -> None:
    tasks = action_item_tasks(sf)
    assert set(tasks) == set(expected)
    for key, (who, subject, due) in expected.items():
        task = tasks[key]
        assert task.get("WhoId") == who, key
        assert (task["Subject"], task.get("ActivityDate")) == (subject, due)
        assert (task["Status"], task["Priority"], task["TaskSubtype"]) == (
            "Not Started", "Normal", "Task",
        )  # fmt: skip
        assert "Voicebus_Call_Id__c" not in task  # the call Task stays the only call record


async def test_hundred_summaries_make_one_follow_up_task_per_action_item(
    sf: SalesforceSandbox, connector: SalesforceConnector
) -> None:
    records, expected = summaries(sf, "ai")
    assert len(expected) == sum(i % 4 for i in range(CALLS))  # 150 items
    deliverer = make_deliverer(connector)
    outcomes = await deliver_all(deliverer, records)
    assert {o.kind for o in outcomes} == {OutcomeKind.DELIVERED}, [o.message for o in outcomes]
    check_tasks(sf, expected)
    assert len(sf.org.all("Task")) == CALLS + len(expected)  # call Tasks + follow-ups

    # a summary delivered again (new sink, ledger lost): the upsert keys hold
    fresh = Deliverer(connector, InMemoryLedger(), deliverer.resilience)
    again = await deliver_all(fresh, records)
    assert {o.kind for o in again} == {OutcomeKind.DELIVERED}
    assert len(sf.org.all("Task")) == CALLS + len(expected)
    check_tasks(sf, expected)


async def test_batch_mode_sends_action_items_in_their_own_collection_call(
    sf: SalesforceSandbox, connector: SalesforceConnector
) -> None:
    records, expected = summaries(sf, "ab")
    deliverer = make_deliverer(connector)
    outcomes = []
    for start in range(0, CALLS, 50):
        outcomes += await deliverer.deliver_batch(records[start : start + 50])
    assert {o.kind for o in outcomes} == {OutcomeKind.DELIVERED}, [o.message for o in outcomes]
    check_tasks(sf, expected)
    assert len(sf.org.all("Task")) == CALLS + len(expected)

    replay = []
    fresh = Deliverer(connector, InMemoryLedger(), deliverer.resilience)
    for start in range(0, CALLS, 50):
        replay += await fresh.deliver_batch(records[start : start + 50])
    assert {o.kind for o in replay} == {OutcomeKind.DELIVERED}
    assert len(sf.org.all("Task")) == CALLS + len(expected)
    check_tasks(sf, expected)
