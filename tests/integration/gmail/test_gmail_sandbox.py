"""Gmail connector against the Google sandbox beyond the contract: service-account JWT
auth, thread replies, calendar id dedupe (409), and the sandbox refusing what Google would."""

from __future__ import annotations

import base64
import email
import email.policy

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pydantic import SecretStr

from connectors.base.connector import SyncRecord
from connectors.base.sandbox import SandboxServer
from connectors.gmail.config import GoogleAuthFlow
from connectors.gmail.mapping import INSERT_EVENT
from connectors.gmail.sandbox import make_app, state_of
from connectors.gmail.sink import GmailConnector
from pipeline.resilience.target import ResilienceSettings, TargetResilience
from pipeline.sinks.delivery import Deliverer, OutcomeKind
from pipeline.sinks.ledger import InMemoryLedger
from tests.integration.gmail.conftest import SEND_PATH, follow_up_record, gmail_settings

FAST = ResilienceSettings(rate_per_s=0, max_attempts=2, initial_backoff_s=0.01, jitter_s=0)


def private_key_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


async def test_service_account_jwt_sends_as_the_delegated_user() -> None:
    account = "voicebus@project.iam.gserviceaccount.com"
    with SandboxServer(make_app(service_account=account)) as sandbox:
        settings = gmail_settings(
            sandbox.url,
            auth_flow=GoogleAuthFlow.SERVICE_ACCOUNT,
            client_id=None,
            client_secret=None,
            refresh_token=None,
            service_account_email=account,
            private_key=SecretStr(private_key_pem()),
            subject="care@example.com",
        )
        connector = GmailConnector(settings)
        try:
            deliverer = Deliverer(
                connector, InMemoryLedger(), TargetResilience.from_settings("gmail", FAST)
            )
            outcome = await deliverer.deliver_record(follow_up_record())
        finally:
            await connector.aclose()
        assert outcome.kind is OutcomeKind.DELIVERED, outcome.message
        assert state_of(sandbox.app).token_requests == 1
        assert len(state_of(sandbox.app).sent()) == 1


async def test_wrong_service_account_is_an_auth_pause() -> None:
    with SandboxServer(make_app(service_account="real@p.iam.gserviceaccount.com")) as sandbox:
        settings = gmail_settings(
            sandbox.url,
            auth_flow="service_account",
            service_account_email="other@p.iam.gserviceaccount.com",
            private_key=SecretStr(private_key_pem()),
            subject="care@example.com",
        )
        connector = GmailConnector(settings)
        try:
            deliverer = Deliverer(
                connector, InMemoryLedger(), TargetResilience.from_settings("gmail", FAST)
            )
            outcome = await deliverer.deliver_record(follow_up_record())
        finally:
            await connector.aclose()
        assert outcome.kind is OutcomeKind.PAUSE_AUTH
        assert "invalid_grant" in (outcome.message or "")
        assert sandbox.controls.requests(SEND_PATH) == 0


async def test_thread_reply_lands_in_the_thread(
    gmail_sandbox: SandboxServer, gmail_connector
) -> None:
    base = follow_up_record()
    record = SyncRecord(
        key=base.key,
        event=base.event,
        operation="send_follow_up",
        hints={**base.hints, "thread_id": "18c0thread", "in_reply_to": "<q1@mail.example>"},
    )
    deliverer = Deliverer(
        gmail_connector, InMemoryLedger(), TargetResilience.from_settings("gmail", FAST)
    )
    outcome = await deliverer.deliver_record(record)
    assert outcome.kind is OutcomeKind.DELIVERED, outcome.message
    [sent] = state_of(gmail_sandbox.app).sent()
    assert sent.thread_id == "18c0thread"
    parsed = email.message_from_bytes(sent.raw, policy=email.policy.default)
    assert parsed["In-Reply-To"] == "<q1@mail.example>"


async def test_calendar_insert_twice_is_one_event(
    gmail_sandbox: SandboxServer, gmail_connector
) -> None:
    """Even without the ledger (e.g. a crash between insert and ledger write) the
    client-chosen id makes the second insert a 409 that counts as done."""
    operations = gmail_connector.map_record(
        follow_up_record(meetings=1, operation="schedule_meetings")
    )
    [operation] = operations
    assert operation.kind == INSERT_EVENT
    first = await gmail_connector.deliver(operation)
    second = await gmail_connector.deliver(operation)
    assert first.external_id == second.external_id == operation.payload["event"]["id"]
    assert second.detail == {"already_existed": True}
    events = state_of(gmail_sandbox.app).calendar_events()
    assert len(events) == 1 and events[0]["sendUpdates"] == "all"


