"""The Slack connector against the sandbox: Slack's error shapes and their classes, spec
validation of what we send, threads, and per-channel pacing."""

from __future__ import annotations

import httpx
import pytest
from pydantic import SecretStr

from connectors.base.connector import Operation
from connectors.base.errors import AuthError, DataError, PermanentError, ThrottledError
from connectors.slack.client import SlackClient
from connectors.slack.config import SlackSettings
from connectors.slack.sandbox import workspace_of
from connectors.slack.sandbox_spec import SlackSpec
from connectors.slack.sink import SlackConnector
from tests.integration.slack.conftest import (
    TOKEN,
    enriched_event,
    record_of,
    slack_settings,
)

pytestmark = pytest.mark.integration

SPEC = SlackSpec()
DEFAULT_PACE = SlackSettings.model_fields["channel_rate_per_s"].default


def test_the_spec_file_is_there():
    assert SPEC.enabled, "../shared/specs/slack/slack_web_openapi_v2.json is missing"


async def test_what_we_send_and_what_the_sandbox_answers_match_the_spec(
    slack_sandbox_server, slack_connector
):
    record = record_of(enriched_event())
    [operation] = slack_connector.map_record(record)
    body = {"channel": "#support", **operation.payload["parent"]}
    assert SPEC.request_errors("chat.postMessage", "POST", body) == []
    raw = httpx.post(
        f"{slack_sandbox_server.url}/api/chat.postMessage",
        json=body,
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    answer = raw.json()
    assert answer["ok"] is True and answer["channel"] == "C0SUPPORT01"
    assert SPEC.response_errors("chat.postMessage", "POST", answer) == []
    refused = httpx.post(
        f"{slack_sandbox_server.url}/api/chat.postMessage",
        json={"channel": "#nope", "text": "x"},
        headers={"Authorization": f"Bearer {TOKEN}"},
    ).json()
    assert refused == {"ok": False, "error": "channel_not_found"}
    assert SPEC.response_errors("chat.postMessage", "POST", refused) == []


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"channel": "#support", "text": "x", "metadata": {"a": 1}}, "invalid_arg_name"),
        ({"channel": "#support", "text": 5}, "invalid_form_data"),
        ({"channel": "#support"}, "no_text"),
        ({"channel": "#support", "blocks": [{"type": "nope"}]}, "invalid_blocks"),
        ({"channel": "#support", "text": "x" * 40_001}, "msg_too_long"),
        ({"text": "x"}, "channel_not_found"),
    ],
)
def test_sandbox_validates_requests(slack_sandbox_server, body, code):
    answer = httpx.post(
        f"{slack_sandbox_server.url}/api/chat.postMessage",
        json=body,
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    assert answer.status_code == 200
    assert answer.json() == {"ok": False, "error": code}
    assert workspace_of(slack_sandbox_server.app).messages() == []


async def test_bad_token_is_an_auth_error_without_leaking_it(slack_sandbox_server):
    client = SlackClient(f"{slack_sandbox_server.url}/api", SecretStr("xoxb-wrong"))
    try:
        with pytest.raises(AuthError) as caught:
            await client.post_message({"channel": "#support", "text": "hi"})
    finally:
        await client.aclose()
    assert caught.value.vendor_code == "invalid_auth"
    assert "xoxb-wrong" not in str(caught.value)
    missing = httpx.post(
        f"{slack_sandbox_server.url}/api/chat.postMessage", json={"channel": "#support"}
    )
    assert missing.json() == {"ok": False, "error": "not_authed"}


@pytest.mark.parametrize(
    ("channel", "code"),
    [
        ("#nowhere", "channel_not_found"),
        ("#private-nobot", "not_in_channel"),
        ("#old", "is_archived"),
    ],
)
async def test_channel_problems_are_permanent(slack_connector, channel, code):
    [operation] = slack_connector.map_record(record_of(enriched_event(), channel=channel))
    with pytest.raises(PermanentError) as caught:
        await slack_connector.deliver(operation)
    assert caught.value.vendor_code == code
    assert not isinstance(caught.value, DataError)


async def test_unknown_parameter_is_a_data_error(slack_connector):
    [operation] = slack_connector.map_record(record_of(enriched_event()))
    payload = dict(operation.payload)
    payload["parent"] = {**payload["parent"], "metadata": {"event_type": "x"}}
    with pytest.raises(DataError, match="invalid_arg_name"):
        await slack_connector.deliver(Operation(operation.kind, operation.idempotency_key, payload))


async def test_revoked_token_and_rate_limit(slack_sandbox_server, slack_connector):
    workspace = workspace_of(slack_sandbox_server.app)
    workspace.channel_rate_per_s = 1
    first, second = (slack_connector.map_record(record_of(enriched_event()))[0] for _ in range(2))
    await slack_connector.deliver(first)
    with pytest.raises(ThrottledError) as caught:
        await slack_connector.deliver(second)
    assert caught.value.retry_after == 1 and caught.value.vendor_code == "ratelimited"
    slack_sandbox_server.controls.mutate("revoke_token", token=TOKEN)
    with pytest.raises(AuthError, match="token_revoked"):
        await slack_connector.deliver(second)


async def test_per_channel_pacing_avoids_429s(slack_sandbox_server):
    """The sandbox allows 1 post/s per channel; with the connector's default per-channel
    pacing, three posts to one channel and one to another are never throttled."""
    workspace = workspace_of(slack_sandbox_server.app)
    workspace.channel_rate_per_s = 1
    connector = SlackConnector(
        slack_settings(slack_sandbox_server.url, channel_rate_per_s=DEFAULT_PACE)
    )
    try:
        for channel in ("#support", "#support", "#alerts", "#support"):
            [operation] = connector.map_record(record_of(enriched_event(), channel=channel))
            await connector.deliver(operation)
    finally:
        await connector.aclose()
    assert workspace.rate_limited == 0
    assert len(workspace.messages("#support")) == 3 and len(workspace.messages("#alerts")) == 1


async def test_insight_before_summary_gets_a_header_parent_then_replies(
    slack_connector, slack_sandbox_server
):
    workspace = workspace_of(slack_sandbox_server.app)
    call_id = "call-threaded-1"
    insight = enriched_event("transcript_segment", call_id=call_id)
    summary = enriched_event("call_summary", call_id=call_id)
    for event, op in ((insight, "post_insight"), (summary, "post_summary")):
        [operation] = slack_connector.map_record(record_of(event, operation=op))
        await slack_connector.deliver(operation)
    [parent] = workspace.parents()
    assert parent.text.startswith("Call in progress")
    replies = workspace.replies(parent.ts)
    assert [r.contains(insight["event_id"]) for r in replies] == [True, False]
    assert replies[1].contains(summary["event_id"])
    # the text is escaped: no mention/link injection from transcripts or summaries
    assert "&lt;refund&gt;" in str(replies[1].blocks)
