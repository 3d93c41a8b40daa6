"""A contact or deal a person edited in HubSpot after the call: ConflictError with both
sides, the conflict rules' forced write, and the manual path through sync.conflicts and
`voicebus conflicts ls|resolve` on the real broker and registry."""

from __future__ import annotations

import json
from typing import Any

import pytest
from confluent_kafka import Consumer, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from typer.testing import CliRunner

from connectors.base.connector import SyncRecord
from connectors.base.errors import ConflictError
from connectors.base.sandbox import SandboxServer
from connectors.hubspot.sandbox import HubSpotState
from connectors.hubspot.sink import HubSpotConnector
from pipeline import headers as h
from pipeline.broker import free_port
from pipeline.cli import app
from pipeline.config import Settings
from pipeline.conflicts import ConflictRules, KafkaConflictPublisher, RuleBasedConflictHandler
from pipeline.serde import AvroCodec
from pipeline.sinks.delivery import Deliverer, OutcomeKind
from pipeline.sinks.ledger import InMemoryLedger
from tests.integration.hubspot.conftest import add_contact, add_deal, enriched_event, record_of
from tests.integration.hubspot.test_hubspot_sync import deliverer_for

SENTIMENT = "voicebus_last_call_sentiment"


def props(state: HubSpotState, object_type: str, object_id: str) -> dict[str, Any]:
    record = state.store.get(object_type, object_id)
    assert record is not None, f"{object_type} {object_id} is gone"
    return dict(record["properties"])


def edit_behind_our_back(
    sandbox: SandboxServer, object_type: str, object_id: str, name: str, value: str
) -> str:
    """A person's edit in HubSpot, now (after the test events); the new modified time."""
    return str(
        sandbox.controls.mutate(
            "set_property", object_type=object_type, object_id=object_id, name=name, value=value
        )
    )


def stage_record(deal_id: str, contact_id: str, stage: str = "closedwon") -> SyncRecord:
    event = enriched_event(contact_id=contact_id, deal_id=deal_id)
    return record_of(event, operation="move_deal_stage", hints={"dealstage": stage})


def insights_record(contact_id: str, sentiment: str = "NEGATIVE") -> SyncRecord:
    event = enriched_event(event_type="call_summary", contact_id=contact_id, sentiment=sentiment)
    return record_of(event, operation="update_contact")


def with_rules(connector: HubSpotConnector, rules_yaml: str, publisher=None) -> Deliverer:  # type: ignore[no-untyped-def]
    deliverer = deliverer_for(connector, InMemoryLedger())
    deliverer.conflict_handler = RuleBasedConflictHandler(
        ConflictRules.from_yaml(rules_yaml), publisher, target="hubspot"
    )
    return deliverer


async def test_unchanged_records_are_written(
    hubspot_connector: HubSpotConnector, hubspot_state: HubSpotState
) -> None:
    contact = add_contact(hubspot_state, "+16505550101", **{SENTIMENT: "POSITIVE"})
    deal = add_deal(hubspot_state, dealstage="contractsent")
    d = deliverer_for(hubspot_connector)
    for record in (stage_record(deal, contact), insights_record(contact)):
        outcome = await d.deliver_record(record)
        assert outcome.kind is OutcomeKind.DELIVERED, outcome.message
    assert props(hubspot_state, "deals", deal)["dealstage"] == "closedwon"
    assert props(hubspot_state, "contacts", contact)[SENTIMENT] == "NEGATIVE"


async def test_deal_edited_after_the_event_raises_conflict_with_both_sides(
    hubspot_sandbox: SandboxServer, hubspot_connector: HubSpotConnector, hubspot_state: HubSpotState
) -> None:
    contact = add_contact(hubspot_state, "+16505550102")
    deal = add_deal(hubspot_state, dealstage="contractsent")
    modified = edit_behind_our_back(hubspot_sandbox, "deals", deal, "dealstage", "closedlost")
    outcome = await deliverer_for(hubspot_connector).deliver_record(stage_record(deal, contact))
    assert outcome.kind is OutcomeKind.CONFLICT
    error = outcome.error
    assert isinstance(error, ConflictError)
    assert error.record_ref == f"hubspot:deal/{deal}"
    assert error.event_values == {"dealstage": "closedwon"}
    assert error.target_values == {"dealstage": "closedlost"}
    assert error.target_modified_at == modified
    assert props(hubspot_state, "deals", deal)["dealstage"] == "closedlost"


