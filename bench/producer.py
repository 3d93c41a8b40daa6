"""Producer SDK throughput against raw confluent-kafka, same broker, same run.

Starts its own embedded broker and schema registry on free ports, then times:

* sdk: ``CallEventProducer.publish(dict)`` for N events: pydantic validation into a
  ``CallEvent``, ``to_avro()``, Avro encoding with the registry-cached schema id, produce;
  until the last delivery report (close/flush).
* raw: ``confluent_kafka.Producer.produce`` of the same, already-encoded bytes and keys.

Both use the same producer configuration (``Settings.producer_conf(one_record_per_batch=
False)``: idempotent, acks=all, lz4).  Prints both rates and their ratio (goal >= 0.25).

    .venv/bin/python bench/producer.py [--events 20000] [--rounds 2]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

from pipeline.broker import EmbeddedBroker
from pipeline.config import Profile, Settings
from pipeline.producer import CallEventProducer
from pipeline.registry.process import RegistryProcess
from pipeline.schema_catalog import CALL_EVENT_SCHEMA, CALL_EVENTS_SUBJECT, load_schema
from pipeline.serde import AvroCodec
from pipeline.simulate import build_scenario

GOAL = 0.25


def event_dicts(count: int) -> list[dict[str, Any]]:
    """``count`` simulated events as plain dicts, the shape an SDK user passes in."""
    events: list[dict[str, Any]] = []
    seed = 0
    while len(events) < count:
        scenario = build_scenario(max(1, count // 20), seed=seed)
        events += [e.model_dump(mode="json") for e in scenario.events()]
        seed += 1
    return events[:count]


def create_topics(settings: Settings, *names: str) -> None:
    admin = AdminClient(settings.admin_conf())
    futures = admin.create_topics([NewTopic(n, 6, 1) for n in names])
    for future in futures.values():
        future.result(15)


def time_sdk(settings: Settings, topic: str, events: list[dict[str, Any]]) -> float:
    producer = CallEventProducer(settings, topic=topic, one_record_per_batch=False)
    producer.publish(events[0], wait=True)  # connect + register the schema outside the clock
    start = time.perf_counter()
    for event in events:
        producer.publish(event)
    producer.close()
    return time.perf_counter() - start


def produce_waiting(producer: Producer, topic: str, key: str, value: bytes) -> None:
    """``produce``, waiting for room when the local queue is full (the way a steady producer
    runs), then serve delivery callbacks."""
    while True:
        try:
            producer.produce(topic, value=value, key=key)
            break
        except BufferError:
            producer.poll(0.05)
    producer.poll(0)


def time_raw(settings: Settings, topic: str, records: list[tuple[str, bytes]]) -> float:
    producer = Producer(settings.producer_conf(one_record_per_batch=False))
    producer.produce(topic, value=records[0][1], key=records[0][0])
    producer.flush(30)
    start = time.perf_counter()
    for key, value in records:
        produce_waiting(producer, topic, key, value)
    remaining = producer.flush(60)
    elapsed = time.perf_counter() - start
    if remaining:
        raise SystemExit(f"raw producer left {remaining} records undelivered")
    return elapsed


def time_confluent_avro(
    settings: Settings, topic: str, records: list[tuple[str, dict[str, Any]]]
) -> float:
    """confluent-kafka's own AvroSerializer on ``to_avro()`` dicts (no validation): the
    idiomatic non-SDK path with serialization, for context."""
    serializer = AvroSerializer(
        SchemaRegistryClient(settings.registry_conf()),
        json.dumps(load_schema(CALL_EVENT_SCHEMA)),
        conf={"auto.register.schemas": True},
    )
    ctx = SerializationContext(topic, MessageField.VALUE)
    producer = Producer(settings.producer_conf(one_record_per_batch=False))
    producer.produce(topic, value=serializer(records[0][1], ctx), key=records[0][0])
    producer.flush(30)
    start = time.perf_counter()
    for key, record in records:
        produce_waiting(producer, topic, key, serializer(record, ctx))
    producer.flush(60)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=2, help="best of N rounds for each side")
    args = parser.parse_args()

    events = event_dicts(args.events)
    with tempfile.TemporaryDirectory(prefix="vb-bench-") as tmp:
        broker = EmbeddedBroker(port=None, log_path=Path(tmp) / "broker.log").start()
        registry = None
        try:
            registry = RegistryProcess(
                broker.bootstrap_servers, port=None, log_path=Path(tmp) / "registry.log"
            ).start()
            settings = Settings(
                bootstrap_servers=broker.bootstrap_servers,
                schema_registry_url=registry.url,
                profile=Profile.DEV,
            )
            codec = AvroCodec(settings)
            schema = load_schema(CALL_EVENT_SCHEMA)
            from pipeline.events import CallEvent

            encoded = [
                (e["call_id"], codec.encode(CallEvent.model_validate(e).to_avro(),
                                            subject=CALL_EVENTS_SUBJECT, schema=schema))
                for e in events
            ]  # fmt: skip
            dicts = [(e["call_id"], CallEvent.model_validate(e).to_avro()) for e in events]
            sdk_best = raw_best = avro_best = float("inf")
            for round_no in range(args.rounds):
                topics = [f"bench.{side}.{round_no}" for side in ("sdk", "raw", "avro")]
                create_topics(settings, *topics)
                raw_best = min(raw_best, time_raw(settings, topics[1], encoded))
                sdk_best = min(sdk_best, time_sdk(settings, topics[0], events))
                avro_best = min(avro_best, time_confluent_avro(settings, topics[2], dicts))
        finally:
            if registry is not None:
                registry.stop()
            broker.stop()

    sdk_rate, raw_rate = len(events) / sdk_best, len(events) / raw_best
    ratio = sdk_rate / raw_rate
    print(f"events: {len(events)} (best of {args.rounds} rounds)")
    print(f"sdk (validate + avro + produce): {sdk_rate:,.0f} events/s")
    print(f"raw confluent-kafka (pre-encoded): {raw_rate:,.0f} events/s")
    avro_rate = len(events) / avro_best
    print(
        f"confluent-kafka AvroSerializer + produce (context): {avro_rate:,.0f} events/s "
        f"(sdk/avroserializer {sdk_rate / avro_rate:.2f})"
    )
    verdict = "meets" if ratio >= GOAL else "BELOW"
    print(f"ratio sdk/raw: {ratio:.3f} ({verdict} goal >= {GOAL})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