async def test_sandbox_refuses_what_google_would(gmail_sandbox: SandboxServer) -> None:
    async with httpx.AsyncClient(base_url=gmail_sandbox.url) as http:
        token = (
            await http.post(
                "/token",
                data={
                    "grant_type": "refresh_token",
                    "client_id": "sandbox-client",
                    "client_secret": "gmail-client-secret-do-not-log",
                    "refresh_token": "gmail-refresh-token-do-not-log",
                },
            )
        ).json()["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        raw = base64.urlsafe_b64encode(b"To: a@example.com\r\nSubject: x\r\n\r\nhi").decode()
        unauthenticated = await http.post(SEND_PATH, json={"raw": raw})
        unknown_field = await http.post(SEND_PATH, json={"raw": raw, "bogus": 1}, headers=auth)
        no_to = await http.post(
            SEND_PATH,
            json={"raw": base64.urlsafe_b64encode(b"Subject: x\r\n\r\nhi").decode()},
            headers=auth,
        )
        events = "/calendar/v3/calendars/primary/events"
        when = {"dateTime": "2026-12-01T10:00:00+01:00"}
        bad_id = await http.post(
            events, json={"id": "UPPER-case", "start": when, "end": when}, headers=auth
        )
        no_start = await http.post(events, json={"end": when}, headers=auth)
        bad_param = await http.post(
            events + "?sendUpdates=everyone", json={"start": when, "end": when}, headers=auth
        )
        ok = await http.post(SEND_PATH, json={"raw": raw}, headers=auth)
    assert unauthenticated.status_code == 401
    assert unauthenticated.json()["error"]["status"] == "UNAUTHENTICATED"
    assert unknown_field.status_code == 400 and "bogus" in unknown_field.json()["error"]["message"]
    assert no_to.status_code == 400
    assert no_to.json()["error"]["errors"][0]["reason"] == "invalidArgument"
    assert bad_id.status_code == 400
    assert no_start.status_code == 400 and "start" in no_start.json()["error"]["message"]
    assert bad_param.status_code == 400 and "sendUpdates" in bad_param.json()["error"]["message"]
    assert ok.status_code == 200 and set(ok.json()) == {"id", "threadId", "labelIds"}


async def test_concurrent_follow_ups_share_one_token(
    gmail_sandbox: SandboxServer, gmail_connector
) -> None:
    """The sink runtime delivers different calls concurrently: one token fetch for all."""
    import asyncio

    deliverer = Deliverer(
        gmail_connector, InMemoryLedger(), TargetResilience.from_settings("gmail", FAST)
    )
    records = [follow_up_record() for _ in range(20)]
    outcomes = await asyncio.gather(*(deliverer.deliver_record(r) for r in records))
    assert [o.kind for o in outcomes] == [OutcomeKind.DELIVERED] * 20
    assert state_of(gmail_sandbox.app).token_requests == 1
    assert len(state_of(gmail_sandbox.app).sent()) == 20


async def test_verify_sent_closes_the_lost_response_window(gmail_sandbox: SandboxServer) -> None:
    """Google stored the e-mail but the answer was a 500: with VERIFY_SENT the retry finds
    it by Message-ID and does not send it again; without it, the ledger cannot know and the
    customer gets two e-mails (why the option exists)."""
    results = {}
    for verify in (True, False):
        connector = GmailConnector(gmail_settings(gmail_sandbox.url, verify_sent=verify))
        record = follow_up_record()
        gmail_sandbox.controls.mutate("lose_send_responses", count=1)
        try:
            deliverer = Deliverer(
                connector, InMemoryLedger(), TargetResilience.from_settings("gmail", FAST)
            )
            outcome = await deliverer.deliver_record(record)
        finally:
            await connector.aclose()
        assert outcome.kind is OutcomeKind.DELIVERED, outcome.message
        name = f"transcript-{record.event['call_id']}.txt"
        results[verify] = sum(
            1
            for m in state_of(gmail_sandbox.app).sent()
            if any(p.get_filename() == name for p in m.message.iter_attachments())
        )
    assert results == {True: 1, False: 2}
