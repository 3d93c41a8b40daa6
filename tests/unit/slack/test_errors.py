"""Slack answers -> error classes (httpx.MockTransport: unit test of the HTTP client)."""

from __future__ import annotations

import httpx
import pytest
from pydantic import SecretStr

from connectors.base.errors import (
    AuthError,
    DataError,
    PermanentError,
    RetryableError,
    ThrottledError,
)
from connectors.slack.client import SlackClient

TOKEN = "xoxb-unit-secret"


def client_answering(status: int, body: object, headers: dict[str, str] | None = None):
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if isinstance(body, str):
            return httpx.Response(status, text=body, headers=headers)
        return httpx.Response(status, json=body, headers=headers)

    client = SlackClient(
        "https://slack.test/api", SecretStr(TOKEN), transport=httpx.MockTransport(handler)
    )
    return client, seen


@pytest.mark.parametrize(
    ("code", "cls"),
    [
        ("channel_not_found", PermanentError),
        ("not_in_channel", PermanentError),
        ("is_archived", PermanentError),
        ("invalid_blocks", DataError),
        ("msg_too_long", DataError),
        ("invalid_auth", AuthError),
        ("not_authed", AuthError),
        ("token_revoked", AuthError),
        ("account_inactive", AuthError),
        ("ratelimited", ThrottledError),
        ("internal_error", RetryableError),
        ("fatal_error", RetryableError),
        ("service_unavailable", RetryableError),
        ("request_timeout", RetryableError),
        ("something_new", PermanentError),
    ],
)
async def test_ok_false_codes(code, cls):
    client, seen = client_answering(200, {"ok": False, "error": code})
    with pytest.raises(cls) as caught:
        await client.post_message({"channel": "#c", "text": "secret text"})
    await client.aclose()
    assert type(caught.value) is cls
    assert caught.value.vendor_code == code
    assert TOKEN not in str(caught.value) and "secret text" not in str(caught.value)
    assert seen[0].headers["authorization"] == f"Bearer {TOKEN}"
    assert TOKEN not in str(seen[0].url)


@pytest.mark.parametrize(
    ("status", "body", "headers", "cls", "retry_after"),
    [
        (429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "7"}, ThrottledError, 7.0),
        (429, "Too Many Requests", None, ThrottledError, 1.0),
        (503, "<html>down</html>", None, RetryableError, None),
        (200, "<html>proxy</html>", None, RetryableError, None),
        (404, {"ok": False, "error": "unknown_method"}, None, PermanentError, None),
    ],
)
async def test_http_level_answers(status, body, headers, cls, retry_after):
    client, _ = client_answering(status, body, headers)
    with pytest.raises(cls) as caught:
        await client.post_message({"channel": "#c", "text": "x"})
    await client.aclose()
    if retry_after is not None:
        assert caught.value.retry_after == retry_after


async def test_ok_true_gives_channel_and_ts():
    client, seen = client_answering(
        200, {"ok": True, "channel": "C0123456789", "ts": "1700000000.000100", "message": {}}
    )
    posted = await client.post_message({"channel": "#c", "text": "x"})
    await client.aclose()
    assert (posted.channel, posted.ts) == ("C0123456789", "1700000000.000100")
    assert seen[0].url.path == "/api/chat.postMessage"
    assert seen[0].headers["content-type"].startswith("application/json")
