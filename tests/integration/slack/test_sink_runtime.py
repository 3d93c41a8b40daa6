"""`voicebus sink slack` end to end: run_sink finds the connector by name, reads its settings
from the environment and delivers Avro records of sync.slack (real broker and registry) to
the sandbox, threaded per call; after a restart, redelivered records post nothing."""

from __future__ import annotations

import pytest
from confluent_kafka.admin import AdminClient, NewTopic

from connectors.slack.sandbox import workspace_of
from pipeline.config import Settings
from tests.helpers.sink_runtime import produce_sync, run_sink_until
from tests.integration.slack.conftest import TOKEN, enriched_event

pytestmark = pytest.mark.integration

SUPPORT = {"channel": "#support"}


def produce(settings: Settings, records: list[tuple[dict, str]]) -> None:
    produce_sync(settings, "slack", [(event, operation, SUPPORT) for event, operation in records])


async def test_sink_threads_calls_and_survives_a_restart(
    fresh_settings: Settings, slack_sandbox_server, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in {
        "VOICEBUS_SLACK_BOT_TOKEN": TOKEN,
        "VOICEBUS_SLACK_BASE_URL": f"{slack_sandbox_server.url}/api",
        "VOICEBUS_SLACK_CHANNEL_RATE_PER_S": "0",
        "VOICEBUS_SLACK_RESILIENCE__RATE_PER_S": "0",
        # the connector's own thread ledger reads the same broker
        "VOICEBUS_BOOTSTRAP_SERVERS": fresh_settings.bootstrap_servers,
        "VOICEBUS_PROFILE": "dev",
    }.items():
        monkeypatch.setenv(name, value)
    admin = AdminClient(fresh_settings.admin_conf())
    for future in admin.create_topics([NewTopic("sync.slack", 1, 1)]).values():
        future.result(10)
    records = []
    for n in range(3):
        call_id = f"call-sink-{n}"
        records.append((enriched_event("call_summary", call_id=call_id), "post_summary"))
        records.append((enriched_event("transcript_segment", call_id=call_id), "post_insight"))
    produce(fresh_settings, records)
    workspace = workspace_of(slack_sandbox_server.app)
    await run_sink_until("slack", fresh_settings, lambda: len(workspace.messages()) >= 6)

    parents = workspace.parents("#support")
    assert len(parents) == 3
    for parent in parents:
        [reply] = workspace.replies(parent.ts)
        call_id = next(
            c for c in ("call-sink-0", "call-sink-1", "call-sink-2") if parent.contains(c)
        )
        assert reply.contains(call_id)

    # restart; the same records again (an upstream redelivery), then one new insight of call 0
    late = enriched_event("transcript_segment", call_id="call-sink-0")
    produce(fresh_settings, [*records, (late, "post_insight")])
    await run_sink_until(
        "slack",
        fresh_settings,
        lambda: any(m.contains(late["event_id"]) for m in workspace.messages()),
    )
    assert len(workspace.messages()) == 7  # nothing re-posted, one new reply
    [parent_0] = [p for p in workspace.parents() if p.contains("call-sink-0")]
    assert len(workspace.replies(parent_0.ts)) == 2
