"""20 calls with follow-up rules through the real Deliverer and the Kafka sync ledger on the
real broker, to both mail targets (Gmail and Outlook sandboxes): 20 valid MIME e-mails each
(parsed back here), meeting action items as calendar events with the right attendees and
times, and a "restart" mid-run (new connector, new Deliverer, ledger reloaded from the
topic, half of the delivered records handed over again) sends no e-mail twice."""

from __future__ import annotations

import email
import email.policy
from collections.abc import Callable
from email.message import EmailMessage
from typing import Any

import pytest

from connectors.base.connector import Connector, SyncRecord
from connectors.base.sandbox import SandboxServer
from connectors.gmail.sandbox import make_app as make_gmail_app
from connectors.gmail.sandbox import state_of as gmail_state
from connectors.gmail.sink import GmailConnector
from connectors.outlook.sandbox import make_app as make_graph_app
from connectors.outlook.sandbox import state_of as graph_state
from connectors.outlook.sink import OutlookConnector
from pipeline.config import Profile, Settings
from pipeline.resilience.target import ResilienceSettings, TargetResilience
from pipeline.sinks.delivery import Deliverer, OutcomeKind
from pipeline.sinks.ledger import KafkaLedger
from tests.integration.gmail.conftest import (
    CLIENT_SECRET,
    REFRESH_TOKEN,
    enriched_event,
    gmail_settings,
)
from tests.integration.outlook.conftest import CLIENT_SECRET as GRAPH_SECRET
from tests.integration.outlook.conftest import TENANT, outlook_settings

pytestmark = pytest.mark.integration

FAST = ResilienceSettings(rate_per_s=0, max_attempts=3, initial_backoff_s=0.01, jitter_s=0)


@pytest.fixture
def kafka_settings(broker) -> Settings:
    return Settings(
        bootstrap_servers=broker.bootstrap_servers, profile=Profile.DEV, delivery_timeout_ms=10_000
    )


def build_records() -> list[SyncRecord]:
    """20 follow-up records; every 4th call agreed on a meeting (call 0 on two)."""
    records = []
    for i in range(20):
        meetings = 2 if i == 0 else (1 if i % 4 == 0 else 0)
        event = enriched_event(call_id=f"call-{i:02d}", meetings=meetings)
        records.append(
            SyncRecord(
                key=event["call_id"],
                event=event,
                operation="send_follow_up",
                hints={
                    "template": "call-follow-up",
                    "transcript": [{"speaker": "CUSTOMER", "text": f"transcript of call {i}"}],
                },
            )
        )
    return records


class Target:
    """How one mail target is started and inspected."""

    def __init__(
        self,
        name: str,
        make_app: Callable[[], Any],
        make_connector: Callable[[str], Connector],
        sent_mime: Callable[[SandboxServer], list[EmailMessage]],
        events: Callable[[SandboxServer], list[dict[str, Any]]],
    ) -> None:
        self.name = name
        self.make_app = make_app
        self.make_connector = make_connector
        self.sent_mime = sent_mime
        self.events = events


def _parse(raw: bytes | str) -> EmailMessage:
    parsed = (
        email.message_from_bytes(raw, policy=email.policy.default)
        if isinstance(raw, bytes)
        else email.message_from_string(raw, policy=email.policy.default)
    )
    assert isinstance(parsed, EmailMessage)
    return parsed


GMAIL = Target(
    "gmail",
    lambda: make_gmail_app(client_secret=CLIENT_SECRET, refresh_token=REFRESH_TOKEN),
    lambda url: GmailConnector(gmail_settings(url)),
    lambda srv: [_parse(m.raw) for m in gmail_state(srv.app).sent()],
    lambda srv: gmail_state(srv.app).calendar_events(),
)
OUTLOOK = Target(
    "outlook",
    lambda: make_graph_app(tenant=TENANT, client_secret=GRAPH_SECRET),
    lambda url: OutlookConnector(outlook_settings(url)),
    lambda srv: [_parse(m.as_json()["mime"]) for m in graph_state(srv.app).sent()],
    lambda srv: graph_state(srv.app).calendar_events(),
)


