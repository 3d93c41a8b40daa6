"""HTTP client of the Gmail connector: ``messages.send`` and ``events.insert``.

One ``httpx.AsyncClient`` with the OAuth flow (bearer token, one shared refresh on 401) for
the API calls, and a plain one for the token endpoint.  Paths and parameters are escaped
with ``urllib.parse.quote`` (user and calendar ids are e-mail addresses).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote

import httpx

from connectors.base.auth import OAuth2Auth
from connectors.base.errors import ConnectorError, ThrottledError
from connectors.gmail.auth import make_auth
from connectors.gmail.config import GmailSettings
from connectors.gmail.errors import classify_response, classify_transport
from pipeline.observability import inject_trace_headers
from pipeline.resilience.http import make_http_client

HeadersObserver = Callable[[Mapping[str, str]], object]


class GmailClient:
    def __init__(
        self,
        settings: GmailSettings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        user_agent: str = "voicebus-gmail",
    ) -> None:
        self.settings = settings
        self._token_http = make_http_client(settings.http, transport=transport)
        #: without credentials: token endpoint and recording downloads (pre-signed URLs)
        self.plain_http = self._token_http
        self.auth: OAuth2Auth = make_auth(settings, self._token_http)
        self._http = make_http_client(
            settings.http, auth=self.auth, transport=transport, user_agent=user_agent
        )
        self.observe_headers: HeadersObserver | None = None
        #: consecutive throttled answers (exponential backoff when Retry-After is absent)
        self.throttle_streak = 0

    def send_url(self) -> str:
        base = self.settings.api_base_url.rstrip("/")
        return f"{base}/gmail/v1/users/{quote(self.settings.user_id, safe='')}/messages/send"

    def events_url(self) -> str:
        base = self.settings.calendar_base_url.rstrip("/")
        calendar = quote(self.settings.calendar_id, safe="")
        return f"{base}/calendar/v3/calendars/{calendar}/events"

    async def _post(
        self, url: str, body: Mapping[str, Any], operation: str, **params: str
    ) -> httpx.Response:
        try:
            response = await self._http.post(
                url, json=dict(body), params=params or None, headers=inject_trace_headers({})
            )
        except httpx.TransportError as exc:
            raise classify_transport(exc, operation) from None
        if self.observe_headers is not None:
            self.observe_headers(response.headers)
        return response

    def _classify(self, response: httpx.Response, operation: str) -> ConnectorError | None:
        error = classify_response(response, operation, throttle_streak=self.throttle_streak)
        self.throttle_streak = self.throttle_streak + 1 if isinstance(error, ThrottledError) else 0
        return error

    async def send_message(self, body: Mapping[str, Any]) -> dict[str, Any]:
        operation = "messages.send"
        response = await self._post(self.send_url(), body, operation)
        error = self._classify(response, operation)
        if error is not None:
            raise error
        data: dict[str, Any] = response.json()
        return data

    async def find_sent(self, message_id: str) -> str | None:
        """The Gmail id of the message with this RFC 822 Message-ID, if the mailbox has it
        (``messages.list`` with ``q=rfc822msgid:``; needs the gmail.readonly scope)."""
        operation = "messages.list"
        base = self.settings.api_base_url.rstrip("/")
        url = f"{base}/gmail/v1/users/{quote(self.settings.user_id, safe='')}/messages"
        params = {"q": f"rfc822msgid:{message_id}", "includeSpamTrash": "true"}
        try:
            response = await self._http.get(url, params=params, headers=inject_trace_headers({}))
        except httpx.TransportError as exc:
            raise classify_transport(exc, operation) from None
        error = self._classify(response, operation)
        if error is not None:
            raise error
        found = response.json().get("messages") or []
        return str(found[0]["id"]) if found else None

    async def insert_event(self, event: Mapping[str, Any]) -> tuple[dict[str, Any], bool]:
        """(event resource, created); 409 (id exists: a replay) counts as already created."""
        operation = "events.insert"
        response = await self._post(self.events_url(), event, operation, sendUpdates="all")
        if response.status_code == 409:
            return {"id": event.get("id")}, False
        error = self._classify(response, operation)
        if error is not None:
            raise error
        data: dict[str, Any] = response.json()
        return data, True

    async def aclose(self) -> None:
        await self._http.aclose()
        await self._token_http.aclose()
