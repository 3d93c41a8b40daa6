"""The Kafka-backed sync ledger on the real broker: durable puts, reload on start, one
target's keys only, and dedupe across a sink restart."""

from __future__ import annotations

import pytest
from confluent_kafka.admin import AdminClient, ConfigResource, ResourceType

from pipeline.config import Profile, Settings
from pipeline.resilience.target import ResilienceSettings, TargetResilience
from pipeline.sinks.delivery import Deliverer, OutcomeKind
from pipeline.sinks.ledger import KafkaLedger, LedgerEntry
from tests.integration.webhook.conftest import sync_record

pytestmark = pytest.mark.integration


@pytest.fixture
def kafka_settings(broker) -> Settings:
    return Settings(
        bootstrap_servers=broker.bootstrap_servers, profile=Profile.DEV, delivery_timeout_ms=10_000
    )


async def test_creates_compacted_topic_and_reloads_entries(kafka_settings, unique):
    topic = f"_voicebus.sync-ledger.{unique}"
    first = KafkaLedger(kafka_settings, "webhook", topic=topic)
    other = KafkaLedger(kafka_settings, "slack", topic=topic)
    await first.start()
    await other.start()
    try:
        await first.put(
            "webhook", "ev-1@a", LedgerEntry("delivered", None, "2026-11-24T21:00:00+00:00")
        )
        await first.put("webhook", "ev-2@a", LedgerEntry("delivered", "x-2"))
        await first.put("webhook", "ev-2@a", LedgerEntry("delivered", "x-2b"))  # last wins
        await other.put("slack", "ev-1@a", LedgerEntry("delivered", "slack-ts"))
        assert (await first.get("webhook", "ev-1@a")).delivered_at == "2026-11-24T21:00:00+00:00"
        with pytest.raises(ValueError, match="one ledger per sink target"):
            await first.get("slack", "ev-1@a")
    finally:
        await first.close()
        await other.close()

    admin = AdminClient(kafka_settings.admin_conf())
    metadata = admin.list_topics(topic, timeout=10).topics[topic]
    assert len(metadata.partitions) == 3
    resource = ConfigResource(ResourceType.TOPIC, topic)
    configs = admin.describe_configs([resource])[resource].result(10)
    assert configs["cleanup.policy"].value == "compact"

    restarted = KafkaLedger(kafka_settings, "webhook", topic=topic)
    await restarted.start()
    try:
        assert len(restarted) == 2  # only the webhook target's keys
        assert (await restarted.get("webhook", "ev-2@a")).external_id == "x-2b"
        assert await restarted.get("webhook", "ev-3@a") is None
    finally:
        await restarted.close()


async def test_catch_up_sees_writes_of_another_instance(kafka_settings, unique):
    topic = f"_voicebus.sync-ledger.{unique}"
    a = KafkaLedger(kafka_settings, "webhook", topic=topic)
    b = KafkaLedger(kafka_settings, "webhook", topic=topic)
    await a.start()
    await b.start()
    try:
        await a.put("webhook", "ev-9@a", LedgerEntry("delivered"))
        await b.catch_up()
        assert await b.get("webhook", "ev-9@a") is not None
    finally:
        await a.close()
        await b.close()


async def test_duplicate_after_sink_restart_has_one_effect(
    kafka_settings, unique, webhook_sandbox, webhook_connector, receiver
):
    topic = f"_voicebus.sync-ledger.{unique}"
    record = sync_record()
    outcomes = []
    for _ in range(2):  # two sink "processes" one after the other, same record redelivered
        ledger = KafkaLedger(kafka_settings, "webhook", topic=topic)
        await ledger.start()
        try:
            resilience = TargetResilience.from_settings("webhook", ResilienceSettings(rate_per_s=0))
            deliverer = Deliverer(webhook_connector, ledger, resilience)
            outcomes.append(await deliverer.deliver_record(record))
        finally:
            await ledger.close()
    assert [o.kind for o in outcomes] == [OutcomeKind.DELIVERED, OutcomeKind.DUPLICATE]
    assert receiver.count(record.event["event_id"]) == 1
