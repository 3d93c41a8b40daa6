"""Outlook connector against the Graph sandbox beyond the contract: large attachments via
an upload session, replies in a conversation, event dedupe by transactionId, and the
sandbox refusing what Graph would."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime

import httpx

from connectors.base.connector import SyncRecord
from connectors.base.sandbox import SandboxServer
from connectors.outlook.mapping import CREATE_EVENT, SEND_LARGE
from connectors.outlook.sandbox import state_of
from connectors.outlook.sink import OutlookConnector
from pipeline.resilience.target import ResilienceSettings, TargetResilience
from pipeline.sinks.delivery import Deliverer, OutcomeKind
from pipeline.sinks.ledger import InMemoryLedger
from pipeline.sinks.outcome import RecordTracker
from tests.integration.gmail.conftest import follow_up_record
from tests.integration.outlook.conftest import (
    CLIENT_SECRET,
    MAILBOX,
    SEND_PATH,
    TENANT,
    outlook_settings,
)

FAST = ResilienceSettings(rate_per_s=0, max_attempts=2, initial_backoff_s=0.01, jitter_s=0)


def deliverer_for(connector: OutlookConnector) -> Deliverer:
    return Deliverer(connector, InMemoryLedger(), TargetResilience.from_settings("outlook", FAST))


async def test_large_transcript_goes_through_an_upload_session(
    outlook_sandbox: SandboxServer,
) -> None:
    big = [{"speaker": "CUSTOMER", "text": f"line {i} " + "x" * 200} for i in range(16_000)]
    base = follow_up_record()
    record = SyncRecord(
        key=base.key,
        event=base.event,
        operation="send_follow_up",
        hints={**base.hints, "transcript": big},
    )
    connector = OutlookConnector(outlook_settings(outlook_sandbox.url))
    try:
        assert connector.map_record(record)[0].kind == SEND_LARGE
        outcome = await deliverer_for(connector).deliver_record(record)
    finally:
        await connector.aclose()
    assert outcome.kind is OutcomeKind.DELIVERED, outcome.message
    counts = outlook_sandbox.controls.counts()
    assert counts.get(SEND_PATH, 0) == 0  # not inline
    uploads = sum(n for path, n in counts.items() if path.startswith("/_upload/"))
    [sent] = state_of(outlook_sandbox.app).sent()
    [(name, content_type, data)] = sent.attachments()
    assert name == f"transcript-{base.event['call_id']}.txt" and content_type == "text/plain"
    assert len(data) > 3 * 1024 * 1024
    assert uploads == -(-len(data) // (10 * 320 * 1024))  # one PUT per chunk
    assert data.decode().splitlines()[-1] == big[-1]["speaker"] + ": " + big[-1]["text"]
    mime = email.message_from_string(sent.as_json()["mime"], policy=email.policy.default)
    assert mime["To"].addresses[0].addr_spec == "ada@example.com"


async def test_reply_lands_in_the_conversation(
    outlook_sandbox: SandboxServer, outlook_connector
) -> None:
    inbox_id = outlook_sandbox.controls.mutate("receive_message", subject="Quote?")
    base = follow_up_record()
    record = SyncRecord(
        key=base.key,
        event=base.event,
        operation="send_follow_up",
        hints={**base.hints, "reply_to_message_id": inbox_id},
    )
    outcome = await deliverer_for(outlook_connector).deliver_record(record)
    assert outcome.kind is OutcomeKind.DELIVERED, outcome.message
    [sent] = state_of(outlook_sandbox.app).sent()
    assert sent.conversation_id == inbox_id
    assert any(a[0].startswith("transcript-") for a in sent.attachments())


async def test_reply_to_unknown_message_is_dead_lettered(outlook_connector) -> None:
    base = follow_up_record()
    record = SyncRecord(
        key=base.key, event=base.event, hints={**base.hints, "reply_to_message_id": "AAMkNope"}
    )
    outcome = await deliverer_for(outlook_connector).deliver_record(record)
    assert outcome.kind is OutcomeKind.DEAD_LETTER
    assert outcome.error_class == "permanent" and "ErrorItemNotFound" in (outcome.message or "")


async def test_event_transaction_id_dedupes(
    outlook_sandbox: SandboxServer, outlook_connector
) -> None:
    [operation] = outlook_connector.map_record(
        follow_up_record(meetings=1, operation="schedule_meetings")
    )
    assert operation.kind == CREATE_EVENT
    first = await outlook_connector.deliver(operation)
    second = await outlook_connector.deliver(operation)  # e.g. a crash before the ledger write
    assert first.external_id == second.external_id
    assert len(state_of(outlook_sandbox.app).calendar_events()) == 1


async def test_sandbox_refuses_what_graph_would(outlook_sandbox: SandboxServer) -> None:
    async with httpx.AsyncClient(base_url=outlook_sandbox.url) as http:
        token = (
            await http.post(
                f"/{TENANT}/oauth2/v2.0/token",
                data={
                    "grant_type": "client_credentials",
                    "client_id": "sandbox-client",
                    "client_secret": CLIENT_SECRET,
                    "scope": "https://graph.microsoft.com/.default",
                },
            )
        ).json()["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        message = {
            "subject": "x",
            "body": {"contentType": "Text", "content": "hi"},
            "toRecipients": [{"emailAddress": {"address": "ada@example.com"}}],
        }
        no_auth = await http.post(SEND_PATH, json={"message": message})
        bad_to = await http.post(
            SEND_PATH,
            json={"message": {**message, "toRecipients": [{"emailAddress": {"address": "nope"}}]}},
            headers=auth,
        )
        unknown = await http.post(
            SEND_PATH, json={"message": {**message, "colour": "red"}}, headers=auth
        )
        ok = await http.post(
            SEND_PATH, json={"message": message, "saveToSentItems": True}, headers=auth
        )
        event = await http.post(
            f"/v1.0/users/{MAILBOX}/events",
            json={"subject": "x", "start": {"dateTime": "2026-12-01T10:00:00"}},
            headers=auth,
        )
    assert no_auth.status_code == 401
    assert no_auth.json()["error"]["code"] == "InvalidAuthenticationToken"
    assert bad_to.status_code == 400 and bad_to.json()["error"]["code"] == "ErrorInvalidRecipients"
    assert unknown.status_code == 400 and unknown.json()["error"]["code"] == "RequestBodyRead"
    assert ok.status_code == 202 and ok.content == b""
    assert event.status_code == 400 and "timeZone" in event.json()["error"]["message"]


async def test_invalid_recipient_from_graph_is_a_data_error(
    outlook_sandbox: SandboxServer, outlook_connector
) -> None:
    """An address our check lets through but Graph refuses -> DLQ as data, not retried."""
    record = follow_up_record(email="ada@example.com")
    operation = outlook_connector.map_record(record)[0]
    operation.payload["body"]["message"]["toRecipients"][0]["emailAddress"]["address"] = "a@b"
    tracker = RecordTracker(0, lambda: datetime.now(UTC))
    outcome = await deliverer_for(outlook_connector).deliver_operation(record, operation, tracker)
    assert outcome is not None and outcome.kind is OutcomeKind.DEAD_LETTER
    assert outcome.error_class == "data"