async def test_contact_edited_after_the_event_raises_conflict_with_both_sides(
    hubspot_sandbox: SandboxServer, hubspot_connector: HubSpotConnector, hubspot_state: HubSpotState
) -> None:
    contact = add_contact(hubspot_state, "+16505550103", **{SENTIMENT: "POSITIVE"})
    edit_behind_our_back(hubspot_sandbox, "contacts", contact, SENTIMENT, "NEUTRAL")
    stored = props(hubspot_state, "contacts", contact)
    assert stored["lastmodifieddate"] == stored["hs_lastmodifieddate"]  # both bumped
    outcome = await deliverer_for(hubspot_connector).deliver_record(insights_record(contact))
    assert outcome.kind is OutcomeKind.CONFLICT
    error = outcome.error
    assert isinstance(error, ConflictError)
    assert error.record_ref == f"hubspot:contact/{contact}"
    assert error.event_values == {
        SENTIMENT: "NEGATIVE",
        "voicebus_last_call_intents": "refund;billing",
    }
    assert error.target_values == {SENTIMENT: "NEUTRAL", "voicebus_last_call_intents": None}
    assert props(hubspot_state, "contacts", contact)[SENTIMENT] == "NEUTRAL"


async def test_our_own_earlier_write_is_not_a_conflict(
    hubspot_connector: HubSpotConnector, hubspot_state: HubSpotState
) -> None:
    contact = add_contact(hubspot_state, "+16505550104")
    d = deliverer_for(hubspot_connector)
    first = await d.deliver_record(insights_record(contact, "POSITIVE"))
    assert first.kind is OutcomeKind.DELIVERED, first.message
    # the record now changed after the second event's time too -- but the change was ours
    second = await d.deliver_record(insights_record(contact, "NEGATIVE"))
    assert second.kind is OutcomeKind.DELIVERED, second.message
    assert props(hubspot_state, "contacts", contact)[SENTIMENT] == "NEGATIVE"


@pytest.mark.parametrize(
    ("rule", "expected"),
    [("latest_wins", "closedlost"), ("target_wins", "closedlost"), ("voice_wins", "closedwon")],
)
async def test_rules_resolve_the_conflict_with_a_forced_write(
    hubspot_sandbox: SandboxServer,
    hubspot_connector: HubSpotConnector,
    hubspot_state: HubSpotState,
    rule: str,
    expected: str,
) -> None:
    contact = add_contact(hubspot_state, "+16505550105")
    deal = add_deal(hubspot_state, dealstage="contractsent")
    edit_behind_our_back(hubspot_sandbox, "deals", deal, "dealstage", "closedlost")
    d = with_rules(
        hubspot_connector, f"default: manual\ntargets:\n  hubspot:\n    dealstage: {rule}\n"
    )
    record = stage_record(deal, contact)
    outcome = await d.deliver_record(record)
    assert outcome.kind is OutcomeKind.DELIVERED, outcome.message
    assert props(hubspot_state, "deals", deal)["dealstage"] == expected
    # written (forced, without a second read), not just left alone
    assert hubspot_sandbox.controls.requests("/crm/v3/objects/0-3/batch/update") == 1
    assert hubspot_sandbox.controls.requests(f"/crm/v3/objects/0-3/{deal}") == 1
    again = await d.deliver_record(record)  # a redelivery does not resolve twice
    assert again.kind is OutcomeKind.DUPLICATE


async def test_rules_resolve_contact_insights(
    hubspot_sandbox: SandboxServer, hubspot_connector: HubSpotConnector, hubspot_state: HubSpotState
) -> None:
    contact = add_contact(hubspot_state, "+16505550106", **{SENTIMENT: "POSITIVE"})
    edit_behind_our_back(hubspot_sandbox, "contacts", contact, SENTIMENT, "NEUTRAL")
    rules = f"targets:\n  hubspot:\n    default: voice_wins\n    {SENTIMENT}: target_wins\n"
    outcome = await with_rules(hubspot_connector, rules).deliver_record(insights_record(contact))
    assert outcome.kind is OutcomeKind.DELIVERED, outcome.message
    stored = props(hubspot_state, "contacts", contact)
    assert stored[SENTIMENT] == "NEUTRAL"
    assert stored["voicebus_last_call_intents"] == "refund;billing"


