"""confluent-kafka's own registry client and Avro serde, unchanged, against our registry."""

from __future__ import annotations

import json
import time

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.schema_registry.error import SchemaRegistryError
from confluent_kafka.serialization import MessageField, SerializationContext

from pipeline.config import Settings
from tests.integration.registry.helpers import call_summary_event, without_union_tag

pytestmark = pytest.mark.integration


def test_serializer_registers_and_round_trips_through_kafka(
    settings: Settings, unique: str, call_event_v1: str
) -> None:
    topic = f"voice.call-events.{unique}"
    subject = f"{topic}-value"
    admin = AdminClient(settings.admin_conf())
    admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])[topic].result(10)
    client = SchemaRegistryClient(settings.registry_conf())
    serializer = AvroSerializer(client, call_event_v1)
    deserializer = AvroDeserializer(client)
    events = [call_summary_event(), call_summary_event(sentiment="POSITIVE")]

    producer = Producer(settings.producer_conf())
    for event in events:
        value = serializer(event, SerializationContext(topic, MessageField.VALUE))
        assert value is not None and value[0] == 0  # Confluent wire format: magic byte 0
        producer.produce(topic, key=event["call_id"], value=value)
    assert producer.flush(10) == 0

    consumer = Consumer(settings.consumer_conf(f"registry-test-{unique}"))
    consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
    decoded = []
    deadline = time.monotonic() + 30
    try:
        while len(decoded) < len(events) and time.monotonic() < deadline:
            message = consumer.poll(0.2)
            if message is None or message.error():
                continue
            ctx = SerializationContext(topic, MessageField.VALUE, message.headers())
            decoded.append(deserializer(message.value(), ctx))
    finally:
        consumer.close()
    assert decoded == [without_union_tag(e) for e in events]

    latest = client.get_latest_version(subject)
    assert latest.version == 1 and latest.subject == subject
    schema_id = int.from_bytes(value[1:5], "big")
    assert latest.schema_id == schema_id
    assert json.loads(client.get_schema(schema_id).schema_str) == json.loads(call_event_v1)
    found = client.lookup_schema(subject, Schema(call_event_v1, "AVRO"))
    assert (found.schema_id, found.version) == (schema_id, 1)
    assert client.get_subjects() and subject in client.get_subjects()
    assert client.get_versions(subject) == [1]


def test_client_compatibility_api(
    settings: Settings, unique: str, call_event_v1: str, call_event_v2: str
) -> None:
    subject = f"client-compat-{unique}-value"
    client = SchemaRegistryClient(settings.registry_conf())
    v1_id = client.register_schema(subject, Schema(call_event_v1, "AVRO"))
    assert client.register_schema(subject, Schema(call_event_v1, "AVRO")) == v1_id

    assert client.set_compatibility(subject, "FULL") == {"compatibility": "FULL"}
    assert client.get_compatibility(subject) == "FULL"
    assert client.test_compatibility(subject, Schema(call_event_v2, "AVRO")) is True

    breaking = call_event_v1.replace(
        '"name": "tenant_id", "type": "string"', '"name": "tenant_id", "type": "int"'
    )
    assert breaking != call_event_v1
    assert client.test_compatibility(subject, Schema(breaking, "AVRO")) is False
    with pytest.raises(SchemaRegistryError) as info:
        client.register_schema(subject, Schema(breaking, "AVRO"))
    assert info.value.http_status_code == 409 and info.value.error_code == 409
    assert "TYPE_MISMATCH" in info.value.error_message

    v2_id = client.register_schema(subject, Schema(call_event_v2, "AVRO"))
    assert v2_id != v1_id
    assert client.get_latest_version(subject).version == 2
    assert client.get_version(subject, 1).schema_id == v1_id

    with pytest.raises(SchemaRegistryError) as info:
        client.lookup_schema(f"missing-{unique}", Schema(call_event_v1, "AVRO"))
    assert info.value.error_code == 40401
    assert client.delete_version(subject, 2) == 2
    assert client.get_latest_version(f"{subject}").version in (1, 2)  # client caches latest
    assert client.get_versions(subject) == [1]
    assert client.delete_subject(subject) == [1]
    assert client.delete_subject(subject, permanent=True) == [1, 2]
    assert subject not in client.get_subjects()
