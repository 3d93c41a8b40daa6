"""AvroCodec: Confluent wire format, caching, and precise decode errors.

The registry side is confluent-kafka's own in-memory MockSchemaRegistryClient (a third-party
test double); the integration tests run the same codec against the project's registry."""

from __future__ import annotations

import copy
import struct
from typing import Any

import pytest
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry._sync.mock_schema_registry_client import (
    MockSchemaRegistryClient,
)

from pipeline.broker import free_port
from pipeline.events import CallEvent
from pipeline.schema_catalog import CALL_EVENTS_SUBJECT, subject_for
from pipeline.serde import AvroCodec, DecodeError, EncodeError, load_schema, parse_wire_header
from pipeline.simulate import build_scenario

SCHEMA = load_schema("voice/call_event.avsc")


class CountingRegistry(MockSchemaRegistryClient):
    def __init__(self) -> None:
        super().__init__({"url": "mock://unit"})
        self.calls: dict[str, int] = {"register_schema": 0, "get_schema": 0}

    def register_schema(self, *args: Any, **kwargs: Any) -> int:
        self.calls["register_schema"] += 1
        return super().register_schema(*args, **kwargs)

    def get_schema(self, *args: Any, **kwargs: Any) -> Any:
        self.calls["get_schema"] += 1
        return super().get_schema(*args, **kwargs)


@pytest.fixture
def registry() -> CountingRegistry:
    return CountingRegistry()


@pytest.fixture
def event() -> CallEvent:
    return build_scenario(1, seed=5).calls[0][0]


def test_wire_format_and_round_trip(registry: CountingRegistry, event: CallEvent) -> None:
    codec = AvroCodec(registry)
    data = codec.encode(event.to_avro(), subject=CALL_EVENTS_SUBJECT, schema=SCHEMA)
    magic, schema_id = struct.unpack(">bI", data[:5])
    assert magic == 0
    assert schema_id == codec.schema_id(CALL_EVENTS_SUBJECT, SCHEMA) == parse_wire_header(data)
    # a second codec (a consumer) fetches the writer schema by id
    decoded = AvroCodec(registry).decode(data)
    assert CallEvent.from_avro(decoded) == event


def test_schema_ids_and_writer_schemas_are_cached(registry: CountingRegistry) -> None:
    producer_codec, consumer_codec = AvroCodec(registry), AvroCodec(registry)
    values = [
        producer_codec.encode(
            e.to_avro(), subject=CALL_EVENTS_SUBJECT, schema=load_schema("voice/call_event.avsc")
        )
        for e in build_scenario(2, seed=1).calls[0]
    ]
    for value in values:
        consumer_codec.decode(value)
    assert registry.calls == {"register_schema": 1, "get_schema": 1}


def test_reader_schema_resolution_fills_new_defaults(
    registry: CountingRegistry, event: CallEvent
) -> None:
    codec = AvroCodec(registry)
    data = codec.encode(event.to_avro(), subject=CALL_EVENTS_SUBJECT, schema=SCHEMA)
    reader = copy.deepcopy(SCHEMA)
    reader["fields"].append({"name": "region", "type": "string", "default": "eu"})
    decoded = codec.decode(data, reader_schema=reader)
    assert decoded["region"] == "eu" and decoded["call_id"] == event.call_id


def test_incompatible_reader_schema_is_malformed_with_reason(
    registry: CountingRegistry, event: CallEvent
) -> None:
    codec = AvroCodec(registry)
    data = codec.encode(event.to_avro(), subject=CALL_EVENTS_SUBJECT, schema=SCHEMA)
    reader = copy.deepcopy(SCHEMA)
    reader["fields"].append({"name": "region", "type": "string"})  # no default
    with pytest.raises(DecodeError) as info:
        codec.decode(data, reader_schema=reader)
    assert info.value.reason == "malformed"
    assert "reader schema" in str(info.value)


SECRET = b"card 4111111111111111"


@pytest.mark.parametrize(
    ("data", "reason", "text"),
    [
        (b"", "empty", "empty"),
        (None, "empty", "tombstone"),
        (b"\x07" + SECRET, "bad-magic", "magic byte 0 (first byte is 7)"),
        (b"\x00\x00\x01", "malformed", "shorter than the 5-byte"),
        (b"\x00\x00\x00\x03\xe7" + SECRET, "unknown-schema-id", "schema id 999"),
    ],
)
def test_decode_errors_have_stable_reasons(
    registry: CountingRegistry, data: bytes | None, reason: str, text: str
) -> None:
    with pytest.raises(DecodeError) as info:
        AvroCodec(registry).decode(data)
    assert info.value.reason == reason
    assert text in str(info.value)
    assert "4111" not in str(info.value)


def test_truncated_and_padded_bodies_are_malformed(
    registry: CountingRegistry, event: CallEvent
) -> None:
    codec = AvroCodec(registry)
    data = codec.encode(event.to_avro(), subject=CALL_EVENTS_SUBJECT, schema=SCHEMA)
    for broken, text in (
        (data[:-7], "does not match writer schema id"),
        (data + b"\x00\x00", "2 unexpected bytes"),
    ):
        with pytest.raises(DecodeError) as info:
            codec.decode(broken)
        assert info.value.reason == "malformed"
        assert text in str(info.value)
        assert info.value.schema_id == parse_wire_header(data)


def test_unreachable_registry_is_reported(event: CallEvent) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    client = SchemaRegistryClient({"url": url, "max.retries": 0})
    codec = AvroCodec(client)
    with pytest.raises(DecodeError) as info:
        codec.decode(b"\x00\x00\x00\x00\x01" + SECRET)
    assert info.value.reason == "registry-unavailable"
    assert url in str(info.value)
    with pytest.raises(EncodeError) as enc:
        codec.encode(event.to_avro(), subject=CALL_EVENTS_SUBJECT, schema=SCHEMA)
    assert enc.value.reason == "registry-unavailable"


def test_record_not_matching_schema_names_the_field(
    registry: CountingRegistry, event: CallEvent
) -> None:
    record = event.to_avro()
    name, payload = record["payload"]
    record["payload"] = (name, {**payload, "from_number": 4155550123})
    with pytest.raises(EncodeError) as info:
        AvroCodec(registry).encode(record, subject=CALL_EVENTS_SUBJECT, schema=SCHEMA)
    assert info.value.reason == "invalid-record"
    assert "from_number" in str(info.value)
    assert "4155550123" not in str(info.value)


def test_callable_serde_and_subjects(registry: CountingRegistry, event: CallEvent) -> None:
    codec = AvroCodec(registry)
    serialize = codec.serializer(subject_for("voice/call_event.avsc"), SCHEMA)
    deserialize = codec.deserializer()
    assert deserialize(None, None) is None
    assert CallEvent.from_avro(deserialize(serialize(event.to_avro(), None), None)) == event
    assert subject_for("crm/contact.avsc") == "crm.contacts-value"
