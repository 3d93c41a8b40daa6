"""Closing an incident in the sandbox -> one business event on business.events (real broker and
registry), the time-to-resolve histogram recorded; polling again publishes nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, KafkaError, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from connectors.base.connector import SyncRecord
from connectors.base.sandbox import SandboxServer
from connectors.servicenow.poller import (
    BUSINESS_EVENTS_TOPIC,
    KafkaBusinessEventPublisher,
    PollerStateFile,
    ResolutionPoller,
    event_id_for,
)
from connectors.servicenow.sandbox import instance_of
from pipeline.config import Settings
from pipeline.observability import configure_telemetry
from pipeline.schema_catalog import load_schema
from pipeline.serde import AvroCodec
from pipeline.sinks.delivery import OutcomeKind
from tests.integration.servicenow.conftest import enriched_event, make_connector
from tests.integration.servicenow.test_incidents import deliverer_for


def ensure_topic(settings: Settings, topic: str) -> None:
    admin = AdminClient(settings.admin_conf())
    future = admin.create_topics([NewTopic(topic, 3, 1)])[topic]
    try:
        future.result(timeout=10)
    except Exception as exc:
        if (
            exc.args
            and getattr(exc.args[0], "code", lambda: None)() == KafkaError.TOPIC_ALREADY_EXISTS
        ):
            return
        raise


def read_all(settings: Settings, topic: str, unique: str) -> list[tuple[bytes, bytes]]:
    """Every record of ``topic`` (all partitions, to their end), read with a fresh group."""
    consumer = Consumer(
        settings.consumer_conf(f"sn-test-{unique}", **{"enable.partition.eof": True})
    )
    try:
        meta = consumer.list_topics(topic, timeout=10)
        parts = [TopicPartition(topic, p, 0) for p in meta.topics[topic].partitions]
        consumer.assign(parts)
        done: set[int] = set()
        out: list[tuple[bytes, bytes]] = []
        for _ in range(2000):
            if len(done) == len(parts):
                break
            msg = consumer.poll(0.2)
            if msg is None:
                continue
            if msg.error():
                if msg.error().code() == KafkaError._PARTITION_EOF:
                    done.add(msg.partition())
                    continue
                raise RuntimeError(str(msg.error()))
            out.append((msg.key(), msg.value()))
        assert len(done) == len(parts), "did not reach the end of every partition"
        return out
    finally:
        consumer.close()


def histogram(telemetry: Any, name: str, **attrs: str) -> tuple[int, float]:
    count, total = 0, 0.0
    data = telemetry.metric_reader.get_metrics_data()
    for rm in data.resource_metrics if data else []:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                if metric.name != name:
                    continue
                for point in metric.data.data_points:
                    if all(point.attributes.get(k) == v for k, v in attrs.items()):
                        count += point.count
                        total += point.sum
    return count, total


async def test_closing_an_incident_publishes_one_business_event_and_records_ttr(
    sn_sandbox: SandboxServer, settings: Settings, unique: str, tmp_path: Path
) -> None:
    telemetry = configure_telemetry(in_memory=True)
    ensure_topic(settings, BUSINESS_EVENTS_TOPIC)
    category = f"network-{unique}"
    connector = make_connector(sn_sandbox.url, category=category)
    publisher = KafkaBusinessEventPublisher(settings)
    try:
        user = sn_sandbox.controls.mutate("add_user", email="jane.roe@example.com")
        d = deliverer_for(connector)
        call_ids = [f"call-{unique}-{n}" for n in range(2)]
        sys_ids = []
        for call_id in call_ids:
            outcome = await d.deliver_record(
                SyncRecord(call_id, enriched_event(call_id), "open_incident")
            )
            assert outcome.kind is OutcomeKind.DELIVERED
            sys_ids.append(str(outcome.results[0].external_id))
        poller = ResolutionPoller(
            connector.client,
            publisher,
            PollerStateFile(tmp_path / "state.json"),
            tenant_id=f"t-{unique}",
        )
        assert await poller.poll_once() == []  # nothing resolved yet

        sn_sandbox.controls.mutate("advance_clock", seconds=5400)
        sn_sandbox.controls.mutate("set_state", sys_id=sys_ids[0], state="7")
        published = await poller.poll_once()
        assert [e["event_type"] for e in published] == ["incident_closed"]
        assert await poller.poll_once() == []
        # a new poller from the saved state does not republish either
        again = ResolutionPoller(
            connector.client,
            publisher,
            PollerStateFile(tmp_path / "state.json"),
            tenant_id=f"t-{unique}",
        )
        assert await again.poll_once() == []

        codec = AvroCodec(settings)
        schema = load_schema("business/business_event.avsc")
        ours = []
        for key, value in read_all(settings, BUSINESS_EVENTS_TOPIC, unique):
            event = codec.decode(value, schema)
            if event["tenant_id"] == f"t-{unique}":
                ours.append((key, event))
        assert len(ours) == 1
        key, event = ours[0]
        store = instance_of(sn_sandbox.app).store
        incident = store.get("incident", sys_ids[0])
        assert key == f"servicenow:{user}".encode()
        assert event["subject_ref"] == f"servicenow:{user}"
        assert event["event_type"] == "incident_closed"
        assert str(event["event_id"]) == event_id_for(sys_ids[0], "7", incident["closed_at"])
        attrs = event["attributes"]
        assert attrs["status"] == "closed" and attrs["call_id"] == call_ids[0]
        assert attrs["time_to_resolve_s"] == "5400"
        assert attrs["category"] == category
        assert event["occurred_at"] == datetime.strptime(
            incident["closed_at"], "%Y-%m-%d %H:%M:%S"
        ).replace(tzinfo=UTC)
        count, total = histogram(
            telemetry, "voicebus.servicenow.time_to_resolve", category=category
        )
        assert (count, total) == (1, 5400.0)

        # the other incident resolved later: its own event, once
        sn_sandbox.controls.mutate("set_state", sys_id=sys_ids[1], state="6")
        assert [e["event_type"] for e in await poller.poll_once()] == ["incident_resolved"]
        assert await poller.poll_once() == []
        assert (
            histogram(telemetry, "voicebus.servicenow.time_to_resolve", category=category)[0] == 2
        )
    finally:
        publisher.close()
        await connector.aclose()


def test_cli_poll_resolutions_once(
    sn_sandbox: SandboxServer,
    settings: Settings,
    unique: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import typer
    from typer.testing import CliRunner

    from connectors.servicenow import cli
    from tests.integration.servicenow.conftest import PASSWORD, USER

    ensure_topic(settings, BUSINESS_EVENTS_TOPIC)
    env = {
        "VOICEBUS_BOOTSTRAP_SERVERS": settings.bootstrap_servers,
        "VOICEBUS_SCHEMA_REGISTRY_URL": settings.schema_registry_url,
        "VOICEBUS_PROFILE": settings.profile.value,
        "VOICEBUS_SERVICENOW_INSTANCE_URL": sn_sandbox.url,
        "VOICEBUS_SERVICENOW_USERNAME": USER,
        "VOICEBUS_SERVICENOW_PASSWORD": PASSWORD,
        "VOICEBUS_SERVICENOW_TENANT_ID": f"cli-{unique}",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    store = instance_of(sn_sandbox.app).store
    sys_id = store.insert(
        "incident",
        {"correlation_id": f"call-{unique}", "correlation_display": "voicebus"},
        USER,
    )["sys_id"]
    sn_sandbox.controls.mutate("set_state", sys_id=sys_id, state="6")
    app = typer.Typer()

    @app.callback()
    def _root() -> None:
        """test root"""

    cli.register(app)
    args = ["servicenow", "poll-resolutions", "--once", "--state-file", str(tmp_path / "s.json")]
    first = CliRunner().invoke(app, args)
    assert first.exit_code == 0, first.output
    assert "published 1 resolution event(s)" in first.output
    second = CliRunner().invoke(app, args)
    assert second.exit_code == 0 and "published 0 resolution event(s)" in second.output
    codec = AvroCodec(settings)
    schema = load_schema("business/business_event.avsc")
    ours = [
        codec.decode(v, schema)
        for _, v in read_all(settings, BUSINESS_EVENTS_TOPIC, f"cli{unique}")
    ]
    ours = [e for e in ours if e["tenant_id"] == f"cli-{unique}"]
    assert [(e["event_type"], e["subject_ref"]) for e in ours] == [
        ("incident_resolved", f"servicenow:incident/{sys_id}")
    ]
