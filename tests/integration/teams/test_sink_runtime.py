"""`voicebus sink teams` end to end (real broker and registry): Avro records of sync.teams
become cards; after a restart, redelivered records post nothing."""

from __future__ import annotations

import json

import pytest
from confluent_kafka.admin import AdminClient, NewTopic

from connectors.teams.sandbox import tenant_of
from pipeline.config import Settings
from tests.helpers.sink_runtime import produce_sync, run_sink_until
from tests.integration.slack.conftest import enriched_event
from tests.integration.teams.conftest import HOOK_PATHS, make_sandbox

pytestmark = pytest.mark.integration


def produce(settings: Settings, events: list[dict]) -> None:
    summaries = [(event, "post_summary", {"channel": "#support"}) for event in events]
    produce_sync(settings, "teams", summaries)


async def test_sink_posts_cards_once(fresh_settings: Settings, monkeypatch) -> None:
    with make_sandbox() as srv:
        hooks = {name: f"{srv.url}/webhook/{path}" for name, path in HOOK_PATHS.items()}
        monkeypatch.setenv("VOICEBUS_TEAMS_WEBHOOKS", json.dumps(hooks))
        monkeypatch.setenv("VOICEBUS_TEAMS_RESILIENCE__RATE_PER_S", "0")
        admin = AdminClient(fresh_settings.admin_conf())
        for future in admin.create_topics([NewTopic("sync.teams", 1, 1)]).values():
            future.result(10)
        events = [enriched_event(call_id=f"call-teams-{n}") for n in range(3)]
        produce(fresh_settings, events)
        tenant = tenant_of(srv.app)
        await run_sink_until("teams", fresh_settings, lambda: len(tenant.cards()) >= 3)
        assert len(tenant.cards("support")) == 3

        late = enriched_event(call_id="call-teams-9")
        produce(fresh_settings, [*events, late])
        await run_sink_until(
            "teams",
            fresh_settings,
            lambda: any(c.contains(str(late["event_id"])) for c in tenant.cards()),
        )
        assert len(tenant.cards()) == 4
        for event in events:
            assert sum(c.contains(str(event["event_id"])) for c in tenant.cards()) == 1
