"""50 calls, 10 of them negative: only the negative ones reach Slack (summary + live
insights, one thread per call) and Teams (one card each), through the real Deliverer and the
Kafka sync ledger on the real broker.  Replaying everything after a "restart" (new
connectors, new Deliverers, ledgers reloaded from the topic) posts nothing new."""

from __future__ import annotations

import random
from typing import Any

import pytest

from connectors.base.connector import SyncRecord
from connectors.slack.sandbox import workspace_of
from connectors.slack.sink import SlackConnector
from connectors.teams.sandbox import tenant_of
from connectors.teams.sink import TeamsConnector
from pipeline.config import Profile, Settings
from pipeline.resilience.target import ResilienceSettings, TargetResilience
from pipeline.sinks.delivery import Deliverer, OutcomeKind
from pipeline.sinks.ledger import KafkaLedger
from tests.integration.slack.conftest import enriched_event, make_sandbox, slack_settings
from tests.integration.teams.conftest import make_sandbox as make_teams_sandbox
from tests.integration.teams.conftest import teams_settings

pytestmark = pytest.mark.integration

FAST = ResilienceSettings(rate_per_s=0, max_attempts=3, initial_backoff_s=0.01, jitter_s=0)


@pytest.fixture
def kafka_settings(broker) -> Settings:
    return Settings(
        bootstrap_servers=broker.bootstrap_servers, profile=Profile.DEV, delivery_timeout_ms=10_000
    )


def build_calls(seed: int = 7) -> tuple[list[dict[str, Any]], set[str]]:
    """Per call: two transcript segments and a summary; 10 negative calls of 50.  For half
    of the negative calls the insights come before the summary (the thread parent is then a
    call header and the summary a reply), for the others after it."""
    rng = random.Random(seed)
    negative = set(rng.sample(range(50), 10))
    events: list[dict[str, Any]] = []
    negative_ids: set[str] = set()
    for i in range(50):
        call_id = f"call-{i:03d}-{rng.randrange(16**6):06x}"
        sentiment = "NEGATIVE" if i in negative else rng.choice(["POSITIVE", "NEUTRAL"])
        if sentiment == "NEGATIVE":
            negative_ids.add(call_id)
        segments = [
            enriched_event("transcript_segment", call_id=call_id, sentiment=sentiment)
            for _ in range(2)
        ]
        summary = enriched_event("call_summary", call_id=call_id, sentiment=sentiment)
        events.extend([*segments, summary] if i % 2 else [summary, *segments])
    return events, negative_ids


def route(events: list[dict[str, Any]], target: str) -> list[SyncRecord]:
    """What the routing rules send: negative calls only; Slack gets summaries and insights,
    Teams summaries."""
    records = []
    for event in events:
        if event["call"]["sentiment"] != "NEGATIVE":
            continue
        is_summary = event["event_type"] == "call_summary"
        if target == "teams" and not is_summary:
            continue
        operation = "post_summary" if is_summary else "post_insight"
        records.append(
            SyncRecord(
                key=event["call_id"],
                event=event,
                operation=operation,
                hints={"channel": "#support"},
            )
        )
    return records


async def deliver_all(deliverer: Deliverer, records: list[SyncRecord]) -> list[OutcomeKind]:
    return [(await deliverer.deliver_record(r)).kind for r in records]


async def test_negative_calls_thread_once_and_replays_post_nothing(kafka_settings, unique):
    events, negative = build_calls()
    slack_records, teams_records = route(events, "slack"), route(events, "teams")
    assert len(slack_records) == 30 and len(teams_records) == 10
    topic = f"_voicebus.sync-ledger.{unique}"

    with make_sandbox(channel_rate_per_s=None) as slack_srv, make_teams_sandbox() as teams_srv:
        workspace, tenant = workspace_of(slack_srv.app), tenant_of(teams_srv.app)

        async def run(expect: OutcomeKind) -> None:
            slack_ledger = KafkaLedger(kafka_settings, "slack", topic=topic)
            teams_ledger = KafkaLedger(kafka_settings, "teams", topic=topic)
            await slack_ledger.start()
            await teams_ledger.start()
            slack = SlackConnector(slack_settings(slack_srv.url))
            slack.bind_ledger(slack_ledger)
            teams = TeamsConnector(teams_settings(teams_srv.url))
            try:
                slack_d = Deliverer(
                    slack, slack_ledger, TargetResilience.from_settings("slack", FAST)
                )
                teams_d = Deliverer(
                    teams, teams_ledger, TargetResilience.from_settings("teams", FAST)
                )
                assert set(await deliver_all(slack_d, slack_records)) == {expect}
                assert set(await deliver_all(teams_d, teams_records)) == {expect}
            finally:
                await slack.aclose()
                await teams.aclose()
                await slack_ledger.close()
                await teams_ledger.close()

        await run(OutcomeKind.DELIVERED)
        parents = workspace.parents("#support")
        assert len(parents) == 10
        by_call = {}
        for parent in parents:
            call_ids = [c for c in negative if parent.contains(c)]
            assert len(call_ids) == 1
            by_call[call_ids[0]] = parent
        assert set(by_call) == negative  # one thread per negative call, none for others
        for call_id, parent in by_call.items():
            replies = workspace.replies(parent.ts)
            assert all(r.contains(call_id) for r in replies)
            # two insights; plus the summary when the insights came first (header parent)
            summary_in_thread = "Call in progress" in parent.text
            assert len(replies) == (3 if summary_in_thread else 2), call_id
        headers = sum(1 for p in parents if "Call in progress" in p.text)
        assert 0 < headers < 10  # both orders exercised (fixed seed)
        total = 10 + 20 + headers  # parents, insights, summaries posted as replies
        assert len(workspace.messages()) == total
        cards = tenant.cards("support")
        assert len(cards) == 10
        assert {c for card in cards for c in negative if card.contains(c)} == negative

        slack_before, teams_before = slack_srv.controls.requests(), teams_srv.controls.requests()
        await run(OutcomeKind.DUPLICATE)  # restart: new connectors, ledgers reloaded
        assert slack_srv.controls.requests() == slack_before
        assert teams_srv.controls.requests() == teams_before
        assert len(workspace.messages()) == total
        assert len(tenant.cards()) == 10
