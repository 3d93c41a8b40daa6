"""Replies through createReply and the mailbox as the record of what went out: a send whose
answer was lost (the sandbox's ``lose_send_responses``: Exchange sent it, the client saw a
500, as after a crash) is found by its internetMessageId and not sent again; a reply draft
left by an earlier attempt is finished, not duplicated; ``VERIFY_SENT`` does the same for
``sendMail``.  All through the real Deliverer against the Graph sandbox."""

from __future__ import annotations

import httpx
import pytest

from connectors.base.connector import SyncRecord
from connectors.base.sandbox import SandboxServer
from connectors.outlook.drafts import internet_message_id
from connectors.outlook.sandbox import state_of
from connectors.outlook.sink import OutlookConnector
from pipeline.resilience.target import ResilienceSettings, TargetResilience
from pipeline.sinks.delivery import Deliverer, OutcomeKind
from pipeline.sinks.ledger import InMemoryLedger
from tests.integration.gmail.conftest import follow_up_record
from tests.integration.outlook.conftest import MAILBOX, SEND_PATH, outlook_settings

FAST = ResilienceSettings(rate_per_s=0, max_attempts=3, initial_backoff_s=0.01, jitter_s=0)


def deliverer_for(connector: OutlookConnector) -> Deliverer:
    return Deliverer(connector, InMemoryLedger(), TargetResilience.from_settings("outlook", FAST))


def reply_record(inbox_id: str, transcript: object | None = None) -> SyncRecord:
    base = follow_up_record()
    hints = {**base.hints, "reply_to_message_id": inbox_id}
    if transcript is not None:
        hints["transcript"] = transcript
    return SyncRecord(key=base.key, event=base.event, operation="send_follow_up", hints=hints)


def with_transcript(record: SyncRecord):
    name = f"transcript-{record.event['call_id']}.txt"
    return lambda mail: any(a[0] == name for a in mail.attachments())


async def deliver(connector: OutlookConnector, record: SyncRecord):
    outcome = await deliverer_for(connector).deliver_record(record)
    assert outcome.kind is OutcomeKind.DELIVERED, outcome.message
    return outcome


async def test_reply_goes_through_create_reply_draft_patch_and_send(
    outlook_sandbox: SandboxServer, outlook_connector: OutlookConnector
) -> None:
    inbox_id = outlook_sandbox.controls.mutate("receive_message", subject="Quote?")
    record = reply_record(inbox_id)
    await deliver(outlook_connector, record)
    counts = outlook_sandbox.controls.counts()
    assert counts.get(f"/v1.0/users/{MAILBOX}/messages/{inbox_id}/createReply") == 1
    assert counts.get(f"/v1.0/users/{MAILBOX}/messages/{inbox_id}/reply", 0) == 0
    state = state_of(outlook_sandbox.app)
    [sent] = state.sent()
    key = outlook_connector.map_record(record)[0].idempotency_key
    assert sent.message["internetMessageId"] == internet_message_id(key, "contoso.example")
    assert sent.conversation_id == inbox_id
    assert sent.message["subject"] != "RE: Quote?"  # PATCHed with the rendered template
    assert sent.message["toRecipients"][0]["emailAddress"]["address"] == "ada@example.com"
    assert with_transcript(record)(sent)
    assert state.drafts == {}


async def test_lost_reply_send_response_is_not_sent_twice(
    outlook_sandbox: SandboxServer, outlook_connector: OutlookConnector
) -> None:
    inbox_id = outlook_sandbox.controls.mutate("receive_message")
    record = reply_record(inbox_id)
    outlook_sandbox.controls.mutate("lose_send_responses", count=1)
    outcome = await deliver(outlook_connector, record)
    assert outcome.attempts == 2  # the 500, then the retry that finds it in Sent Items
    state = state_of(outlook_sandbox.app)
    assert sum(map(with_transcript(record), state.sent())) == 1
    assert state.drafts == {}


async def test_draft_left_by_a_lost_create_reply_is_finished_not_duplicated(
    outlook_sandbox: SandboxServer, outlook_connector: OutlookConnector
) -> None:
    inbox_id = outlook_sandbox.controls.mutate("receive_message")
    record = reply_record(inbox_id)
    outlook_sandbox.controls.mutate("lose_responses", count=1, operation="createReply")
    outcome = await deliver(outlook_connector, record)
    assert outcome.attempts == 2
    state = state_of(outlook_sandbox.app)
    assert (
        outlook_sandbox.controls.counts()[f"/v1.0/users/{MAILBOX}/messages/{inbox_id}/createReply"]
        == 1
    )  # the retry resumed the draft instead of creating another
    [sent] = state.sent()
    assert with_transcript(record)(sent) and sent.conversation_id == inbox_id
    assert len(sent.attachments()) == 1
    assert state.drafts == {}


async def test_replay_after_a_crash_mid_draft_adds_only_missing_attachments(
    outlook_sandbox: SandboxServer, outlook_connector: OutlookConnector
) -> None:
    """A crash after the attachment was added but before send: a fresh connector (new
    ledger, as after a restart) finishes the same draft; the attachment is not doubled."""
    inbox_id = outlook_sandbox.controls.mutate("receive_message")
    record = reply_record(inbox_id)
    operation = outlook_connector.map_record(record)[0]
    message = dict(operation.payload["body"]["message"])
    [attachment] = message.pop("attachments")
    client = outlook_connector.client
    internet_id = internet_message_id(operation.idempotency_key, "contoso.example")
    draft_id = await client.create_reply(inbox_id, {"internetMessageId": internet_id})
    await client.attach(draft_id, attachment)  # ... and then the process died
    restarted = OutlookConnector(outlook_settings(outlook_sandbox.url))
    try:
        outcome = await deliver(restarted, record)
    finally:
        await restarted.aclose()
    assert outcome.attempts == 1
    state = state_of(outlook_sandbox.app)
    [sent] = state.sent()
    assert sent.id == draft_id and len(sent.attachments()) == 1
    assert state.drafts == {}


