"""OutputProducer on the real broker: a future per record that resolves once the broker
acknowledged it (what the commit gate waits for), order and headers kept per partition, and a
record the client refuses raises OutputNotDelivered instead of being lost."""

from __future__ import annotations

import pytest

from pipeline.processors.offsets import OutputNotDelivered
from pipeline.processors.outputs import OutputProducer
from pipeline.topics import TopicSpec, apply_topics
from tests.integration.processors.conftest import headers_of, read_topic

pytestmark = pytest.mark.integration


async def test_futures_resolve_on_acknowledgement_and_records_arrive_in_order(
    settings, unique
) -> None:
    topic = f"outputs-{unique}"
    apply_topics(settings, [TopicSpec(topic, 2)])
    producer = OutputProducer(settings)
    try:
        futures = [
            producer.send(topic, b"call-1", f"v{i}".encode(), [("vb-n", str(i).encode())])
            for i in range(50)
        ]
        assert producer.in_flight() == 50
        await producer.flush()
        assert producer.in_flight() == 0
        assert all(f.done() and f.exception() is None for f in futures)
    finally:
        assert producer.close() == 0
    records = read_topic(settings, topic, lambda got: len(got) >= 50, timeout_s=30)
    assert [r.value() for r in records] == [f"v{i}".encode() for i in range(50)]
    assert [headers_of(r)["vb-n"] for r in records] == [str(i).encode() for i in range(50)]


async def test_a_record_the_client_refuses_raises_output_not_delivered(settings, unique) -> None:
    topic = f"outputs-big-{unique}"
    apply_topics(settings, [TopicSpec(topic, 1)])
    producer = OutputProducer(settings)
    try:
        with pytest.raises(OutputNotDelivered, match=topic):
            producer.send(topic, b"k", b"x" * 2_000_000)  # over message.max.bytes
    finally:
        producer.close()
