"""Issue 7 acceptance, through the real pipeline: 20 simulated calls (pipeline.simulate) go
through the real processors worker (`voicebus process` with a follow-up rule to Gmail and
Outlook), then through the real sinks (`voicebus sink gmail|outlook`, in-process) to the
sandboxes.  Every call gets one e-mail per mail target that the `email` package parses back,
with a transcript attachment whose lines are the call's simulated segments in start order,
PII masked for the e-mail class."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

import pytest

from connectors.base.sandbox import SandboxServer
from connectors.gmail.sandbox import make_app as make_gmail_app
from connectors.gmail.sandbox import state_of as gmail_state
from connectors.outlook.sandbox import make_app as make_graph_app
from connectors.outlook.sandbox import state_of as graph_state
from pipeline.config import Settings
from pipeline.devstack_targets import gmail_sandbox_env, outlook_sandbox_env
from pipeline.events import CallDirection, CallEvent, Contact, RecordType, TranscriptSegment
from pipeline.processors.redaction import redact_text
from pipeline.producer import CallEventProducer
from pipeline.serde import AvroCodec
from pipeline.simulate import build_scenario, publish_scenario
from tests.helpers.sink_runtime import run_sink_until
from tests.integration.processors.conftest import WorkerPool, headers_of, read_topic

pytestmark = pytest.mark.integration

CALLS = 20
RULES = """
version: 1
rules:
  - name: mail-follow-up
    when: {event_type: [call_summary], customer_matched: true}
    then:
      - {target: gmail, operation: send_follow_up, hints: {template: call-follow-up}}
      - {target: outlook, operation: send_follow_up, hints: {template: call-follow-up}}
"""
SINK_ENV = {  # the dev stack's sandbox settings plus what this test needs
    "gmail": lambda url: {
        **gmail_sandbox_env(url),
        "VOICEBUS_GMAIL_SENDER_ADDRESS": "care@voicebus.example",
        "VOICEBUS_GMAIL_RESILIENCE__RATE_PER_S": "0",
    },
    "outlook": lambda url: {
        **outlook_sandbox_env(url),
        "VOICEBUS_OUTLOOK_RESILIENCE__RATE_PER_S": "0",
    },
}


def caller_number(call: list[CallEvent]) -> str:
    started = call[0].payload
    assert call[0].event_type.value == "call_started"
    inbound = started.direction is CallDirection.INBOUND  # type: ignore[union-attr]
    return started.from_number if inbound else started.to_number  # type: ignore[union-attr]


def directory(calls: list[list[CallEvent]], tenant_id: str) -> list[Contact]:
    """One contact with an e-mail address per caller, so every call gets a follow-up (the
    simulator's own directory leaves some callers unknown or without an address)."""
    numbers = sorted({caller_number(call) for call in calls})
    return [
        Contact(
            crm="hubspot",
            record_id=f"mail-{index}",
            record_type=RecordType.CONTACT,
            tenant_id=tenant_id,
            name=f"Caller {index}",
            phone_numbers=[number],
            email=f"caller{index}@example.com",
            updated_at=datetime.now(UTC),
        )
        for index, number in enumerate(numbers)
    ]


def expected_lines(call: list[CallEvent]) -> tuple[list[str], int]:
    """The attachment's lines: every segment in start order, ``[mm:ss] SPEAKER: text`` with
    the text masked as the e-mail class is; and how many lines the masking changed."""
    segments = sorted(
        (e.payload for e in call if isinstance(e.payload, TranscriptSegment)),
        key=lambda s: (s.start_ms, s.sequence),
    )
    lines, masked = [], 0
    for s in segments:
        text = redact_text(s.text, "standard")
        masked += text != s.text
        minutes, seconds = divmod(s.start_ms // 1000, 60)
        lines.append(f"[{minutes:02d}:{seconds:02d}] {s.speaker.value}: {text}")
    return lines, masked


def parse(raw: bytes | str) -> EmailMessage:
    message = (
        email.message_from_bytes(raw, policy=email.policy.default)
        if isinstance(raw, bytes)
        else email.message_from_string(raw, policy=email.policy.default)
    )
    assert isinstance(message, EmailMessage)
    return message


def transcripts_by_call(mails: list[EmailMessage]) -> dict[str, list[str]]:
    by_call: dict[str, list[str]] = {}
    for mail in mails:
        assert mail["To"].addresses[0].addr_spec.endswith("@example.com")
        assert mail.get_body(preferencelist=("plain", "html")) is not None
        [attachment] = [
            a for a in mail.iter_attachments() if (a.get_filename() or "").startswith("transcript-")
        ]
        assert attachment.get_content_type() == "text/plain"
        filename = attachment.get_filename() or ""
        call_id = filename.removeprefix("transcript-").removesuffix(".txt")
        assert call_id not in by_call, f"{call_id} got two e-mails"
        by_call[call_id] = attachment.get_content().splitlines()
    return by_call


async def test_simulated_calls_get_follow_ups_with_their_transcript_attached(
    fresh_settings: Settings,
    workers: WorkerPool,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    scenario = build_scenario(CALLS, seed=7)
    with CallEventProducer(fresh_settings) as producer:
        for contact in directory(scenario.calls, scenario.tenant_id):
            producer.publish_contact(contact)
    publish_scenario(fresh_settings, scenario)
    routes = tmp_path / "routes.yaml"
    routes.write_text(RULES)
    worker = workers.start("w1", "--routes", str(routes))
    alive = lambda: worker.proc.poll() is None  # noqa: E731
    for target in ("gmail", "outlook"):
        routed = read_topic(
            fresh_settings, f"sync.{target}", lambda got: len(got) >= CALLS, alive=alive
        )
        assert len(routed) == CALLS, worker.log()[-3000:]
    # the transcript travels in the record's value, never in a header (headers reach DLQs)
    codec = AvroCodec(fresh_settings)
    for message in routed:
        segments = codec.decode(message.value())["transcript"]["segments"]
        assert segments
        header_bytes = b"".join(headers_of(message).values())
        assert not any(s["text"].encode() in header_bytes for s in segments)

    monkeypatch.setenv("VOICEBUS_BOOTSTRAP_SERVERS", fresh_settings.bootstrap_servers)
    monkeypatch.setenv("VOICEBUS_PROFILE", "dev")
    with (
        SandboxServer(make_gmail_app()) as gmail,
        SandboxServer(make_graph_app()) as graph,
    ):
        for name, value in {
            **SINK_ENV["gmail"](gmail.url),
            **SINK_ENV["outlook"](graph.url),
        }.items():
            monkeypatch.setenv(name, value)
        sent_gmail = lambda: [parse(m.raw) for m in gmail_state(gmail.app).sent()]  # noqa: E731
        sent_graph = lambda: [  # noqa: E731
            parse(m.as_json()["mime"]) for m in graph_state(graph.app).sent()
        ]
        await run_sink_until("gmail", fresh_settings, lambda: len(sent_gmail()) >= CALLS)
        await run_sink_until("outlook", fresh_settings, lambda: len(sent_graph()) >= CALLS)
        mailboxes = {"gmail": sent_gmail(), "outlook": sent_graph()}

    masked_total = 0
    for target, mails in mailboxes.items():
        assert len(mails) == CALLS, target
        by_call = transcripts_by_call(mails)
        assert sorted(by_call) == sorted(call[0].call_id for call in scenario.calls), target
        for call in scenario.calls:
            lines, masked = expected_lines(call)
            assert by_call[call[0].call_id] == lines, (target, call[0].call_id)
            masked_total += masked
    assert masked_total > 0  # some simulated speech had PII, and it arrived masked
