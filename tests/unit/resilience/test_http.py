from __future__ import annotations

import email.utils

import httpx

from pipeline.resilience.http import HttpClientSettings, make_http_client, parse_retry_after


def test_delta_seconds():
    assert parse_retry_after("120") == 120
    assert parse_retry_after(" 1.5 ") == 1.5
    assert parse_retry_after("-3") == 0


def test_http_date_relative_to_now():
    now = 1_700_000_000.0
    value = email.utils.formatdate(now + 30, usegmt=True)
    assert parse_retry_after(value, now=lambda: now) == 30


def test_http_date_in_the_past_is_zero():
    value = email.utils.formatdate(1_000_000_000, usegmt=True)
    assert parse_retry_after(value, now=lambda: 1_700_000_000.0) == 0


def test_absent_or_garbage_is_none():
    assert parse_retry_after(None) is None
    assert parse_retry_after("") is None
    assert parse_retry_after("soon") is None
    assert parse_retry_after("nan") is None


async def test_client_has_explicit_timeouts_and_limits():
    settings = HttpClientSettings(
        connect_timeout_s=1, read_timeout_s=2, write_timeout_s=3, pool_timeout_s=4
    )
    seen = {}

    def handler(request: httpx.Request) -> httpx.Response:
        seen.update(request.extensions["timeout"])
        seen["ua"] = request.headers["user-agent"]
        return httpx.Response(204)

    async with make_http_client(
        settings, transport=httpx.MockTransport(handler), user_agent="vb-test"
    ) as client:
        assert client.follow_redirects is False
        await client.get("http://example.test/x")
    assert seen == {"connect": 1, "read": 2, "write": 3, "pool": 4, "ua": "vb-test"}
