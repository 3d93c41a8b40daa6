"""Hot reload across processes: `voicebus routes reload` -> _voicebus.control -> the worker's
RouterHolder, on the real broker."""

from __future__ import annotations

import asyncio
import json
import time
import uuid

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from typer.testing import CliRunner

from pipeline.cli import routes_cmd
from pipeline.config import Profile, Settings
from pipeline.processors.routing import (
    RELOAD_COMMAND,
    RouterHolder,
    publish_reload,
    start_control_watcher,
    watch_control_topic,
)
from tests.unit.routing.factories import make_event

pytestmark = pytest.mark.integration

SLACK_RULES = """\
version: 1
rules:
  - name: to-slack
    then: [{target: slack, operation: post_summary}]
"""
TEAMS_RULES = SLACK_RULES.replace("slack", "teams")
BROKEN_RULES = SLACK_RULES.replace("slack", "telegram")


@pytest.fixture
def kafka_settings(broker) -> Settings:
    return Settings(
        bootstrap_servers=broker.bootstrap_servers,
        profile=Profile.DEV,
        delivery_timeout_ms=10_000,
    )


@pytest.fixture
def control_topic(unique) -> str:
    return f"_voicebus.control.{unique}"


@pytest.fixture
def rules_file(tmp_path):
    path = tmp_path / "routes.yaml"
    path.write_text(SLACK_RULES)
    return path


def wait_for(condition, timeout_s: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def targets(holder: RouterHolder) -> list[str]:
    return [d.target for d in holder.route(make_event("call_ended"))]


def read_all(settings: Settings, topic: str) -> list[dict]:
    consumer = Consumer(settings.consumer_conf(f"test-{uuid.uuid4().hex[:8]}"))
    try:
        consumer.assign([TopicPartition(topic, 0, 0)])
        records = []
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            message = consumer.poll(0.2)
            if message is None:
                if records:
                    break
                continue
            if message.error() is None:
                records.append(json.loads(message.value()))
        return records
    finally:
        consumer.close()


def test_control_topic_reload_applies_new_rules_in_a_running_worker(
    kafka_settings, control_topic, rules_file
):
    holder = RouterHolder(rules_file)  # no file polling: only the control topic can reload
    watcher = start_control_watcher(kafka_settings, holder, topic=control_topic)
    try:
        assert watcher.ready.wait(30), "control watcher never started reading"
        rules_file.write_text(TEAMS_RULES)
        assert targets(holder) == ["slack"]
        # garbage on the control topic is logged and skipped, never fatal
        producer = Producer(kafka_settings.producer_conf())
        producer.produce(control_topic, value=b"not json")
        producer.produce(control_topic, value=b'{"command": "dlq.pause", "at": "2999-01-01"}')
        assert producer.flush(10) == 0

        publish_reload(kafka_settings, topic=control_topic)

        assert wait_for(lambda: holder.generation == 2)
        assert targets(holder) == ["teams"]
        assert watcher.commands_applied == 1
        assert watcher.is_alive()

        # a broken file announced by mistake is rejected; the worker keeps routing
        rules_file.write_text(BROKEN_RULES)
        publish_reload(kafka_settings, topic=control_topic)
        assert wait_for(lambda: watcher.commands_applied == 2)
        assert holder.generation == 2
        assert targets(holder) == ["teams"]
    finally:
        watcher.stop()
        watcher.join(10)
    assert not watcher.is_alive()


def test_cli_reload_publishes_a_command_the_async_watcher_applies(
    kafka_settings, control_topic, rules_file, monkeypatch
):
    monkeypatch.setenv("VOICEBUS_BOOTSTRAP_SERVERS", kafka_settings.bootstrap_servers)
    monkeypatch.setenv("VOICEBUS_PROFILE", "dev")
    monkeypatch.setenv("VOICEBUS_CONTROL_TOPIC", control_topic)
    monkeypatch.setenv("VOICEBUS_ROUTES_FILE", str(rules_file))
    holder = RouterHolder(rules_file)

    import typer

    app = typer.Typer()

    @app.callback()
    def _root() -> None:
        """test root"""

    routes_cmd.register(app)

    async def scenario() -> None:
        ready = asyncio.Event()
        task = asyncio.create_task(
            watch_control_topic(kafka_settings, holder, topic=control_topic, ready=ready)
        )
        try:
            await asyncio.wait_for(ready.wait(), 30)
            rules_file.write_text(TEAMS_RULES)
            result = await asyncio.to_thread(CliRunner().invoke, app, ["routes", "reload"])
            assert result.exit_code == 0, result.output
            assert "reload sent" in result.output
            for _ in range(1500):
                if holder.generation == 2:
                    break
                await asyncio.sleep(0.02)
        finally:
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

    asyncio.run(scenario())

    assert holder.generation == 2
    assert targets(holder) == ["teams"]
    (record,) = read_all(kafka_settings, control_topic)
    assert record["command"] == RELOAD_COMMAND
    assert record["rules_sha256"] == holder.router.sha256


def test_commands_older_than_the_last_load_are_not_replayed(
    kafka_settings, control_topic, rules_file
):
    publish_reload(kafka_settings, topic=control_topic)  # sent before this worker started
    holder = RouterHolder(rules_file)
    watcher = start_control_watcher(kafka_settings, holder, topic=control_topic)
    try:
        assert watcher.ready.wait(30)
        publish_reload(kafka_settings, topic=control_topic)  # the only one that counts
        # one partition: the old command is read before the new one, so once the new one is
        # applied the old one has been seen (and skipped) too
        assert wait_for(lambda: watcher.commands_applied >= 1)
    finally:
        watcher.stop()
        watcher.join(10)

    assert watcher.commands_applied == 1
    assert len(read_all(kafka_settings, control_topic)) == 2


def test_worker_setup_with_file_polling_and_control_watcher_together(
    kafka_settings, control_topic, rules_file
):
    """As the processors worker runs it: both reload paths active on one holder."""
    holder = RouterHolder(rules_file)
    holder.start_polling(interval_s=0.05)
    watcher = start_control_watcher(kafka_settings, holder, topic=control_topic)
    try:
        assert watcher.ready.wait(30)
        rules_file.write_text(TEAMS_RULES)  # picked up by the file poll, no command needed
        assert wait_for(lambda: holder.generation == 2)
        assert targets(holder) == ["teams"]

        rules_file.write_text(BROKEN_RULES)
        publish_reload(kafka_settings, topic=control_topic)
        assert wait_for(lambda: watcher.commands_applied == 1)
        assert holder.generation == 2  # rejected by both paths: the valid rules stay
        assert targets(holder) == ["teams"]
    finally:
        watcher.stop()
        holder.stop()
        watcher.join(10)
