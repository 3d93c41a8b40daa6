"""``/voicebus call <id>`` answered from the real topics by ``KafkaCallLookup``."""

from __future__ import annotations

from typing import Any

import pytest
from confluent_kafka import Producer
from pydantic import SecretStr

from connectors.slack.call_lookup import KafkaCallLookup
from connectors.slack.commands import CommandHandler
from pipeline.config import Settings
from pipeline.processors.enrich import to_avro
from pipeline.serde import AvroCodec, load_schema
from pipeline.topics import ENRICHED_TOPIC, apply_topics, catalogue
from tests.integration.slack.conftest import enriched_event

pytestmark = pytest.mark.integration


def _produce(settings: Settings, records: list[tuple[str, str, bytes]]) -> None:
    producer = Producer(settings.producer_conf())
    for topic, key, value in records:
        producer.produce(topic, key=key.encode(), value=value)
    assert producer.flush(30) == 0


def _handler(lookup: KafkaCallLookup) -> CommandHandler:
    return CommandHandler(SecretStr("s"), lookup, None, [], ["slack"])


async def test_call_answer_from_topics(settings: Settings, unique: str) -> None:
    apply_topics(settings, catalogue(settings))
    codec = AvroCodec(settings)
    schema = load_schema("voice/enriched_call_event.avsc")
    call_id = f"call-lookup-{unique}"
    other = f"call-other-{unique}"

    def enriched(event: dict[str, Any]) -> bytes:
        return codec.encode(to_avro(event), subject=f"{ENRICHED_TOPIC}-value", schema=schema)

    summary = enriched_event("call_summary", call_id=call_id, sentiment="NEGATIVE")
    summary["payload"]["summary"] = f"Wants a refund {unique}"
    later = enriched_event("transcript_segment", call_id=call_id, sentiment="NEGATIVE")
    later["call"]["duration_s"] = 321
    later["call"]["intents"] = ["refund", "cancel"]
    noise = enriched_event("call_summary", call_id=other, sentiment="POSITIVE")
    _produce(
        settings,
        [
            (ENRICHED_TOPIC, call_id, enriched(summary)),
            (ENRICHED_TOPIC, other, enriched(noise)),
            (ENRICHED_TOPIC, call_id, enriched(later)),
            ("sync.slack", call_id, b"raw-1"),
            ("sync.slack", call_id, b"raw-2"),
            ("sync.slack", other, b"raw-other"),
            ("sync.slack.dlq", call_id, b"dead-1"),
        ],
    )
    lookup = KafkaCallLookup(settings, timeout_s=30.0)

    answer = await _handler(lookup)._call(call_id)
    text = answer["text"]
    assert f"Wants a refund {unique}" in text
    assert "NEGATIVE" in text
    assert "duration: 321 s" in text and "intents: refund, cancel" in text
    assert "customer: J. D." in text
    assert "slack: 2 routed, 0 retrying, 1 dead-lettered" in text
    assert "teams:" not in text  # targets without records of this call are not listed

    unknown = await _handler(lookup)._call(f"call-never-{unique}")
    assert "no call" in unknown["text"]


async def test_unreachable_kafka_gives_a_clear_answer(settings: Settings, unique: str) -> None:
    dead = settings.model_copy(update={"bootstrap_servers": "127.0.0.1:1"})
    lookup = KafkaCallLookup(dead, timeout_s=1.0, codec=AvroCodec(settings))
    answer = await _handler(lookup)._call(f"call-x-{unique}")
    assert answer["response_type"] == "ephemeral"
    assert "could not look up call" in answer["text"]
