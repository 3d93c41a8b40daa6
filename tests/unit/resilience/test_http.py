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


async def test_direct_sender_sends_with_timeouts_default_headers_and_reads_the_body():
    from pipeline.resilience.direct_http import DirectHttpSender

    settings = HttpClientSettings(
        connect_timeout_s=1, read_timeout_s=2, write_timeout_s=3, pool_timeout_s=4
    )
    seen = {}

    def handler(request: httpx.Request) -> httpx.Response:
        seen["timeout"] = request.extensions["timeout"]
        seen["headers"] = dict(request.headers)
        seen["body"] = request.content
        return httpx.Response(302, headers={"location": "http://elsewhere.test/"}, content=b"moved")

    sender = DirectHttpSender(
        settings,
        transport=httpx.MockTransport(handler),
        headers={"content-type": "application/json"},
        user_agent="vb-test",
    )
    response = await sender.request(
        "POST", "http://example.test/x", content=b"{}", headers={"x-sig": "s"}
    )
    await sender.aclose()
    assert seen["timeout"] == {"connect": 1, "read": 2, "write": 3, "pool": 4}
    assert seen["headers"]["user-agent"] == "vb-test"
    assert seen["headers"]["content-type"] == "application/json"
    assert seen["headers"]["x-sig"] == "s" and seen["body"] == b"{}"
    # redirects are returned, never followed; the body is read and the stream closed
    assert response.status_code == 302 and response.content == b"moved" and response.is_closed


async def test_direct_sender_raises_transport_errors():
    from pipeline.resilience.direct_http import DirectHttpSender

    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    sender = DirectHttpSender(transport=httpx.MockTransport(handler))
    try:
        await sender.request("POST", "http://example.test/x", content=b"")
    except httpx.ConnectError as exc:
        assert "refused" in str(exc)
    else:
        raise AssertionError("no error raised")
