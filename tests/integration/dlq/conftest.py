"""Helpers for the DLQ / lag CLI tests: DLQ records produced directly in the sink runtime's
format (original key/value/headers + vb-* error headers), and a CLI runner pointed at the
test broker through the environment, as an SRE would run it."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from typer.testing import CliRunner

from pipeline import headers as h
from pipeline.broker import EmbeddedBroker, free_port
from pipeline.cli import app
from pipeline.config import Profile, Settings

BASE_TIME = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class Dead:
    """One DLQ record to produce."""

    key: str
    value: bytes
    error_class: str = "permanent"
    message: str = "400 invalid field"
    attempts: int = 1
    minutes: int = 0  # failure time = BASE_TIME + minutes
    source_offset: int = 0
    original_headers: list[tuple[str, bytes]] = field(
        default_factory=lambda: [("traceparent", b"00-abc-def-01"), ("vb-operation", b"log_call")]
    )

    def headers(self, target: str) -> list[tuple[str, bytes]]:
        failed = BASE_TIME + timedelta(minutes=self.minutes)
        return [
            *self.original_headers,
            (h.ERROR_CLASS, self.error_class.encode()),
            (h.ERROR_MESSAGE, self.message.encode()),
            (h.ATTEMPTS, str(self.attempts).encode()),
            (h.FIRST_FAILURE_AT, iso(failed - timedelta(seconds=30)).encode()),
            (h.LAST_FAILURE_AT, iso(failed).encode()),
            (h.SOURCE_TOPIC, f"sync.{target}".encode()),
            (h.SOURCE_PARTITION, b"0"),
            (h.SOURCE_OFFSET, str(self.source_offset).encode()),
            (h.TARGET, target.encode()),
            (h.CONNECTOR, target.encode()),
            (h.CONNECTOR_VERSION, b"0.1.0"),
        ]


def create_topics(settings: Settings, *topics: str, partitions: int = 1) -> None:
    admin = AdminClient({"bootstrap.servers": settings.bootstrap_servers})
    futures = admin.create_topics([NewTopic(t, partitions, 1) for t in topics])
    for future in futures.values():
        future.result()


def produce_dead(
    settings: Settings, target: str, records: Iterable[Dead], *, batched: bool = False
) -> None:
    """Write DLQ records; ``batched`` puts several records in one producer batch (the
    embedded broker's ListOffsets then answers low, so counts must come from reading)."""
    conf = settings.producer_conf(one_record_per_batch=not batched)
    if batched:
        conf["linger.ms"] = 200
    producer = Producer(conf)
    for dead in records:
        producer.produce(
            f"sync.{target}.dlq",
            key=dead.key.encode(),
            value=dead.value,
            headers=dead.headers(target),
        )
    assert producer.flush(10) == 0


def read_all(settings: Settings, topic: str) -> list:
    """Every record of ``topic`` (read until end of partition)."""
    consumer = Consumer(
        settings.consumer_conf(f"test-read-{free_port()}", **{"enable.partition.eof": True})
    )
    metadata = consumer.list_topics(topic, timeout=10)
    partitions = sorted(metadata.topics[topic].partitions)
    consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
    pending, out = set(partitions), []
    while pending:
        message = consumer.poll(5)
        assert message is not None, f"no end of partition for {topic}"
        if message.error():
            pending.discard(message.partition())
            continue
        out.append(message)
    consumer.close()
    return out


@pytest.fixture
def sre_settings(broker: EmbeddedBroker) -> Settings:
    """Settings for the session broker; the registry URL points at a closed port (the DLQ
    tools must work, and say why a value is undecodable, without a registry)."""
    return Settings(
        bootstrap_servers=broker.bootstrap_servers,
        schema_registry_url=f"http://127.0.0.1:{free_port()}",
        profile=Profile.DEV,
        delivery_timeout_ms=10_000,
    )


CliFn = Callable[..., object]


def make_cli(settings: Settings) -> Callable[..., object]:
    runner = CliRunner()
    env = {
        "VOICEBUS_BOOTSTRAP_SERVERS": settings.bootstrap_servers,
        "VOICEBUS_SCHEMA_REGISTRY_URL": settings.schema_registry_url,
        "VOICEBUS_PROFILE": "dev",
        "VOICEBUS_DELIVERY_TIMEOUT_MS": "10000",
    }

    def run(*args: str, input: str | None = None, ok: bool = True):  # type: ignore[no-untyped-def]
        result = runner.invoke(app, list(args), env=env, input=input)
        if ok:
            assert result.exit_code == 0, (result.output, result.exception)
        return result

    run.env = env  # type: ignore[attr-defined]
    return run


@pytest.fixture
def cli(sre_settings: Settings):  # type: ignore[no-untyped-def]
    return make_cli(sre_settings)


def json_out(result) -> object:  # type: ignore[no-untyped-def]
    return json.loads(result.stdout)


@pytest.fixture(autouse=True)
def _release_clients():  # type: ignore[no-untyped-def]
    """Collect Kafka clients kept alive by reference cycles (CLI results hold tracebacks):
    an open connection makes the broker's shutdown wait for its grace period."""
    yield
    import gc

    gc.collect()