async def test_reply_with_attachment_above_3_mb_uses_an_upload_session(
    outlook_sandbox: SandboxServer, outlook_connector: OutlookConnector
) -> None:
    inbox_id = outlook_sandbox.controls.mutate("receive_message")
    big = [{"speaker": "CUSTOMER", "text": f"line {i} " + "x" * 200} for i in range(16_000)]
    record = reply_record(inbox_id, transcript=big)
    await deliver(outlook_connector, record)
    counts = outlook_sandbox.controls.counts()
    assert sum(n for path, n in counts.items() if path.startswith("/_upload/")) >= 2
    [sent] = state_of(outlook_sandbox.app).sent()
    [(name, _, data)] = sent.attachments()
    assert name.startswith("transcript-") and len(data) > 3 * 1024 * 1024
    assert sent.conversation_id == inbox_id


@pytest.mark.parametrize("verify", [True, False])
async def test_verify_sent_closes_the_lost_send_mail_response_window(
    outlook_sandbox: SandboxServer, verify: bool
) -> None:
    """Exchange accepted the sendMail but the answer was a 500: with VERIFY_SENT the retry
    finds it in Sent Items by internetMessageId; without, the customer gets two e-mails
    (why the option exists)."""
    connector = OutlookConnector(outlook_settings(outlook_sandbox.url, verify_sent=verify))
    record = follow_up_record()
    outlook_sandbox.controls.mutate("lose_send_responses", count=1)
    try:
        outcome = await deliver(connector, record)
    finally:
        await connector.aclose()
    sent = [m for m in state_of(outlook_sandbox.app).sent() if with_transcript(record)(m)]
    assert len(sent) == (1 if verify else 2)
    assert outlook_sandbox.controls.counts()[SEND_PATH] == (1 if verify else 2)
    sent_items = f"/v1.0/users/{MAILBOX}/mailFolders/sentitems/messages"
    assert outlook_sandbox.controls.counts().get(sent_items, 0) == (2 if verify else 0)
    assert outcome.attempts == 2


async def test_verify_sent_needs_sent_items() -> None:
    with pytest.raises(ValueError, match="SAVE_TO_SENT_ITEMS"):
        outlook_settings("http://graph.invalid", verify_sent=True, save_to_sent_items=False)


async def test_sandbox_answers_graph_errors_on_the_draft_paths(
    outlook_sandbox: SandboxServer, outlook_connector: OutlookConnector
) -> None:
    inbox_id = outlook_sandbox.controls.mutate("receive_message")
    token = (await outlook_connector.client.auth.provider.token()).access_token
    auth = {"Authorization": f"Bearer {token.get_secret_value()}"}
    users = f"/v1.0/users/{MAILBOX}"
    async with httpx.AsyncClient(base_url=outlook_sandbox.url) as http:
        both = await http.post(
            f"{users}/messages/{inbox_id}/createReply",
            json={"comment": "hi", "message": {"body": {"contentType": "Text", "content": "x"}}},
            headers=auth,
        )
        draft = await http.post(
            f"{users}/messages/{inbox_id}/createReply",
            json={"message": {"internetMessageId": "<o'hara@x.example>"}},
            headers=auth,
        )
        draft_id = draft.json()["id"]
        found = await http.get(
            f"{users}/messages?$filter=internetMessageId%20eq%20%27%3Co%27%27hara%40x.example%3E%27"
            "&$select=id,isDraft",
            headers=auth,
        )
        bad_filter = await http.get(f"{users}/messages?$filter=subject eq 'x'", headers=auth)
        small_session = await http.post(
            f"{users}/messages/{draft_id}/attachments/createUploadSession",
            json={"AttachmentItem": {"attachmentType": "file", "name": "a.txt", "size": 10}},
            headers=auth,
        )
        no_auth = await http.get(f"{users}/mailFolders/sentitems/messages")
        missing = await http.post(f"{users}/messages/AAMkNope/createReply", json={}, headers=auth)
        sent = await http.post(f"{users}/messages/{draft_id}/send", headers=auth)
        late_patch = await http.patch(
            f"{users}/messages/{draft_id}",
            json={"internetMessageId": "<other@x.example>"},
            headers=auth,
        )
        outlook_sandbox.controls.throttle_next(1, retry_after=3, path=f"{users}/messages")
        throttled = await http.get(f"{users}/messages", headers=auth)
    assert both.status_code == 400 and both.json()["error"]["code"] == "ErrorInvalidArgument"
    assert draft.status_code == 201 and draft.json()["isDraft"] is True
    assert draft.json()["subject"].startswith("RE: ")
    assert found.json()["value"] == [{"id": draft_id, "isDraft": True}]
    assert bad_filter.status_code == 400
    assert small_session.json()["error"]["code"] == (
        "ErrorAttachmentSizeShouldNotBeLessThanMinimumSize"
    )
    assert no_auth.status_code == 401
    assert no_auth.json()["error"]["code"] == "InvalidAuthenticationToken"
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "ErrorItemNotFound"
    assert sent.status_code == 202
    assert late_patch.status_code == 400
    assert late_patch.json()["error"]["code"] == "ErrorInvalidPropertyUpdateSentMessage"
    assert throttled.status_code == 429 and throttled.headers["Retry-After"] == "3"
    assert throttled.json()["error"]["code"] == "TooManyRequests"
