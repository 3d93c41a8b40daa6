"""Schema evolution of the call event: v1 and v2 readers both decode v1 and v2 data.

Data is written in Confluent wire format by confluent-kafka's AvroSerializer; readers take
the writer schema from the registry by the id in the message and resolve it against their
own reader schema with fastavro's ``schemaless_reader``.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import uuid

import fastavro
import httpx
import pytest
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.schema_registry.error import SchemaRegistryError
from confluent_kafka.serialization import MessageField, SerializationContext

from pipeline.config import Settings
from tests.integration.registry.helpers import call_summary_event

pytestmark = pytest.mark.integration


def decode(registry_url: str, message: bytes, reader_schema: str) -> dict:
    assert message[0] == 0
    schema_id = int.from_bytes(message[1:5], "big")
    writer = httpx.get(f"{registry_url}/schemas/ids/{schema_id}").json()["schema"]
    return fastavro.schemaless_reader(
        io.BytesIO(message[5:]),
        fastavro.parse_schema(json.loads(writer)),
        fastavro.parse_schema(json.loads(reader_schema)),
    )


@pytest.mark.parametrize("level", ["BACKWARD_TRANSITIVE", "FULL"])
def test_v1_and_v2_readers_decode_both_versions(
    settings: Settings, unique: str, level: str, call_event_v1: str, call_event_v2: str
) -> None:
    topic = f"voice.call-events.evo-{unique}"
    subject = f"{topic}-value"
    client = SchemaRegistryClient(settings.registry_conf())
    client.set_compatibility(subject, level)
    ctx = SerializationContext(topic, MessageField.VALUE)
    v1_bytes = AvroSerializer(client, call_event_v1)(call_summary_event(), ctx)
    v2_bytes = AvroSerializer(client, call_event_v2)(call_summary_event(csat_score=4), ctx)
    assert v1_bytes is not None and v2_bytes is not None
    assert v1_bytes[1:5] != v2_bytes[1:5]  # two schema ids
    assert client.get_versions(subject) == [1, 2]
    assert client.get_compatibility(subject) == level

    old_reader_on_new = decode(settings.schema_registry_url, v2_bytes, call_event_v1)
    assert "csat_score" not in old_reader_on_new["payload"]
    assert old_reader_on_new["payload"]["intents"] == ["billing_dispute", "refund_request"]
    new_reader_on_new = decode(settings.schema_registry_url, v2_bytes, call_event_v2)
    assert new_reader_on_new["payload"]["csat_score"] == 4
    new_reader_on_old = decode(settings.schema_registry_url, v1_bytes, call_event_v2)
    assert new_reader_on_old["payload"]["csat_score"] is None  # the default
    old_reader_on_old = decode(settings.schema_registry_url, v1_bytes, call_event_v1)
    assert old_reader_on_old["payload"]["action_items"][0]["due_date"].isoformat() == "2026-11-28"
    assert isinstance(old_reader_on_old["event_id"], uuid.UUID)
    assert old_reader_on_old["occurred_at"] == dt.datetime(2026, 11, 24, 20, 15, 30, 123000, dt.UTC)


@pytest.mark.parametrize("level", ["BACKWARD_TRANSITIVE", "FULL"])
def test_field_without_default_is_refused(
    settings: Settings, unique: str, level: str, call_event_v1: str, call_event_v2: str
) -> None:
    subject = f"voice.call-events.evo-bad-{unique}-value"
    client = SchemaRegistryClient(settings.registry_conf())
    client.set_compatibility(subject, level)
    client.register_schema(subject, Schema(call_event_v1, "AVRO"))
    no_default = call_event_v2.replace(', "default": null, "doc": "1-5 survey"', "")
    assert no_default != call_event_v2
    with pytest.raises(SchemaRegistryError) as info:
        client.register_schema(subject, Schema(no_default, "AVRO"))
    assert info.value.http_status_code == 409 and "csat_score" in info.value.error_message
