"""A lean HTTP sender for targets a sink calls ~1,000 times per second from one event loop.

``make_http_client`` gives connectors ``httpx.AsyncClient`` over an aiohttp transport.  Per
request that stack builds an httpx request (URL, header and cookie merging), runs the auth
and redirect flows, translates to aiohttp and back, reads the body through httpx's stream
layers and extracts cookies: 0.45 ms of CPU per webhook POST, against 0.14 ms for aiohttp
alone (bench/sinks.py, 64 in flight).  At 1,000 deliveries/s the sink's event loop could
not spare the difference, and every millisecond the loop is busy delays the responses of
all the other requests in flight.

``DirectHttpSender`` keeps the same contract (timeouts and connection limits from
``HttpClientSettings``, ``httpx.Response`` back, failures as ``httpx.TransportError`` via
httpx-aiohttp's own error mapping) and sends with aiohttp directly.  It is only for callers
that need none of what it skips: absolute URLs, no auth flow, no cookies, redirects never
followed (the 3xx response is returned).  Unit tests pass an ``httpx.MockTransport``, which
is then used instead of aiohttp.
"""

from __future__ import annotations

from collections.abc import Mapping

import aiohttp
import httpx
from httpx_aiohttp.transport import map_aiohttp_exceptions

from pipeline.resilience.http import (
    HttpClientSettings,
    http_timeout,
    refine_connect_timeout,
)


class DirectHttpSender:
    """Send requests with aiohttp (or a given httpx transport) and read whole responses."""

    def __init__(
        self,
        settings: HttpClientSettings | None = None,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        headers: Mapping[str, str] | None = None,
        user_agent: str = "voicebus",
    ) -> None:
        self.settings = settings or HttpClientSettings()
        self._transport = transport
        self._headers = {"user-agent": user_agent, **dict(headers or {})}
        self._extensions = {"timeout": http_timeout(self.settings).as_dict()}
        # the same mapping as httpx-aiohttp: connect -> socket connect, pool -> waiting for
        # a connection (aiohttp's "connect" covers pool acquisition plus connecting)
        self._timeout = aiohttp.ClientTimeout(
            sock_connect=self.settings.connect_timeout_s,
            sock_read=self.settings.read_timeout_s,
            connect=self.settings.pool_timeout_s,
        )
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        """The session is created on first use: it belongs to the running event loop."""
        connector = aiohttp.TCPConnector(
            limit=self.settings.max_connections,
            keepalive_timeout=self.settings.keepalive_expiry_s,
        )
        # bodies stay encoded, as with httpx-aiohttp: httpx.Response decodes them itself
        self._session = aiohttp.ClientSession(connector=connector, auto_decompress=False)
        return self._session

    async def request(
        self,
        method: str,
        url: str | httpx.URL,
        *,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """Send one request and read the whole response (the connection is back in the
        pool when this returns).  Transport failures raise ``httpx.TransportError``."""
        merged = {**self._headers, **headers} if headers else self._headers
        if self._transport is not None:
            return await self._via_transport(method, url, content, merged)
        session = self._session or self._open()
        try:
            with map_aiohttp_exceptions():
                async with session.request(
                    method,
                    str(url),
                    data=content,
                    headers=merged,
                    allow_redirects=False,
                    timeout=self._timeout,
                ) as reply:
                    body = await reply.read()
        except httpx.ConnectTimeout as exc:
            raise refine_connect_timeout(exc, httpx.Request(method, url)) from exc.__cause__
        # no ``request`` attached (building one per POST costs as much as the response);
        # callers read status, headers and content only
        return httpx.Response(reply.status, headers=reply.raw_headers, content=body)

    async def _via_transport(
        self, method: str, url: str | httpx.URL, content: bytes | None, headers: Mapping[str, str]
    ) -> httpx.Response:
        assert self._transport is not None
        request = httpx.Request(
            method, url, content=content, headers=headers, extensions=self._extensions
        )
        response = await self._transport.handle_async_request(request)
        try:
            await response.aread()
        finally:
            await response.aclose()
        return response

    async def aclose(self) -> None:
        if self._transport is not None:
            await self._transport.aclose()
        if self._session is not None:
            await self._session.close()
            self._session = None
