"""`voicebus simulate` then consume; `voicebus tail` decodes, filters and survives bad records."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from typer.testing import CliRunner

from pipeline.config import Settings
from pipeline.events import CallEvent, Contact
from pipeline.producer import CallEventProducer
from pipeline.serde import AvroCodec
from pipeline.simulate import build_scenario
from pipeline.topics import CALL_EVENTS_TOPIC, CONTACTS_TOPIC, apply_topics, catalogue
from tests.integration.producer.kafka_helpers import read_all

pytestmark = pytest.mark.integration
runner = CliRunner()


def run(settings: Settings, *args: str):  # type: ignore[no-untyped-def]
    from pipeline.cli import app

    addresses = [
        "--bootstrap-servers",
        settings.bootstrap_servers,
        "--registry-url",
        settings.schema_registry_url,
    ]
    return runner.invoke(app, [*args, *addresses], env={"VOICEBUS_PROFILE": "dev"})


def test_simulate_publishes_what_it_reports(fresh_settings: Settings) -> None:
    apply_topics(fresh_settings, catalogue([]))
    result = run(
        fresh_settings,
        "simulate",
        "--calls",
        "6",
        "--seed",
        "13",
        "--contacts",
        "--tenant",
        "globex",
        "--rate",
        "5000",
    )
    assert result.exit_code == 0, result.output
    expected = build_scenario(6, tenant_id="globex", seed=13)
    want = expected.counts()
    for kind, count in want.items():
        assert f"{kind}" in result.output and str(count) in result.output
    total_events = sum(v for k, v in want.items() if k != "contacts")

    codec = AvroCodec(fresh_settings)
    records = read_all(fresh_settings, CALL_EVENTS_TOPIC, total_events)
    events = [CallEvent.from_avro(codec.decode(m.value())) for m in records]
    got = Counter(e.event_type.value for e in events)
    assert dict(got) == {k: v for k, v in want.items() if k != "contacts"}
    assert {e.event_id for e in events} == {e.event_id for e in expected.events()}  # seeded
    assert {e.tenant_id for e in events} == {"globex"}

    contacts = read_all(fresh_settings, CONTACTS_TOPIC, want["contacts"])
    assert len(contacts) == want["contacts"]
    assert {Contact.from_avro(codec.decode(m.value())).key for m in contacts} == {
        c.key for c in expected.contacts
    }


def test_tail_prints_json_lines_filters_by_key_and_reports_bad_records(
    settings: Settings, unique: str
) -> None:
    from pipeline.observability import configure_telemetry
    from tests.integration.producer.kafka_helpers import create_topic

    configure_telemetry(in_memory=True)  # a real tracer: the producer span sets traceparent
    topic = f"tail.{unique}"
    create_topic(settings, topic, partitions=1)
    call = build_scenario(2, seed=31).calls
    with CallEventProducer(settings, topic=topic) as producer:
        for event in call[0][:3]:
            producer.publish(event)
        producer.publish_raw(topic, call[0][0].call_id, b"\x05not avro at all")
        producer.publish(call[1][0])
        producer.publish_raw(topic, "tomb", None)
        for event in call[0][3:5]:
            producer.publish(event)

    result = run(settings, "tail", topic, "--from-beginning", "--max", "8", "--idle-timeout", "5")
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 8
    assert [line["offset"] for line in lines] == list(range(8))
    bad = lines[3]
    assert bad["error"] == "bad-magic" and bad["partition"] == 0 and bad["offset"] == 3
    assert "partition 0 offset 3" in bad["message"] and "not avro" not in bad["message"]
    assert lines[5]["key"] == "tomb" and lines[5]["value"] is None
    good = [line for line in lines if line.get("value")]
    assert [g["value"]["event_id"] for g in good] == [
        str(e.event_id) for e in (*call[0][:3], call[1][0], *call[0][3:5])
    ]
    assert CallEvent.from_avro(good[0]["value"]) == call[0][0]  # JSON keeps the values
    assert "traceparent" in good[0]["headers"]

    only = run(
        settings,
        "tail",
        topic,
        "--from-beginning",
        "--key",
        call[1][0].call_id,
        "--idle-timeout",
        "2",
    )
    assert only.exit_code == 0, only.output
    keyed = [json.loads(line) for line in only.output.splitlines() if line.strip()]
    assert [k["value"]["call_id"] for k in keyed] == [call[1][0].call_id]


def test_tail_of_a_missing_topic_is_a_clear_error(settings: Settings, unique: str) -> None:
    result = run(settings, "tail", f"nope.{unique}", "--max", "1")
    assert result.exit_code == 1
    assert "does not exist" in result.output
