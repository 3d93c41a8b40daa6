"""Thread parents live in the Kafka sync ledger: after a restart, or on another sink
instance after a rebalance, later events of a call still reply in the call's one thread.
Here the connector opens its own ledger (what ``create_connector`` does when the runtime does
not bind one)."""

from __future__ import annotations

import pytest

from connectors.slack.sandbox import workspace_of
from connectors.slack.sink import SlackConnector
from pipeline.config import Profile, Settings
from pipeline.resilience.target import ResilienceSettings, TargetResilience
from pipeline.sinks.delivery import Deliverer, OutcomeKind
from pipeline.sinks.ledger import KafkaLedger
from tests.integration.slack.conftest import enriched_event, record_of, slack_settings

pytestmark = pytest.mark.integration


@pytest.fixture
def kafka_settings(broker) -> Settings:
    return Settings(
        bootstrap_servers=broker.bootstrap_servers, profile=Profile.DEV, delivery_timeout_ms=10_000
    )


class Instance:
    """One slack sink process: connector (own thread ledger) + Deliverer + its ledger."""

    def __init__(self, settings: Settings, topic: str, url: str) -> None:
        self.ledger = KafkaLedger(settings, "slack", topic=topic)
        self.connector = SlackConnector(
            slack_settings(url),
            ledger_factory=lambda: KafkaLedger(settings, "slack", topic=topic),
        )
        resilience = TargetResilience.from_settings(
            "slack", ResilienceSettings(rate_per_s=0, jitter_s=0, initial_backoff_s=0.01)
        )
        self.deliverer = Deliverer(self.connector, self.ledger, resilience)

    async def __aenter__(self) -> Instance:
        await self.ledger.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.connector.aclose()
        await self.ledger.close()


async def test_restart_and_rebalance_keep_one_thread_per_call(
    kafka_settings, unique, slack_sandbox_server
):
    topic = f"_voicebus.sync-ledger.{unique}"
    url = slack_sandbox_server.url
    workspace = workspace_of(slack_sandbox_server.app)
    call_a, call_b = f"call-a-{unique}", f"call-b-{unique}"
    summary_a = record_of(enriched_event(call_id=call_a))
    insight_a = record_of(enriched_event("transcript_segment", call_id=call_a), "post_insight")
    insight_b1 = record_of(enriched_event("transcript_segment", call_id=call_b), "post_insight")
    insight_b2 = record_of(enriched_event("transcript_segment", call_id=call_b), "post_insight")

    async with Instance(kafka_settings, topic, url) as other:
        # a second instance, started (and its thread ledger loaded) before anything is posted
        assert (await other.deliverer.deliver_record(insight_b1)).kind is OutcomeKind.DELIVERED
        async with Instance(kafka_settings, topic, url) as first:
            outcome = await first.deliverer.deliver_record(summary_a)
            assert outcome.kind is OutcomeKind.DELIVERED
        # call A moves to the other instance (rebalance): it finds A's thread
        assert (await other.deliverer.deliver_record(insight_a)).kind is OutcomeKind.DELIVERED

    async with Instance(kafka_settings, topic, url) as restarted:
        assert (await restarted.deliverer.deliver_record(insight_b2)).kind is OutcomeKind.DELIVERED
        again = await restarted.deliverer.deliver_record(summary_a)
        assert again.kind is OutcomeKind.DUPLICATE

    parents = workspace.parents()
    assert len(parents) == 2  # one per call, never a second parent
    [parent_a] = [p for p in parents if p.contains(call_a)]
    [parent_b] = [p for p in parents if p.contains(call_b)]
    assert parent_a.contains(str(summary_a.event["event_id"]))  # the summary is A's parent
    assert [
        r.contains(str(insight_a.event["event_id"])) for r in workspace.replies(parent_a.ts)
    ] == [True]
    replies_b = workspace.replies(parent_b.ts)
    assert [r.contains(str(insight_b1.event["event_id"])) for r in replies_b] == [True, False]
    assert replies_b[1].contains(str(insight_b2.event["event_id"]))
