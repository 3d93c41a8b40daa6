"""An incident a person changed after the call event: ConflictError, then pipeline.conflicts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from connectors.base.connector import SyncRecord
from connectors.base.errors import ConflictError
from connectors.base.sandbox import SandboxServer
from connectors.servicenow.sandbox import instance_of
from connectors.servicenow.sink import ServiceNowConnector
from pipeline.conflicts import ConflictRecord, ConflictRules, RuleBasedConflictHandler
from pipeline.conflicts.decide import resolution_hints
from pipeline.sinks.delivery import OutcomeKind
from tests.integration.servicenow.conftest import enriched_event, make_connector
from tests.integration.servicenow.test_incidents import deliverer_for


class ListPublisher:
    def __init__(self) -> None:
        self.records: list[ConflictRecord] = []

    async def publish(self, record: ConflictRecord) -> None:
        self.records.append(record)


@pytest.fixture
async def connector(sn_sandbox: SandboxServer):
    c = make_connector(sn_sandbox.url)
    yield c
    await c.aclose()


async def _opened_then_edited(
    sandbox: SandboxServer, connector: ServiceNowConnector, call_id: str
) -> tuple[str, SyncRecord]:
    t0 = datetime.now(UTC) - timedelta(minutes=10)
    opened = await deliverer_for(connector).deliver_record(
        SyncRecord(call_id, enriched_event(call_id, occurred_at=t0), "open_incident")
    )
    assert opened.kind is OutcomeKind.DELIVERED
    sys_id = str(opened.results[0].external_id)
    sandbox.controls.mutate("touch", table="incident", sys_id=sys_id, fields={"state": "3"})
    later = enriched_event(call_id, "recording_available", occurred_at=t0 + timedelta(minutes=1))
    return sys_id, SyncRecord(call_id, later, "update_incident", {"state": "in_progress"})


async def test_change_behind_our_back_raises_conflict_with_both_sides(
    sn_sandbox: SandboxServer, connector: ServiceNowConnector
) -> None:
    sys_id, update = await _opened_then_edited(sn_sandbox, connector, "call-c1")
    outcome = await deliverer_for(connector).deliver_record(update)
    assert outcome.kind is OutcomeKind.CONFLICT
    error = outcome.error
    assert isinstance(error, ConflictError)
    assert error.record_ref == f"servicenow:incident/{sys_id}"
    assert error.event_values["state"] == "2"
    assert "Call recording available" in error.event_values["work_notes"]
    assert error.target_values == {"work_notes": "", "state": "3"}
    store = instance_of(sn_sandbox.app).store
    assert error.target_modified_at is not None
    assert error.target_modified_at.startswith(
        store.get("incident", sys_id)["sys_updated_on"].replace(" ", "T")
    )
    assert store.get("incident", sys_id)["state"] == "3" and store.notes(sys_id) == []


async def test_rules_resolve_the_conflict_and_the_forced_write_honours_them(
    sn_sandbox: SandboxServer, connector: ServiceNowConnector
) -> None:
    sys_id, update = await _opened_then_edited(sn_sandbox, connector, "call-c2")
    rules = ConflictRules.from_yaml(
        "targets: {servicenow: {state: target_wins, work_notes: merge}}"
    )
    publisher = ListPublisher()
    d = deliverer_for(connector)
    d.conflict_handler = RuleBasedConflictHandler(rules, publisher, target="servicenow")
    outcome = await d.deliver_record(update)
    assert outcome.kind is OutcomeKind.DELIVERED, outcome.message
    store = instance_of(sn_sandbox.app).store
    incident = store.get("incident", sys_id)
    assert incident["state"] == "3"  # the person's state won
    assert len(store.notes(sys_id)) == 1  # the call's note was still added
    assert publisher.records == []
    again = await d.deliver_record(update)  # redelivery does not re-trigger the resolution
    assert again.kind is OutcomeKind.DUPLICATE and len(store.notes(sys_id)) == 1


async def test_manual_rule_parks_then_a_persons_decision_is_written(
    sn_sandbox: SandboxServer, connector: ServiceNowConnector
) -> None:
    sys_id, update = await _opened_then_edited(sn_sandbox, connector, "call-c3")
    publisher = ListPublisher()
    d = deliverer_for(connector)
    d.conflict_handler = RuleBasedConflictHandler(ConflictRules(), publisher, target="servicenow")
    outcome = await d.deliver_record(update)
    assert outcome.kind is OutcomeKind.CONFLICT_PARKED
    [parked] = publisher.records
    assert parked.record_ref == f"servicenow:incident/{sys_id}"
    assert set(parked.fields) == {"work_notes", "state"}
    # `voicebus conflicts resolve --take event` publishes this record to sync.servicenow
    hints = resolution_hints(parked, {"state": "2", "work_notes": "decided by a person"})
    decision = SyncRecord("call-c3", update.event, "resolve_conflict", hints)
    assert (await d.deliver_record(decision)).kind is OutcomeKind.DELIVERED
    store = instance_of(sn_sandbox.app).store
    assert store.get("incident", sys_id)["state"] == "2"
    assert store.notes(sys_id) == ["decided by a person"]


async def test_no_conflict_when_the_event_is_newer_or_the_change_was_ours(
    sn_sandbox: SandboxServer, connector: ServiceNowConnector
) -> None:
    call_id = "call-c4"
    t0 = datetime.now(UTC) - timedelta(minutes=10)
    d = deliverer_for(connector)
    opened = await d.deliver_record(
        SyncRecord(call_id, enriched_event(call_id, occurred_at=t0), "open_incident")
    )
    sys_id = str(opened.results[0].external_id)
    # our own create is newer than the event: not a conflict
    first = enriched_event(call_id, "recording_available", occurred_at=t0)
    assert (await d.deliver_record(SyncRecord(call_id, first, "update_incident"))).kind is (
        OutcomeKind.DELIVERED
    )
    sn_sandbox.controls.mutate("touch", table="incident", sys_id=sys_id, fields={"state": "3"})
    newer = enriched_event(
        call_id, "call_ended", occurred_at=datetime.now(UTC) + timedelta(seconds=5)
    )
    outcome = await d.deliver_record(SyncRecord(call_id, newer, "update_incident"))
    assert outcome.kind is OutcomeKind.DELIVERED, outcome.message
    assert len(instance_of(sn_sandbox.app).store.notes(sys_id)) == 2
