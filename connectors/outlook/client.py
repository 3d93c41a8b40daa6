"""HTTP client of the Outlook connector (Microsoft Graph v1.0).

API calls go through one ``httpx.AsyncClient`` with the OAuth flow; upload-session chunks go
to the pre-authenticated ``uploadUrl`` through a plain client (Graph refuses an
``Authorization`` header there).
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote

import httpx

from connectors.base.auth import OAuth2Auth
from connectors.base.errors import RetryableError
from connectors.outlook.auth import make_auth
from connectors.outlook.config import OutlookSettings
from connectors.outlook.errors import classify_response, classify_transport
from pipeline.observability import inject_trace_headers
from pipeline.resilience.http import make_http_client

HeadersObserver = Callable[[Mapping[str, str]], object]


class GraphClient:
    def __init__(
        self,
        settings: OutlookSettings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        user_agent: str = "voicebus-outlook",
    ) -> None:
        self.settings = settings
        self._plain = make_http_client(settings.http, transport=transport, user_agent=user_agent)
        #: without credentials: token endpoint, upload URLs, recording downloads
        self.plain_http = self._plain
        self.auth: OAuth2Auth = make_auth(settings, self._plain)
        self._http = make_http_client(
            settings.http, auth=self.auth, transport=transport, user_agent=user_agent
        )
        self.observe_headers: HeadersObserver | None = None

    def url(self, suffix: str) -> str:
        base = self.settings.graph_base_url.rstrip("/")
        return f"{base}/v1.0/users/{quote(self.settings.user_id, safe='')}{suffix}"

    async def _call(
        self, method: str, url: str, operation: str, body: Mapping[str, Any] | None = None
    ) -> httpx.Response:
        try:
            response = await self._http.request(
                method,
                url,
                json=dict(body) if body is not None else None,
                headers=inject_trace_headers({}),
            )
        except httpx.TransportError as exc:
            raise classify_transport(exc, operation) from None
        if self.observe_headers is not None:
            self.observe_headers(response.headers)
        error = classify_response(response, operation)
        if error is not None:
            raise error
        return response

    async def send_mail(self, body: Mapping[str, Any]) -> None:
        await self._call("POST", self.url("/sendMail"), "sendMail", body)

    async def reply(self, message_id: str, body: Mapping[str, Any]) -> None:
        suffix = f"/messages/{quote(message_id, safe='')}/reply"
        await self._call("POST", self.url(suffix), "message reply", body)

    async def create_event(self, event: Mapping[str, Any]) -> dict[str, Any]:
        response = await self._call("POST", self.url("/events"), "create event", event)
        data: dict[str, Any] = response.json()
        return data

    async def send_large(
        self, message: Mapping[str, Any], attachments: list[Mapping[str, Any]]
    ) -> str:
        """Draft, one upload session per attachment, then send; returns the draft id."""
        draft = (await self._call("POST", self.url("/messages"), "create draft", message)).json()
        draft_id = quote(str(draft["id"]), safe="")
        for attachment in attachments:
            data = base64.b64decode(str(attachment["contentBytes"]))
            session = (
                await self._call(
                    "POST",
                    self.url(f"/messages/{draft_id}/attachments/createUploadSession"),
                    "createUploadSession",
                    {
                        "AttachmentItem": {
                            "attachmentType": "file",
                            "name": attachment["name"],
                            "size": len(data),
                            "contentType": attachment["contentType"],
                        }
                    },
                )
            ).json()
            await self._upload(str(session["uploadUrl"]), data)
        await self._call("POST", self.url(f"/messages/{draft_id}/send"), "send draft")
        return str(draft["id"])

    async def _upload(self, upload_url: str, data: bytes) -> None:
        chunk = self.settings.upload_chunk_bytes
        total = len(data)
        for start in range(0, total, chunk):
            part = data[start : start + chunk]
            end = start + len(part) - 1
            try:
                response = await self._plain.put(
                    upload_url,
                    content=part,
                    headers={
                        "Content-Range": f"bytes {start}-{end}/{total}",
                        "Content-Type": "application/octet-stream",
                    },
                )
            except httpx.TransportError as exc:
                raise classify_transport(exc, "attachment upload") from None
            error = classify_response(response, "attachment upload")
            if error is not None:
                raise error
        if total == 0:
            raise RetryableError("outlook attachment upload: empty attachment")

    async def aclose(self) -> None:
        await self._http.aclose()
        await self._plain.aclose()
