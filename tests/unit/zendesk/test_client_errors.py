"""Zendesk answers -> error classes, through the real client on ``httpx.MockTransport``."""

from __future__ import annotations

import base64
import functools
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from connectors.base.errors import (
    AuthError,
    ConnectorError,
    DataError,
    PermanentError,
    RetryableError,
    ThrottledError,
)
from connectors.zendesk.auth import basic_token_header
from connectors.zendesk.client import UpdateConflict, ZendeskClient
from connectors.zendesk.config import ZendeskSettings
from connectors.zendesk.sink import ZendeskConnector

TOKEN = "tok-secret-123"  # noqa: S105


def _same(settings: ZendeskSettings) -> ZendeskSettings:
    return settings


def client_for(handler: Callable[[httpx.Request], httpx.Response], **kwargs: Any) -> ZendeskClient:
    auth = httpx.BasicAuth("a@b.co/token", TOKEN)
    return ZendeskClient(
        "https://acme.zendesk.com", auth, transport=httpx.MockTransport(handler), **kwargs
    )


def answer(status: int, body: Any = None, headers: dict[str, str] | None = None) -> Callable:
    def handler(_request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, json=body, headers=headers)

    return handler


@pytest.mark.parametrize(
    ("status", "body", "headers", "cls"),
    [
        (
            422,
            {
                "error": "RecordInvalid",
                "description": "Record validation errors",
                "details": {"requester": [{"description": "Requester: x@y is invalid"}]},
            },
            None,
            DataError,
        ),
        (400, {"error": "RecordInvalid", "details": {"priority": []}}, None, DataError),
        (400, {"error": "IdempotentRequestError", "description": "mismatch"}, None, PermanentError),
        (401, {"error": "Couldn't authenticate you"}, None, AuthError),
        (403, {"error": "Forbidden"}, None, PermanentError),
        (404, {"error": "RecordNotFound", "description": "Not found"}, None, PermanentError),
        (429, {"error": "APIRateLimitExceeded"}, {"Retry-After": "7"}, ThrottledError),
        (500, {"error": "InternalError"}, None, RetryableError),
        (503, None, None, RetryableError),
    ],
)
async def test_status_classification(
    status: int, body: Any, headers: dict[str, str] | None, cls: type[ConnectorError]
) -> None:
    client = client_for(answer(status, body, headers))
    with pytest.raises(cls) as caught:
        await client.get_ticket(1)
    message = caught.value.message
    assert "x@y" not in message and TOKEN not in message and "Record validation" not in message
    if cls is ThrottledError:
        assert caught.value.retry_after == 7.0  # type: ignore[attr-defined]
    if cls is DataError:
        assert "requester" in message or "priority" in message
    await client.aclose()


async def test_safe_update_conflict_is_recognised_only_on_safe_updates() -> None:
    body = {"error": "UpdateConflict", "description": "Safe Update prevented the update"}
    client = client_for(answer(409, body))
    with pytest.raises(UpdateConflict) as caught:
        await client.update_ticket(
            5, {"status": "solved", "safe_update": True, "updated_stamp": "2024-01-01T00:00:00Z"}
        )
    assert caught.value.ticket_id == 5
    with pytest.raises(RetryableError):
        await client.update_ticket(5, {"comment": {"body": "x", "public": False}})
    await client.aclose()


async def test_transport_errors_are_retryable() -> None:
    def boom(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    client = client_for(boom)
    with pytest.raises(RetryableError) as caught:
        await client.find_tickets("c-1", use_search=True)
    assert "unreachable" in caught.value.message
    await client.aclose()


async def test_rate_limit_headers_reach_the_observer_under_the_bucket_names() -> None:
    seen: list[dict[str, str]] = []
    client = client_for(
        answer(200, {"tickets": []}, {"X-Rate-Limit": "700", "X-Rate-Limit-Remaining": "0"}),
        observe_headers=seen.append,
    )
    await client.find_tickets("c-1", use_search=False)
    assert seen[0]["x-ratelimit-remaining"] == "0"
    await client.aclose()


async def test_search_query_escapes_the_external_id() -> None:
    queries: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        queries.append(request.url.params["query"])
        return httpx.Response(
            200, json={"results": [{"id": 1, "external_id": 'a"b', "result_type": "ticket"}]}
        )

    client = client_for(handler)
    found = await client.find_tickets('a"b', use_search=True)
    assert queries == ['type:ticket external_id:"a\\"b"']
    assert [t["id"] for t in found] == [1]
    await client.aclose()


async def test_job_polling_backs_off_until_completed() -> None:
    sleeps: list[float] = []
    polls = iter(["working", "working", "completed"])

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/create_many"):
            return httpx.Response(200, json={"job_status": {"id": "j1", "status": "queued"}})
        status = next(polls)
        results = [{"index": 0, "id": 9, "success": True}] if status == "completed" else None
        return httpx.Response(
            200, json={"job_status": {"id": "j1", "status": status, "results": results}}
        )

    client = client_for(handler, sleep=sleep)
    job = await client.create_many([{"subject": "s", "comment": {"body": "b"}}])
    assert job["results"] == [{"index": 0, "id": 9, "success": True}]
    assert sleeps == [0.05, 0.1, 0.2]
    await client.aclose()


async def test_job_that_never_finishes_is_retryable() -> None:
    async def sleep(_seconds: float) -> None:
        return None

    client = client_for(answer(200, {"job_status": {"id": "j1", "status": "working"}}), sleep=sleep)
    with pytest.raises(RetryableError) as caught:
        await client.wait_job({"id": "j1", "status": "queued"}, "create many", timeout_s=0.0)
    assert "j1" in caught.value.message
    await client.aclose()


async def test_api_token_and_oauth_headers() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["authorization"])
        return httpx.Response(200, json={"ticket": {"id": 1}})

    extras: list[dict[str, Any]] = [
        {"email": "a@b.co", "api_token": TOKEN},
        {"oauth_token": "oa-1"},
    ]
    for extra in extras:
        settings = ZendeskSettings(base_url="https://acme.zendesk.com", **extra)
        connector = ZendeskConnector(
            settings,
            transport=httpx.MockTransport(handler),
            reload_settings=functools.partial(_same, settings),
        )
        await connector.client.get_ticket(1)
        await connector.aclose()
    assert seen == [basic_token_header("a@b.co", SecretStr(TOKEN)), "Bearer oa-1"]
    assert seen[0] == "Basic " + base64.b64encode(f"a@b.co/token:{TOKEN}".encode()).decode()