# ---- manual: parked on sync.conflicts, decided with the CLI, written by the connector -----
def ensure_topic(settings: Settings, topic: str) -> None:
    admin = AdminClient({"bootstrap.servers": settings.bootstrap_servers})
    for future in admin.create_topics([NewTopic(topic, 1, 1)]).values():
        try:
            future.result()
        except KafkaException as exc:  # created earlier in this session: fine
            if "TOPIC_ALREADY_EXISTS" not in str(exc):
                raise


def records_for_key(settings: Settings, topic: str, key: str) -> list[Any]:
    consumer = Consumer(
        settings.consumer_conf(f"test-hubspot-{free_port()}", **{"enable.partition.eof": True})
    )
    partitions = sorted(consumer.list_topics(topic, timeout=10).topics[topic].partitions)
    consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
    pending, out = set(partitions), []
    while pending:
        message = consumer.poll(5)
        assert message is not None, f"no end of partition for {topic}"
        if message.error():
            pending.discard(message.partition())
        elif message.key() == key.encode():
            out.append(message)
    consumer.close()
    return out


def cli(settings: Settings, *args: str) -> object:
    env = {
        "VOICEBUS_BOOTSTRAP_SERVERS": settings.bootstrap_servers,
        "VOICEBUS_SCHEMA_REGISTRY_URL": settings.schema_registry_url,
        "VOICEBUS_PROFILE": "dev",
    }
    result = CliRunner().invoke(app, list(args), env=env)
    assert result.exit_code == 0, (result.output, result.exception)
    return result


async def test_manual_conflict_is_parked_listed_resolved_and_written(
    hubspot_sandbox: SandboxServer,
    hubspot_connector: HubSpotConnector,
    hubspot_state: HubSpotState,
    settings: Settings,
    unique: str,
) -> None:
    ensure_topic(settings, "sync.hubspot")  # `conflicts resolve` publishes the decision there
    contact = add_contact(hubspot_state, "+16505550107")
    deal = add_deal(hubspot_state, dealstage="contractsent")
    edit_behind_our_back(hubspot_sandbox, "deals", deal, "dealstage", "closedlost")
    event = enriched_event(f"call-{unique}", contact_id=contact, deal_id=deal)
    record = record_of(event, operation="move_deal_stage", hints={"dealstage": "closedwon"})
    publisher = KafkaConflictPublisher(settings)
    try:
        outcome = await with_rules(
            hubspot_connector, "default: manual\n", publisher
        ).deliver_record(record)
    finally:
        publisher.close()
    assert outcome.kind is OutcomeKind.CONFLICT_PARKED, outcome.message
    assert props(hubspot_state, "deals", deal)["dealstage"] == "closedlost"

    listed = json.loads(cli(settings, "conflicts", "ls", "--target", "hubspot", "--json").stdout)  # type: ignore[attr-defined]
    [mine] = [c for c in listed if c["event_id"] == event["event_id"]]
    assert mine["record_ref"] == f"hubspot:deal/{deal}" and mine["status"] == "open"
    assert mine["fields"]["dealstage"]["event"] == "closedwon"
    assert mine["fields"]["dealstage"]["target"] == "closedlost"

    cli(settings, "conflicts", "resolve", mine["conflict_id"], "--take", "event")
    [published] = records_for_key(settings, "sync.hubspot", f"call-{unique}")
    hdrs = {k: v.decode() for k, v in published.headers()}
    assert hdrs[h.OPERATION] == "resolve_conflict"
    decision = SyncRecord(
        key=f"call-{unique}",
        event=AvroCodec(settings).decode(published.value()),
        operation=hdrs[h.OPERATION],
        hints=json.loads(hdrs[h.HINTS]),
        headers=hdrs,
    )
    delivered = await deliverer_for(hubspot_connector).deliver_record(decision)
    assert delivered.kind is OutcomeKind.DELIVERED, delivered.message
    assert props(hubspot_state, "deals", deal)["dealstage"] == "closedwon"
