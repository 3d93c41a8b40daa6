"""Poison pills on voice.call-events go to voice.call-events.dlq with their original bytes and
error headers; the good events after them still flow."""

from __future__ import annotations

import os
import struct

import pytest

from pipeline import headers as h
from pipeline.producer import CallEventProducer
from pipeline.serde import AvroCodec, load_schema
from pipeline.simulate import build_scenario
from pipeline.topics import CALL_EVENTS_DLQ_TOPIC, CALL_EVENTS_TOPIC, ENRICHED_TOPIC
from tests.integration.processors.conftest import headers_of, read_topic

pytestmark = pytest.mark.integration


def test_poison_pills_are_dead_lettered_and_the_stream_continues(fresh_settings, workers):
    call = build_scenario(1, seed=3).calls[0]
    garbage = b"\xff" + os.urandom(63)  # never the Avro magic byte
    unknown_id = b"\x00" + struct.pack(">I", 987654) + os.urandom(20)
    # a value Avro-encoded with another schema (a contact) on the call-events topic
    codec = AvroCodec(fresh_settings)
    contact = build_scenario(1, seed=3).contacts[0]
    wrong_shape = codec.encode(
        contact.to_avro(), subject="crm.contacts-value", schema=load_schema("crm/contact.avsc")
    )
    poisons = {}
    with CallEventProducer(fresh_settings) as producer:
        for name, key, value in (
            ("garbage", call[0].call_id, garbage),
            ("unknown-id", call[0].call_id, unknown_id),
            ("wrong-shape", call[0].call_id, wrong_shape),
        ):
            d = producer.publish_raw(
                CALL_EVENTS_TOPIC, key, value, [("x-origin", b"fuzzer")], wait=True
            )
            poisons[name] = (d.partition, d.offset, value)
        for event in call:
            producer.publish(event)
    worker = workers.start()
    alive = lambda: worker.proc.poll() is None  # noqa: E731

    dlq = read_topic(fresh_settings, CALL_EVENTS_DLQ_TOPIC, lambda got: len(got) >= 3, alive=alive)
    enriched = read_topic(
        fresh_settings, ENRICHED_TOPIC, lambda got: len(got) >= len(call), alive=alive
    )

    assert len(dlq) == 3, worker.log()[-3000:]
    by_value = {m.value(): m for m in dlq}
    for name, (partition, offset, value) in poisons.items():
        msg = by_value[value]  # original bytes, unchanged
        hdrs = headers_of(msg)
        assert msg.key() == call[0].call_id.encode()
        assert hdrs["x-origin"] == b"fuzzer"  # original headers kept
        assert hdrs[h.ERROR_CLASS] == b"decode"
        assert hdrs[h.SOURCE_TOPIC] == CALL_EVENTS_TOPIC.encode()
        assert hdrs[h.SOURCE_PARTITION] == str(partition).encode()
        assert hdrs[h.SOURCE_OFFSET] == str(offset).encode()
        assert hdrs[h.ATTEMPTS] == b"1"
        assert hdrs[h.FIRST_FAILURE_AT] and hdrs[h.LAST_FAILURE_AT]
        reason = {"garbage": b"bad-magic", "unknown-id": b"unknown-schema-id"}.get(
            name, b"malformed"
        )
        assert hdrs[h.ERROR_MESSAGE].startswith(reason), hdrs[h.ERROR_MESSAGE]

    ids = [str(codec.decode(m.value())["event_id"]) for m in enriched]
    assert ids == [str(e.event_id) for e in call]
    assert worker.proc.poll() is None  # still running: no crash loop
