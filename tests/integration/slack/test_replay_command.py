"""``DlqReplayer`` (what ``/voicebus replay`` runs) on the real broker: only the named call's
dead letters are re-published to sync.<target>."""

from __future__ import annotations

import pytest
from confluent_kafka import Consumer, Producer

from connectors.slack.commands import DlqReplayer
from pipeline import headers as h
from pipeline.config import Profile, Settings
from pipeline.dlq.kafka_io import ensure_topic

pytestmark = pytest.mark.integration


async def test_replays_only_the_calls_dead_letters(fresh_broker, unique):
    settings = Settings(
        bootstrap_servers=fresh_broker.bootstrap_servers,
        profile=Profile.DEV,
        delivery_timeout_ms=10_000,
    )
    ensure_topic(settings, "sync.slack", partitions=1)
    ensure_topic(settings, "sync.slack.dlq", partitions=1)
    producer = Producer(settings.producer_conf())
    for key, value in (("call-42", b"a"), ("call-7", b"b"), ("call-42", b"c")):
        producer.produce(
            "sync.slack.dlq",
            key=key.encode(),
            value=value,
            headers=[(h.ERROR_CLASS, b"permanent"), (h.OPERATION, b"post_summary")],
        )
    assert producer.flush(10) == 0

    result = await DlqReplayer(settings).replay("slack", "call-42")
    assert "2 record(s) of call call-42" in result

    consumer = Consumer(settings.consumer_conf(f"check-{unique}"))
    consumer.subscribe(["sync.slack"])
    got: list[tuple[bytes, bytes]] = []
    try:
        for _ in range(100):
            message = consumer.poll(0.2)
            if message is not None and message.error() is None:
                got.append((message.key(), message.value()))
                if len(got) >= 2:
                    break
        extra = consumer.poll(1.0)
    finally:
        consumer.close()
    assert got == [(b"call-42", b"a"), (b"call-42", b"c")]
    assert extra is None or extra.error() is not None
