"""Conflict handler -> sync.conflicts -> `voicebus conflicts ls|show|resolve` on the real broker
and registry (own broker: sync.conflicts is a fixed topic name)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from connectors.base.connector import Operation, SyncRecord
from connectors.base.errors import ConflictError
from pipeline import headers as h
from pipeline.conflicts import (
    CONFLICTS_TOPIC,
    ConflictRules,
    KafkaConflictPublisher,
    RuleBasedConflictHandler,
)
from pipeline.serde import AvroCodec
from tests.integration.dlq.conftest import create_topics, json_out, make_cli, read_all

RULES = ConflictRules.from_yaml(
    "targets:\n  crm:\n    default: latest_wins\n    Owner: manual\n    Notes: merge\n"
)
EVENT = {
    "event_id": "3f1e9c3e-0000-4000-8000-000000000007",
    "event_type": "call_ended",
    "occurred_at": datetime(2026, 11, 1, 12, 0, tzinfo=UTC),
    "tenant_id": "acme",
    "call_id": "call-7",
    "source": "vapi",
    "schema_version": 1,
    "payload": {"duration_s": 61, "disposition": "resolved", "hangup_cause": "normal_clearing"},
}


def _conflict(event_values, target_values) -> ConflictError:
    return ConflictError(
        "contact changed after the call",
        record_ref="Contact/003X",
        event_values=event_values,
        target_values=target_values,
        target_modified_at="2026-11-01T11:00:00Z",
    )


async def test_park_list_show_and_resolve(fresh_settings):
    settings = fresh_settings
    create_topics(settings, "sync.crm", partitions=3)
    cli = make_cli(settings)
    publisher = KafkaConflictPublisher(settings)
    handler = RuleBasedConflictHandler(RULES, publisher, target="crm")
    record = SyncRecord(key="call-7", event=EVENT, operation="log_call")
    operation = Operation("update_contact", "e7:update", {"Title": "CTO"}, key="call-7")

    automatic = await handler.handle(
        record, operation, _conflict({"Title": "CTO", "Notes": "b"}, {"Title": "VP", "Notes": "a"})
    )
    assert automatic is not None and automatic.payload["_force"] is True
    assert automatic.payload["Title"] == "CTO"

    parked = await handler.handle(
        record,
        operation,
        _conflict({"Title": "CTO", "Owner": "ana"}, {"Title": "VP", "Owner": "bob"}),
    )
    assert parked is None
    publisher.close()
    [stored] = read_all(settings, CONFLICTS_TOPIC)  # only the manual one was written
    conflict_id = stored.key().decode()

    [listed] = json_out(cli("conflicts", "ls", "--json"))
    assert listed["conflict_id"] == conflict_id
    assert listed["status"] == "open" and listed["target"] == "crm"
    assert listed["fields"]["Owner"] == {
        "event": "ana",
        "target": "bob",
        "rule": "manual",
        "auto": False,
        "suggested": None,
        "reason": "rule manual",
    }
    assert json_out(cli("conflicts", "ls", "--target", "other", "--json")) == []
    table = cli("conflicts", "ls").stdout
    assert conflict_id in table and "Owner*" in table

    shown = cli("conflicts", "show", conflict_id[:8]).stdout
    assert "Contact/003X" in shown and "ana" in shown and "bob" in shown

    undecided = cli("conflicts", "resolve", conflict_id, ok=False)
    assert undecided.exit_code == 1 and "no choice for field(s) Owner" in undecided.output

    resolved = cli("conflicts", "resolve", conflict_id, "--field", "Owner=target")
    assert "resolved" in resolved.stdout

    [published] = read_all(settings, "sync.crm")
    assert published.key() == b"call-7"
    headers = dict(published.headers())
    assert headers[h.OPERATION] == b"resolve_conflict"
    hints = json.loads(headers[h.HINTS])
    assert hints == {
        "conflict_id": conflict_id,
        "record_ref": "Contact/003X",
        "values": {"Title": "CTO", "Owner": "bob"},  # Title: the rule's suggestion
        "force": True,
        "operation_kind": "update_contact",
        "idempotency_key": f"conflict:{conflict_id}",
    }
    decoded = AvroCodec(settings).decode(published.value())  # the sink can decode it
    assert str(decoded["event_id"]) == EVENT["event_id"] and decoded["call_id"] == "call-7"
    assert decoded["payload"] == EVENT["payload"]

    assert json_out(cli("conflicts", "ls", "--json")) == []
    [done] = json_out(cli("conflicts", "ls", "--status", "resolved", "--json"))
    assert done["resolution"] == {"Title": "CTO", "Owner": "bob"}
    assert done["resolved_at"] and done["resolved_by"]

    twice = cli("conflicts", "resolve", conflict_id, "--take", "event", ok=False)
    assert twice.exit_code == 1 and "already resolved" in twice.output
    assert len(read_all(settings, "sync.crm")) == 1
