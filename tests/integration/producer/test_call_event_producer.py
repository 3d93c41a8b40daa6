"""The producer SDK against the real broker and the project's registry."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext
from pydantic import ValidationError

from pipeline.broker import free_port
from pipeline.config import Profile, Settings
from pipeline.events import CallEvent, Contact
from pipeline.observability import configure_telemetry
from pipeline.producer import AsyncCallEventProducer, CallEventProducer, PublishError
from pipeline.serde import AvroCodec, DecodeError
from pipeline.simulate import build_scenario
from tests.integration.producer.kafka_helpers import create_topic, high_watermarks, read_all

pytestmark = pytest.mark.integration


def test_confluent_avro_deserializer_reads_every_sdk_event(settings: Settings, unique: str) -> None:
    telemetry = configure_telemetry(in_memory=True)
    topic, contacts_topic = f"voice.call-events.{unique}", f"crm.contacts.{unique}"
    create_topic(settings, topic)
    create_topic(settings, contacts_topic)
    scenario = build_scenario(4, seed=21, tenant_id=f"t-{unique}")
    events = scenario.events()
    with CallEventProducer(settings, topic=topic, contacts_topic=contacts_topic) as producer:
        for event in events:
            producer.publish(event)
        for contact in scenario.contacts:
            producer.publish_contact(contact.model_dump())  # a mapping works too
    deserializer = AvroDeserializer(SchemaRegistryClient(settings.registry_conf()))
    records = read_all(settings, topic, len(events))
    assert len(records) == len(events)
    decoded = {}
    for msg in records:
        value = deserializer(msg.value(), SerializationContext(topic, MessageField.VALUE))
        event = CallEvent.from_avro(value)
        assert msg.key().decode() == event.call_id
        headers = dict(msg.headers() or [])
        assert headers["traceparent"].decode().startswith("00-")
        decoded[event.event_id] = event
    assert decoded == {e.event_id: e for e in events}
    # per call, the partition log keeps the call's order
    for call in scenario.calls:
        seen = [
            CallEvent.from_avro(
                deserializer(m.value(), SerializationContext(topic, MessageField.VALUE))
            ).event_id
            for m in records
            if m.key().decode() == call[0].call_id
        ]
        assert seen == [e.event_id for e in call]
    contact_records = read_all(settings, contacts_topic, len(scenario.contacts))
    contacts = {
        m.key().decode(): Contact.from_avro(
            deserializer(m.value(), SerializationContext(contacts_topic, MessageField.VALUE))
        )
        for m in contact_records
    }
    assert contacts == {c.key: c for c in scenario.contacts}
    assert telemetry.span_exporter is not None
    span_names = Counter(s.name for s in telemetry.span_exporter.get_finished_spans())
    assert span_names[f"{topic} publish"] >= len(events)


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda e: e.update(caller_mood="grumpy"), ("caller_mood",)),
        (lambda e: e["payload"].update(from_number=14155550123), ("payload", "from_number")),
        (lambda e: e.update(occurred_at="yesterday"), ("occurred_at",)),
    ],
    ids=["unknown-field", "wrong-type", "bad-timestamp"],
)
def test_invalid_events_are_rejected_before_anything_is_produced(
    settings: Settings, unique: str, mutate, field
) -> None:
    topic = f"voice.call-events.{unique}"
    create_topic(settings, topic, partitions=1)
    good = build_scenario(1, seed=8).calls[0][0]
    bad = good.model_dump(mode="json")
    mutate(bad)
    with CallEventProducer(settings, topic=topic) as producer:
        with pytest.raises(ValidationError) as info:
            producer.publish(bad)
        assert [tuple(e["loc"]) for e in info.value.errors()] == [field]
    assert high_watermarks(settings, topic) == [0]
    # the same producer path does write a valid event (so the watermark check can fail)
    with CallEventProducer(settings, topic=topic) as producer:
        producer.publish(good, wait=True)
    assert high_watermarks(settings, topic) == [1]


@pytest.mark.timeout(60)
def test_broker_down_gives_publish_error_not_a_hang(registry) -> None:  # type: ignore[no-untyped-def]
    down = Settings(
        bootstrap_servers=f"127.0.0.1:{free_port()}",
        schema_registry_url=registry.url,
        profile=Profile.DEV,
        delivery_timeout_ms=2_000,
    )
    event = build_scenario(1, seed=2).calls[0][1]
    producer = CallEventProducer(down)
    with pytest.raises(PublishError) as info:
        producer.publish(event, wait=True)
    message = str(info.value)
    assert "voice.call-events" in message and event.call_id in message
    assert "_MSG_TIMED_OUT" in message or "_TRANSPORT" in message
    assert event.payload.text not in message  # type: ignore[union-attr]
    producer.publish(event)  # fire and forget: the failure surfaces on close
    with pytest.raises(PublishError) as on_close:
        producer.close()
    assert on_close.value.failures[0].key == event.call_id
    with pytest.raises(PublishError, match="closed"):
        producer.publish(event)


@pytest.mark.timeout(60)
async def test_async_producer_resolves_deliveries_and_reports_broker_down(
    settings: Settings,
    registry,
    unique: str,  # type: ignore[no-untyped-def]
) -> None:
    topic = f"voice.call-events.{unique}"
    create_topic(settings, topic)
    events = build_scenario(3, seed=4).events()
    async with AsyncCallEventProducer(settings, topic=topic) as producer:
        deliveries = await asyncio.gather(*(producer.publish(e) for e in events))
    per_partition: dict[int, list[int]] = {}
    for partition, offset in deliveries:
        per_partition.setdefault(partition, []).append(offset)
    for offsets in per_partition.values():
        assert sorted(offsets) == list(range(len(offsets)))  # one record per batch (dev)
    assert len(read_all(settings, topic, len(events))) == len(events)

    down = settings.model_copy(
        update={"bootstrap_servers": f"127.0.0.1:{free_port()}", "delivery_timeout_ms": 2_000}
    )
    async with AsyncCallEventProducer(down) as producer:
        with pytest.raises(PublishError, match="voice.call-events"):
            await producer.publish(events[0])


def test_contact_upsert_and_tombstone(settings: Settings, unique: str) -> None:
    contacts_topic = f"crm.contacts.{unique}"
    create_topic(settings, contacts_topic, partitions=1)
    contact = build_scenario(2, seed=6).contacts[0]
    with CallEventProducer(settings, contacts_topic=contacts_topic) as producer:
        producer.publish_contact(contact)
        producer.delete_contact(contact.crm, contact.record_id)
    records = read_all(settings, contacts_topic, 2)
    assert [m.key().decode() for m in records] == [contact.key, contact.key]
    assert records[1].value() is None
    codec = AvroCodec(settings)
    assert Contact.from_avro(codec.decode(records[0].value())) == contact


def test_publish_raw_and_codec_errors_against_the_real_registry(
    settings: Settings, unique: str
) -> None:
    topic = f"raw.{unique}"
    create_topic(settings, topic, partitions=1)
    with CallEventProducer(settings) as producer:
        delivery = producer.publish_raw(
            topic, "k", b"\x00\x00\x01\x86\x9fxx", {"h": "v"}, wait=True
        )
    assert delivery is not None and delivery.offset == 0
    [msg] = read_all(settings, topic, 1)
    assert dict(msg.headers())["h"] == b"v"
    with pytest.raises(DecodeError) as info:
        AvroCodec(settings).decode(msg.value())
    assert info.value.reason == "unknown-schema-id"
    assert "99999" in str(info.value)