async def _run(
    target: Target, url: str, kafka_settings: Settings, topic: str, records: list[SyncRecord]
) -> list[OutcomeKind]:
    """One sink "process": a fresh connector, Deliverer and ledger loaded from the topic."""
    connector = target.make_connector(url)
    ledger = KafkaLedger(kafka_settings, target.name, topic=topic)
    await ledger.start()
    try:
        deliverer = Deliverer(connector, ledger, TargetResilience.from_settings(target.name, FAST))
        return [(await deliverer.deliver_record(r)).kind for r in records]
    finally:
        await ledger.close()
        await connector.aclose()


def _attendees(target: Target, event: dict[str, Any]) -> set[str]:
    if target.name == "gmail":
        return {a["email"] for a in event["attendees"]}
    return {a["emailAddress"]["address"] for a in event["attendees"]}


@pytest.mark.parametrize("target", [GMAIL, OUTLOOK], ids=lambda t: t.name)
async def test_twenty_follow_ups_once_each_across_a_restart(
    target: Target, kafka_settings: Settings, unique: str
) -> None:
    records = build_records()
    topic = f"_voicebus.sync-ledger.{target.name}.{unique}"
    with SandboxServer(target.make_app()) as sandbox:
        first = await _run(target, sandbox.url, kafka_settings, topic, records[:12])
        assert first == [OutcomeKind.DELIVERED] * 12
        # "crash" and restart: records 6..11 were delivered but their offsets not committed
        second = await _run(target, sandbox.url, kafka_settings, topic, records[6:])
        assert second == [OutcomeKind.DUPLICATE] * 6 + [OutcomeKind.DELIVERED] * 8
        requests_before_replay = sandbox.controls.requests()
        replay = await _run(target, sandbox.url, kafka_settings, topic, records)
        assert replay == [OutcomeKind.DUPLICATE] * 20
        assert sandbox.controls.requests() == requests_before_replay  # nothing resent

        mails = target.sent_mime(sandbox)
        assert len(mails) == 20
        by_call: dict[str, EmailMessage] = {}
        for mail in mails:
            attachments = list(mail.iter_attachments())
            names = [a.get_filename() for a in attachments]
            assert len(names) == 1 and names[0].startswith("transcript-"), names
            call_id = names[0].removeprefix("transcript-").removesuffix(".txt")
            assert call_id not in by_call, f"{call_id} got two e-mails"
            by_call[call_id] = mail
            assert f"of call {int(call_id[-2:])}" in attachments[0].get_content()
            assert attachments[0].get_content_type() == "text/plain"
        assert sorted(by_call) == [f"call-{i:02d}" for i in range(20)]
        for record in records:
            mail = by_call[record.event["call_id"]]
            assert mail["To"].addresses[0].addr_spec == "ada@example.com"
            assert mail["To"].addresses[0].display_name == "Ada Lovelace"
            assert mail["From"] is not None and "@" in str(mail["From"])
            assert mail["Subject"] == "Follow-up on our call (2026-11-24 20:50 UTC)"
            body = mail.get_body(preferencelist=("plain", "html"))
            assert body is not None
            text = body.get_content()
            assert record.event["payload"]["summary"] in text
            assert "Hi Ada Lovelace" in text

        events = target.events(sandbox)
        assert len(events) == 2 + 4  # call 0 has two meetings, calls 4, 8, 12, 16 one each
        subjects = sorted(e.get("summary") or e.get("subject") for e in events)
        assert subjects == ["Contract review #1"] * 5 + ["Contract review #2"]
        for event in events:
            assert _attendees(target, event) == {"ada@example.com", "owner@example.com"}
            assert event["start"]["timeZone"] == "Europe/Berlin"
            start = event["start"]["dateTime"]
            day = 2 if "#2" in (event.get("summary") or event.get("subject")) else 1
            expected = f"2026-12-{day:02d}T10:00:00" + ("+01:00" if target.name == "gmail" else "")
            assert start == expected
            assert event["end"]["dateTime"] == expected.replace("T10:00", "T10:30")
