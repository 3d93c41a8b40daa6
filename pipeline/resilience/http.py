"""The one way voicebus builds an HTTP client for a target, and reads Retry-After.

Every client gets explicit connect/read/write/pool timeouts and connection limits: httpx's
defaults (5 s everything, unbounded waits for a pool slot under load) are not what a sink
that must classify "the target is slow" as retryable wants.
"""

from __future__ import annotations

import asyncio
import email.utils
import time
from collections.abc import Callable, Mapping
from typing import Any

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport
from pydantic import BaseModel, Field


class HttpClientSettings(BaseModel):
    """Timeouts (seconds) and pool limits of one target's HTTP client."""

    connect_timeout_s: float = Field(default=5.0, gt=0)
    read_timeout_s: float = Field(default=15.0, gt=0)
    write_timeout_s: float = Field(default=15.0, gt=0)
    pool_timeout_s: float = Field(default=5.0, gt=0)
    max_connections: int = Field(default=20, ge=1)
    max_keepalive_connections: int = Field(default=10, ge=0)
    keepalive_expiry_s: float = Field(default=30.0, ge=0)


def make_http_client(
    settings: HttpClientSettings | None = None,
    *,
    base_url: str | None = None,
    auth: httpx.Auth | None = None,
    headers: Mapping[str, str] | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    user_agent: str = "voicebus",
) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` with explicit timeouts and limits.  ``transport`` is for unit
    tests (``httpx.MockTransport``); integration tests use the sandbox servers."""
    s = settings or HttpClientSettings()
    kwargs: dict[str, Any] = {
        "timeout": http_timeout(s),
        "limits": http_limits(s),
        "headers": {"user-agent": user_agent, **dict(headers or {})},
        "follow_redirects": False,  # a redirect could carry signed requests elsewhere
    }
    if base_url is not None:
        kwargs["base_url"] = base_url
    if auth is not None:
        kwargs["auth"] = auth
    # httpx's own connection pool degrades sharply past ~30 concurrent requests
    # (encode/httpx#3215: 9% of the ceiling at 64 in flight here); the aiohttp-backed
    # transport keeps httpx's API, maps aiohttp errors to httpx exceptions and scales.
    kwargs["transport"] = transport or make_http_transport(s)
    return httpx.AsyncClient(**kwargs)


def make_http_transport(settings: HttpClientSettings | None = None) -> httpx.AsyncBaseTransport:
    """The transport behind ``make_http_client``: aiohttp-backed, with the connection
    limits of ``settings`` (timeouts travel with each request)."""
    return _AiohttpTransport(limits=http_limits(settings or HttpClientSettings()))


def http_timeout(s: HttpClientSettings) -> httpx.Timeout:
    return httpx.Timeout(
        connect=s.connect_timeout_s,
        read=s.read_timeout_s,
        write=s.write_timeout_s,
        pool=s.pool_timeout_s,
    )


def http_limits(s: HttpClientSettings) -> httpx.Limits:
    return httpx.Limits(
        max_connections=s.max_connections,
        max_keepalive_connections=s.max_keepalive_connections,
        keepalive_expiry=s.keepalive_expiry_s,
    )


class _AiohttpTransport(AiohttpTransport):
    """httpx-aiohttp 0.2 maps every ``aiohttp.ClientConnectionError`` (a refused connection
    included) to ``httpx.ConnectTimeout``; report a refused/unresolvable host as
    ``httpx.ConnectError`` so the error message says what happened."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            return await super().handle_async_request(request)
        except httpx.ConnectTimeout as exc:
            raise refine_connect_timeout(exc, request) from exc.__cause__


def refine_connect_timeout(exc: httpx.ConnectTimeout, request: httpx.Request) -> httpx.HTTPError:
    """``httpx.ConnectError`` when the "timeout" httpx-aiohttp reported is a refused or
    unresolvable host (its cause tells), else the timeout itself."""
    cause = exc.__cause__
    if isinstance(cause, aiohttp.ClientConnectorError) and not isinstance(
        cause, asyncio.TimeoutError
    ):
        return httpx.ConnectError(str(cause), request=request)
    return exc


def parse_retry_after(value: str | None, *, now: Callable[[], float] = time.time) -> float | None:
    """Seconds to wait from a ``Retry-After`` value: delta-seconds (``"120"``, also
    fractional) or an HTTP date (RFC 9110).  ``None`` when absent or unreadable; a date in
    the past gives 0."""
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if seconds == seconds else None  # NaN check
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - now())
