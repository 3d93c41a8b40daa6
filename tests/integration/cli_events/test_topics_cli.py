"""`voicebus topics apply|ls` and apply_topics against a broker of the test's own."""

from __future__ import annotations

import pytest
from confluent_kafka.admin import AdminClient, NewTopic
from typer.testing import CliRunner

from pipeline.broker import EmbeddedBroker
from pipeline.config import Settings
from pipeline.topics import apply_topics, catalogue, describe_topics

pytestmark = pytest.mark.integration
runner = CliRunner()


def run(*args: str):  # type: ignore[no-untyped-def]
    from pipeline.cli import app

    # short admin timeouts so the unreachable-broker case answers quickly
    return runner.invoke(app, list(args), env={"VOICEBUS_REQUEST_TIMEOUT_S": "3"})


def test_apply_creates_the_catalogue_then_is_idempotent(fresh_broker: EmbeddedBroker) -> None:
    servers = ["--bootstrap-servers", fresh_broker.bootstrap_servers]
    dry = run("topics", "apply", "--dry-run", *servers)
    assert dry.exit_code == 0, dry.output
    assert "dry run" in dry.output and "38 create" in dry.output
    settings = Settings(bootstrap_servers=fresh_broker.bootstrap_servers)
    assert describe_topics(settings) == []  # a dry run creates nothing

    applied = run("topics", "apply", *servers)
    assert applied.exit_code == 0, applied.output
    assert "38 create" in applied.output
    actual = {t.name: t for t in describe_topics(settings)}
    for spec in catalogue():
        assert actual[spec.name].partitions == spec.partitions
        assert all(actual[spec.name].config.get(k) == v for k, v in spec.config.items())
    assert actual["crm.contacts"].config["cleanup.policy"] == "compact"

    again = run("topics", "apply", *servers)
    assert again.exit_code == 0
    assert "38 unchanged" in again.output

    listed = run("topics", "ls", *servers)
    assert listed.exit_code == 0
    assert "sync.servicenow.retry" in listed.output and "missing" not in listed.output


def test_config_drift_is_reconciled_and_partition_mismatch_reported(
    fresh_broker: EmbeddedBroker,
) -> None:
    settings = Settings(bootstrap_servers=fresh_broker.bootstrap_servers)
    admin = AdminClient(settings.admin_conf())
    # someone created two topics by hand: wrong retention, too few partitions
    admin.create_topics(
        [
            NewTopic("voice.call-events", 6, 1, config={"retention.ms": "1000"}),
            NewTopic("sync.slack", 2, 1),
        ]
    )["sync.slack"].result(10)
    specs = catalogue(["slack"])
    dry = {c.topic: c for c in apply_topics(settings, specs, dry_run=True)}
    assert (
        dry["voice.call-events"].action == "update-config" and not dry["voice.call-events"].applied
    )
    assert "'1000' -> '604800000'" in dry["voice.call-events"].detail

    changes = {c.topic: c for c in apply_topics(settings, specs)}
    assert changes["voice.call-events"].action == "update-config"
    assert changes["voice.call-events"].applied
    described = {t.name: t for t in describe_topics(settings)}
    assert described["voice.call-events"].config["retention.ms"] == "604800000"
    # the embedded broker refuses CreatePartitions: a clear error, the rest still applied
    slack = [c for c in apply_topics(settings, specs) if c.topic == "sync.slack"]
    assert [c.action for c in slack] == ["error"]
    assert "has 2 partitions, catalogue says 6" in slack[0].detail
    assert "refused" in slack[0].detail
    assert described["sync.slack.dlq"].partitions == 6
    del admin  # release its broker connection before the broker stops

    result = run(
        "topics",
        "apply",
        "--targets",
        "slack",
        "--bootstrap-servers",
        fresh_broker.bootstrap_servers,
    )
    assert result.exit_code == 1
    assert "sync.slack" in result.output and "error" in result.output
    listed = run(
        "topics", "ls", "--targets", "slack", "--bootstrap-servers", fresh_broker.bootstrap_servers
    )
    assert "differs" in listed.output


def test_unreachable_broker_is_one_clear_error() -> None:
    from pipeline.broker import free_port

    result = run("topics", "apply", "--bootstrap-servers", f"127.0.0.1:{free_port()}")
    assert result.exit_code == 1
    assert "cannot reach Kafka" in result.output
