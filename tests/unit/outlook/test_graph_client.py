"""The Graph requests of the Outlook client and draft flow (httpx.MockTransport): the
internetMessageId lookup's OData filter and quoting, the createReply -> PATCH -> attachments
-> send order, resuming a draft, stopping at a sent copy, VERIFY_SENT before sendMail, and
inline attachments vs upload sessions by Graph's 3 MB rule."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

import httpx
import pytest

from connectors.base.connector import SyncRecord
from connectors.base.errors import PermanentError
from connectors.gmail.mapping import message_id as gmail_message_id
from connectors.outlook.client import GraphClient, odata_string
from connectors.outlook.drafts import internet_message_id, send_via_draft
from connectors.outlook.mapping import file_attachment
from connectors.outlook.sink import OutlookConnector
from tests.integration.gmail.conftest import follow_up_record
from tests.integration.outlook.conftest import outlook_settings

BASE = "https://graph.test"
USER = "/v1.0/users/care%40contoso.example"
MID = "<abc@contoso.example>"
Handler = Callable[[httpx.Request], httpx.Response]


class FakeGraph:
    """Records every request; answers with ``routes[(method, path suffix)]``."""

    def __init__(self, routes: dict[tuple[str, str], Any]) -> None:
        self.routes = routes
        self.calls: list[tuple[str, str, Any]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/oauth2/v2.0/token"):
            return httpx.Response(200, json={"access_token": "t", "expires_in": 3600})
        path = request.url.raw_path.decode()
        is_json = request.headers.get("content-type") == "application/json"
        body = json.loads(request.content) if is_json else None
        self.calls.append((request.method, path, body))
        for (method, suffix), answer in self.routes.items():
            if method == request.method and path.split("?")[0].endswith(suffix):
                status, *body = answer
                return httpx.Response(status, json=body[0]) if body else httpx.Response(status)
        return httpx.Response(404, json={"error": {"code": "ErrorItemNotFound"}})

    def steps(self) -> list[str]:
        return [f"{m} {p.split('?')[0].removeprefix(USER)}" for m, p, _ in self.calls]


def client_for(fake: FakeGraph, **overrides: Any) -> GraphClient:
    settings = outlook_settings(BASE, **overrides)
    return GraphClient(settings, transport=httpx.MockTransport(fake))


def attachment(size: int, name: str = "a.txt") -> dict[str, Any]:
    return file_attachment(name, "text/plain", b"x" * size)


def test_odata_string_doubles_quotes() -> None:
    assert odata_string("<o'hara@x>") == "'<o''hara@x>'"


def test_internet_message_id_is_stable_and_not_gmails() -> None:
    first = internet_message_id("ev-1:follow_up", "contoso.example")
    assert first == internet_message_id("ev-1:follow_up", "contoso.example")
    assert first != internet_message_id("ev-2:follow_up", "contoso.example")
    assert first.startswith("<") and first.endswith("@contoso.example>")
    assert first != gmail_message_id("ev-1:follow_up", "contoso.example")


async def test_find_messages_filters_by_internet_message_id_with_percent_encoding() -> None:
    fake = FakeGraph({("GET", "/mailFolders/sentitems/messages"): (200, {"value": []})})
    client = client_for(fake)
    try:
        assert await client.find_messages("<o'hara@x.example>", "sentitems") == []
    finally:
        await client.aclose()
    [(_, path, _)] = fake.calls
    assert "+" not in path and " " not in path
    query = dict(part.split("=", 1) for part in path.split("?", 1)[1].split("&"))
    assert unquote(query["$filter"]) == "internetMessageId eq '<o''hara@x.example>'"
    assert query["$select"] == "id,isDraft,internetMessageId"


async def test_new_reply_is_create_reply_patch_attach_send() -> None:
    fake = FakeGraph(
        {
            ("GET", "/messages"): (200, {"value": []}),
            ("POST", "/messages/AAMkIn/createReply"): (201, {"id": "D1", "isDraft": True}),
            ("PATCH", "/messages/D1"): (200, {"id": "D1"}),
            ("POST", "/messages/D1/attachments"): (201, {}),
            ("POST", "/messages/D1/send"): (202,),
        }
    )
    client = client_for(fake)
    message = {
        "subject": "Your call",
        "body": {"contentType": "Text", "content": "hi"},
        "toRecipients": [{"emailAddress": {"address": "ada@example.com"}}],
    }
    try:
        done = await send_via_draft(
            client,
            internet_id=MID,
            message=message,
            attachments=[attachment(10)],
            reply_to="AAMkIn",
        )
    finally:
        await client.aclose()
    assert fake.steps() == [
        "GET /messages",
        "POST /messages/AAMkIn/createReply",
        "PATCH /messages/D1",
        "POST /messages/D1/attachments",
        "POST /messages/D1/send",
    ]
    bodies = [body for _, _, body in fake.calls]
    assert bodies[1] == {"message": {"internetMessageId": MID}}  # tagged from the start
    assert bodies[2] == message
    assert bodies[3]["name"] == "a.txt" and bodies[4] is None
    assert done.message_id == "D1" and not done.already_sent and not done.resumed_draft


async def test_existing_draft_is_resumed_without_a_second_draft_or_attachment() -> None:
    fake = FakeGraph(
        {
            ("GET", "/messages"): (200, {"value": [{"id": "D9", "isDraft": True}]}),
            ("PATCH", "/messages/D9"): (200, {"id": "D9"}),
            ("GET", "/messages/D9/attachments"): (200, {"value": [{"name": "a.txt"}]}),
            ("POST", "/messages/D9/attachments"): (201, {}),
            ("POST", "/messages/D9/send"): (202,),
        }
    )
    client = client_for(fake)
    try:
        done = await send_via_draft(
            client,
            internet_id=MID,
            message={"subject": "s"},
            attachments=[attachment(10, "a.txt"), attachment(10, "b.txt")],
            reply_to="AAMkIn",
        )
    finally:
        await client.aclose()
    assert fake.steps() == [
        "GET /messages",
        "PATCH /messages/D9",
        "GET /messages/D9/attachments",
        "POST /messages/D9/attachments",
        "POST /messages/D9/send",
    ]
    assert fake.calls[3][2]["name"] == "b.txt"
    assert done.resumed_draft and done.message_id == "D9"


async def test_a_sent_copy_stops_everything() -> None:
    found = {"value": [{"id": "D9", "isDraft": True}, {"id": "S1", "isDraft": False}]}
    fake = FakeGraph({("GET", "/messages"): (200, found)})
    client = client_for(fake)
    try:
        done = await send_via_draft(
            client, internet_id=MID, message={}, attachments=[], reply_to="AAMkIn"
        )
    finally:
        await client.aclose()
    assert fake.steps() == ["GET /messages"]
    assert done.already_sent and done.message_id == "S1"


async def test_attachments_from_3_mb_go_through_an_upload_session() -> None:
    fake = FakeGraph(
        {
            ("POST", "/attachments/createUploadSession"): (
                201,
                {"uploadUrl": f"{BASE}/upload/1", "nextExpectedRanges": ["0-"]},
            ),
            ("PUT", "/upload/1"): (200, {"nextExpectedRanges": []}),
        }
    )
    client = client_for(fake, upload_chunk_bytes=10 * 320 * 1024)
    size = 3 * 1024 * 1024
    try:
        await client.attach("D1", attachment(size))
    finally:
        await client.aclose()
    steps = fake.steps()
    assert steps[0] == "POST /messages/D1/attachments/createUploadSession"
    assert fake.calls[0][2]["AttachmentItem"]["size"] == size
    assert steps[1:] == ["PUT /upload/1"] * -(-size // (10 * 320 * 1024))


@pytest.mark.parametrize("verify", [True, False])
async def test_verify_sent_looks_in_sent_items_before_send_mail(verify: bool) -> None:
    record = follow_up_record()
    fake = FakeGraph(
        {
            ("GET", "/mailFolders/sentitems/messages"): (200, {"value": []}),
            ("POST", "/sendMail"): (202,),
        }
    )
    connector = OutlookConnector(
        outlook_settings(BASE, verify_sent=verify), transport=httpx.MockTransport(fake)
    )
    try:
        [operation, *_] = connector.map_record(record)
        await connector.deliver(operation)
    finally:
        await connector.aclose()
    expected = internet_message_id(operation.idempotency_key, "contoso.example")
    steps = fake.steps()
    assert steps == (["GET /mailFolders/sentitems/messages"] if verify else []) + ["POST /sendMail"]
    message = fake.calls[-1][2]["message"]
    assert message["internetMessageId"] == expected
    assert base64.b64decode(message["attachments"][0]["contentBytes"])


async def test_verify_sent_skips_send_mail_when_the_copy_is_there() -> None:
    fake = FakeGraph(
        {
            ("GET", "/mailFolders/sentitems/messages"): (
                200,
                {"value": [{"id": "S1", "isDraft": False}]},
            )
        }
    )
    connector = OutlookConnector(
        outlook_settings(BASE, verify_sent=True), transport=httpx.MockTransport(fake)
    )
    try:
        [operation, *_] = connector.map_record(follow_up_record())
        result = await connector.deliver(operation)
    finally:
        await connector.aclose()
    assert result.external_id == "S1" and result.detail["already_sent"] is True
    assert fake.steps() == ["GET /mailFolders/sentitems/messages"]


async def test_create_reply_on_a_missing_message_is_permanent_without_the_body() -> None:
    fake = FakeGraph({("GET", "/messages"): (200, {"value": []})})
    client = client_for(fake)
    try:
        with pytest.raises(PermanentError, match="createReply: HTTP 404 ErrorItemNotFound") as err:
            await send_via_draft(
                client,
                internet_id=MID,
                message={"subject": "ada@example.com"},
                attachments=[],
                reply_to="AAMkGone",
            )
    finally:
        await client.aclose()
    assert "ada@example.com" not in str(err.value)


def test_reply_hint_keeps_big_attachments_for_the_upload_session() -> None:
    """No DataError any more for replies above 3 MB: createReply drafts take upload sessions."""
    connector = OutlookConnector(
        outlook_settings("http://graph.invalid", upload_session_threshold_bytes=50)
    )
    base = follow_up_record()
    record = SyncRecord(
        key=base.key, event=base.event, hints={**base.hints, "reply_to_message_id": "AAMkIn"}
    )
    [operation] = connector.map_record(record)
    assert operation.payload["message_id"] == "AAMkIn"
    assert operation.payload["body"]["message"]["attachments"]
