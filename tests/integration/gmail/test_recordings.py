"""Recordings: attached when reachable and under the size limit, otherwise only linked in the
body (an optional attachment never blocks the follow-up); for both mail targets."""

from __future__ import annotations

import email
import email.policy
from collections.abc import Iterator
from email.message import EmailMessage

import pytest
from aiohttp import web

from connectors.base.connector import Connector, SyncRecord
from connectors.base.sandbox import SandboxServer
from connectors.gmail.sandbox import make_app as make_gmail_app
from connectors.gmail.sandbox import state_of as gmail_state
from connectors.gmail.sink import GmailConnector
from connectors.outlook.sandbox import make_app as make_graph_app
from connectors.outlook.sandbox import state_of as graph_state
from connectors.outlook.sink import OutlookConnector
from pipeline.resilience.target import ResilienceSettings, TargetResilience
from pipeline.sinks.delivery import Deliverer, OutcomeKind
from pipeline.sinks.ledger import InMemoryLedger
from tests.integration.gmail.conftest import (
    CLIENT_SECRET,
    REFRESH_TOKEN,
    follow_up_record,
    gmail_settings,
)
from tests.integration.outlook.conftest import CLIENT_SECRET as GRAPH_SECRET
from tests.integration.outlook.conftest import TENANT, outlook_settings

SMALL = b"ID3" + bytes(range(256)) * 40  # ~10 kB "mp3"
LARGE = b"\x00" * 200_000
LIMIT = 100_000
FAST = ResilienceSettings(rate_per_s=0, max_attempts=2, initial_backoff_s=0.01, jitter_s=0)


@pytest.fixture
def media() -> Iterator[SandboxServer]:
    app = web.Application()

    async def serve(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        data = {"small.mp3": SMALL, "large.mp3": LARGE}.get(name)
        if data is None:
            raise web.HTTPNotFound()
        return web.Response(body=data, content_type="audio/mpeg")

    app.router.add_get("/rec/{name}", serve)
    with SandboxServer(app) as srv:
        yield srv


def with_recording(url: str) -> SyncRecord:
    base = follow_up_record()
    return SyncRecord(
        key=base.key,
        event=base.event,
        operation="send_follow_up",
        hints={**base.hints, "recording_url": url, "recording_format": "mp3"},
    )


async def deliver(connector: Connector, record: SyncRecord) -> None:
    deliverer = Deliverer(connector, InMemoryLedger(), TargetResilience.from_settings("t", FAST))
    try:
        outcome = await deliverer.deliver_record(record)
    finally:
        await connector.aclose()
    assert outcome.kind is OutcomeKind.DELIVERED, outcome.message


def sent_mail(target: str, sandbox: SandboxServer) -> EmailMessage:
    if target == "gmail":
        [sent] = gmail_state(sandbox.app).sent()
        parsed = email.message_from_bytes(sent.raw, policy=email.policy.default)
    else:
        [graph] = graph_state(sandbox.app).sent()
        parsed = email.message_from_string(graph.as_json()["mime"], policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


@pytest.mark.parametrize("target", ["gmail", "outlook"])
@pytest.mark.parametrize(
    ("name", "attached"), [("small.mp3", True), ("large.mp3", False), ("missing.mp3", False)]
)
async def test_recording_attached_only_when_small_and_available(
    target: str, name: str, attached: bool, media: SandboxServer
) -> None:
    url = f"{media.url}/rec/{name}"
    record = with_recording(url)
    if target == "gmail":
        app = make_gmail_app(client_secret=CLIENT_SECRET, refresh_token=REFRESH_TOKEN)
    else:
        app = make_graph_app(tenant=TENANT, client_secret=GRAPH_SECRET)
    with SandboxServer(app) as sandbox:
        connector: Connector
        if target == "gmail":
            connector = GmailConnector(
                gmail_settings(sandbox.url, max_recording_attachment_bytes=LIMIT)
            )
        else:
            connector = OutlookConnector(
                outlook_settings(sandbox.url, max_recording_attachment_bytes=LIMIT)
            )
        await deliver(connector, record)
        mail = sent_mail(target, sandbox)
    files = {part.get_filename(): part for part in mail.iter_attachments()}
    recording_name = f"recording-{record.event['call_id']}.mp3"
    assert f"transcript-{record.event['call_id']}.txt" in files
    body = mail.get_body(preferencelist=("plain", "html"))
    assert body is not None and url in body.get_content()  # the link is always there
    if attached:
        assert files[recording_name].get_content() == SMALL
        assert files[recording_name].get_content_type() == "audio/mpeg"
    else:
        assert recording_name not in files
