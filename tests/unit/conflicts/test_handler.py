"""RuleBasedConflictHandler against the ConflictHandler protocol of the sink's Deliverer."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest

from connectors.base.connector import Operation, SyncRecord
from connectors.base.errors import ConflictError
from pipeline.conflicts import FORCE, RECORD_REF, RESOLVED_FIELDS, RuleBasedConflictHandler
from pipeline.conflicts.decide import choose_values
from pipeline.conflicts.rules import ConflictRules
from pipeline.conflicts.store import ConflictRecord
from pipeline.dlq.kafka_io import ToolError
from pipeline.sinks.delivery import ConflictHandler

RULES = ConflictRules.from_yaml(
    """
targets:
  crm:
    default: latest_wins
    Notes: merge
    Owner: manual
"""
)


class Collected:
    """A ConflictPublisher that keeps what it was given."""

    def __init__(self) -> None:
        self.records: list[ConflictRecord] = []

    async def publish(self, record: ConflictRecord) -> None:
        self.records.append(record)


def _record() -> SyncRecord:
    return SyncRecord(
        key="call-7",
        event={
            "event_id": "e-1",
            "event_type": "call_summary",
            "occurred_at": datetime(2026, 11, 1, 12, 0, tzinfo=UTC),
            "call_id": "call-7",
            "payload": {"summary": "secret-ish text"},
        },
        operation="log_call",
    )


def _operation() -> Operation:
    return Operation(
        kind="update_contact",
        idempotency_key="e-1:update",
        payload={"id": "003X", "fields": {"Title": "CTO", "Notes": "called"}},
        key="call-7",
    )


def _conflict(event_values, target_values) -> ConflictError:
    return ConflictError(
        "contact 003X changed after the call",
        record_ref="Contact/003X",
        event_values=event_values,
        target_values=target_values,
        target_modified_at="2026-11-01T11:00:00Z",
    )


def test_it_implements_the_deliverers_protocol():
    handler: ConflictHandler = RuleBasedConflictHandler(RULES, Collected(), target="crm")
    assert callable(handler.handle)


async def test_all_fields_automatic_returns_a_forced_operation(caplog):
    sink = Collected()
    handler = RuleBasedConflictHandler(RULES, sink, target="crm")
    caplog.set_level(logging.INFO, logger="pipeline.conflicts.handler")

    op = await handler.handle(
        _record(),
        _operation(),
        _conflict({"Title": "CTO", "Notes": "called"}, {"Title": "VP", "Notes": "met at expo"}),
    )

    assert op is not None
    assert op.kind == "update_contact" and op.key == "call-7"
    assert op.idempotency_key == "e-1:update:resolved"
    # the event (12:00) is newer than the target's change (11:00): latest_wins -> event
    assert op.payload["fields"] == {"Title": "CTO", "Notes": "met at expo\n\ncalled"}
    assert op.payload[FORCE] is True
    assert op.payload[RESOLVED_FIELDS] == {"Title": "CTO", "Notes": "met at expo\n\ncalled"}
    assert op.payload[RECORD_REF] == "Contact/003X"
    assert op.payload["id"] == "003X"
    assert sink.records == []
    [log] = caplog.records
    assert log.conflict["fields"] == ["Notes", "Title"]
    assert "met at expo" not in log.getMessage() and "CTO" not in log.getMessage()


async def test_a_manual_field_parks_the_conflict(caplog):
    sink = Collected()
    handler = RuleBasedConflictHandler(RULES, sink, target="crm")
    caplog.set_level(logging.INFO, logger="pipeline.conflicts.handler")

    op = await handler.handle(
        _record(),
        _operation(),
        _conflict({"Title": "CTO", "Owner": "ana"}, {"Title": "VP", "Owner": "bob"}),
    )

    assert op is None
    [conflict] = sink.records
    assert conflict.status == "open"
    assert conflict.target == "crm" and conflict.record_ref == "Contact/003X"
    assert conflict.key == "call-7" and conflict.event_id == "e-1"
    assert conflict.fields["Owner"].event == "ana" and conflict.fields["Owner"].target == "bob"
    assert conflict.fields["Owner"].auto is False
    assert conflict.fields["Title"].auto is True and conflict.fields["Title"].suggested == "CTO"
    assert conflict.event["occurred_at"] == int(
        datetime(2026, 11, 1, 12, tzinfo=UTC).timestamp() * 1000
    )
    [log] = caplog.records
    assert log.levelno == logging.WARNING
    assert log.conflict["manual_fields"] == ["Owner"]
    assert conflict.conflict_id in log.getMessage()
    assert "ana" not in log.getMessage() and "bob" not in log.getMessage()


def test_choose_values_per_field_take_and_suggestions():
    conflict = ConflictRecord.model_validate(
        {
            "target": "crm",
            "record_ref": "Contact/1",
            "key": "k",
            "fields": {
                "Owner": {"event": "ana", "target": "bob", "rule": "manual"},
                "Title": {
                    "event": "CTO",
                    "target": "VP",
                    "rule": "latest_wins",
                    "auto": True,
                    "suggested": "CTO",
                },
                "Score": {"event": 1, "target": 2, "rule": "manual"},
            },
        }
    )
    assert choose_values(conflict, "target", {}) == {"Owner": "bob", "Title": "VP", "Score": 2}
    assert choose_values(conflict, None, {"Owner": "event", "Score": "7"}) == {
        "Owner": "ana",
        "Title": "CTO",
        "Score": 7,
    }
    assert choose_values(conflict, "event", {"Owner": "carol"})["Owner"] == "carol"
    with pytest.raises(ToolError, match="no choice for field\\(s\\) Owner, Score"):
        choose_values(conflict, None, {})
    with pytest.raises(ToolError, match="has no field"):
        choose_values(conflict, "event", {"Nope": "event"})
    with pytest.raises(ToolError, match="--take must be"):
        choose_values(conflict, "newest", {})


async def test_a_conflict_that_cannot_be_parked_is_retryable():
    from connectors.base.errors import RetryableError

    class Down:
        async def publish(self, record: ConflictRecord) -> None:
            raise ToolError("broker down")

    handler = RuleBasedConflictHandler(RULES, Down(), target="crm")
    with pytest.raises(RetryableError, match="cannot park the conflict on crm record Contact/003X"):
        await handler.handle(_record(), _operation(), _conflict({"Owner": "a"}, {"Owner": "b"}))
