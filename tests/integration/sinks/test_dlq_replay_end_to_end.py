"""Permanent 400 -> DLQ; after the receiver is fixed `voicebus dlq replay` delivers the
record once; replaying it again (--again) changes nothing at the receiver (sync ledger)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from confluent_kafka import Consumer, TopicPartition
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.config import Settings

from .helpers import create_topic, read_all, wait_until
from .test_webhook_acceptance import QUICK, run
from .webhook_env import WebhookSandbox, call_event, produce_events, webhook_runtime


@pytest.fixture
def sandbox() -> Iterator[WebhookSandbox]:
    box = WebhookSandbox().start()
    yield box
    box.stop()


def committed(settings: Settings, group: str, topic: str) -> int:
    consumer = Consumer(settings.consumer_conf(group))
    try:
        [tp] = consumer.committed([TopicPartition(topic, 0)], timeout=10)
        return int(tp.offset)
    finally:
        consumer.close()


def cli_env(settings: Settings) -> dict[str, str]:
    return {
        "VOICEBUS_BOOTSTRAP_SERVERS": settings.bootstrap_servers,
        "VOICEBUS_SCHEMA_REGISTRY_URL": settings.schema_registry_url,
        "VOICEBUS_PROFILE": "dev",
    }


async def drain_sink(settings: Settings, target: str, sandbox: WebhookSandbox) -> None:
    """Run the sink until it has committed everything on sync.<target>."""
    runtime, ledger, connector = webhook_runtime(
        settings, target, [sandbox.hook_url], sandbox.secret, resilience=QUICK
    )
    total = len(read_all(settings, f"sync.{target}"))
    try:
        async with run(runtime, ledger):
            await wait_until(
                lambda: committed(settings, f"voicebus-sink-{target}", f"sync.{target}") >= total,
                60,
                f"sink committed all {total} records",
            )
    finally:
        await connector.aclose()


async def test_dead_letter_replayed_after_fix_is_delivered_once_and_replay_again_is_a_no_op(
    settings: Settings, unique: str, sandbox: WebhookSandbox
) -> None:
    target = f"wh{unique}"
    create_topic(settings, f"sync.{target}", 1)
    bad, good = call_event("call-x", 0), call_event("call-x", 1)
    sandbox.controls.fail_next(1, 400)  # the receiver refuses the first event for good
    produce_events(settings, f"sync.{target}", [bad, good])
    await drain_sink(settings, target, sandbox)
    assert len(read_all(settings, f"sync.{target}.dlq")) == 1
    assert sandbox.event_ids() == [good["event_id"]]

    runner, env = CliRunner(), cli_env(settings)
    first = runner.invoke(app, ["dlq", "replay", target], env=env)
    assert first.exit_code == 0, first.output
    await drain_sink(settings, target, sandbox)  # receiver fixed: nothing fails any more
    assert sorted(sandbox.event_ids()) == sorted([good["event_id"], bad["event_id"]])

    again = runner.invoke(app, ["dlq", "replay", target, "--again"], env=env)
    assert again.exit_code == 0, again.output
    assert len(read_all(settings, f"sync.{target}")) == 4  # the record really was re-sent
    await drain_sink(settings, target, sandbox)
    # the sync ledger knows the event was delivered: no second effect at the receiver
    assert sorted(sandbox.event_ids()) == sorted([good["event_id"], bad["event_id"]])
    assert len(read_all(settings, f"sync.{target}.dlq")) == 1  # nothing failed again
