"""The worker exec probe (deploy/k8s) against a real broker: unhealthy until the group has a
live consumer, healthy while it does, unhealthy again once it left."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
from confluent_kafka import Consumer
from confluent_kafka.admin import AdminClient, NewTopic

from pipeline.broker import EmbeddedBroker
from pipeline.config import Profile, Settings

pytestmark = pytest.mark.integration


def probe(bootstrap: str, group: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "VOICEBUS_BOOTSTRAP_SERVERS": bootstrap,
        "VOICEBUS_PROBE_GROUP": group,
    }
    env.pop("POD_IP", None)
    return subprocess.run(
        [sys.executable, "-m", "pipeline.devstack_probe", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_probe_follows_the_consumer_group(fresh_broker: EmbeddedBroker, unique: str) -> None:
    settings = Settings(bootstrap_servers=fresh_broker.bootstrap_servers, profile=Profile.DEV)
    topic, group = f"probe-{unique}", f"voicebus-sink-probe-{unique}"
    admin = AdminClient(settings.admin_conf())
    for future in admin.create_topics([NewTopic(topic, 2, 1)]).values():
        future.result()

    before = probe(fresh_broker.bootstrap_servers, group)
    assert before.returncode == 1
    assert f"group {group!r} has no members" in before.stderr

    consumer = Consumer(settings.consumer_conf(group))
    consumer.subscribe([topic])
    try:
        deadline = time.monotonic() + 30
        while not consumer.assignment() and time.monotonic() < deadline:
            consumer.poll(0.1)
        assert consumer.assignment(), "consumer never joined"
        during = probe(fresh_broker.bootstrap_servers, group)
        assert during.returncode == 0, during.stderr
    finally:
        consumer.close()
    after = probe(fresh_broker.bootstrap_servers, group)
    assert after.returncode == 1, after.stderr


def test_probe_without_a_group_is_a_usage_error() -> None:
    env = {k: v for k, v in os.environ.items() if k != "VOICEBUS_PROBE_GROUP"}
    result = subprocess.run(
        [sys.executable, "-m", "pipeline.devstack_probe"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "VOICEBUS_PROBE_GROUP" in result.stderr


def test_probe_reports_an_unreachable_broker() -> None:
    from pipeline.broker import free_port

    result = probe(f"127.0.0.1:{free_port()}", "voicebus-processors", "--timeout", "1")
    assert result.returncode == 1
    assert "cannot describe group" in result.stderr
