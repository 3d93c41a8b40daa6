"""HTTP client of the Outlook connector (Microsoft Graph v1.0).

API calls go through one ``httpx.AsyncClient`` with the OAuth flow; upload-session chunks go
to the pre-authenticated ``uploadUrl`` through a plain client (Graph refuses an
``Authorization`` header there).  One method per Graph call: the order of calls (and what
makes a redelivery safe) is ``connectors.outlook.drafts``' job.
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
#: Graph takes a fileAttachment POSTed to a message below 3 MB; from 3 MB (to 150 MB) an
#: attachment must go through an upload session, which refuses smaller files
INLINE_ATTACHMENT_LIMIT = 3 * 1024 * 1024
SENT_ITEMS = "sentitems"


def odata_string(value: str) -> str:
    """An OData string literal: single quotes, a quote inside doubled."""
    return "'" + value.replace("'", "''") + "'"


def query_string(params: Mapping[str, str]) -> str:
    """``$name=value`` pairs with values percent-encoded (spaces as %20, not '+': Graph's
    OData parser reads the query literally)."""
    return "&".join(f"{name}={quote(value, safe=',')}" for name, value in params.items())


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

    def message_url(self, message_id: str, suffix: str = "") -> str:
        return self.url(f"/messages/{quote(message_id, safe='')}{suffix}")

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

    async def find_messages(
        self, internet_message_id: str, folder: str | None = None
    ) -> list[dict[str, Any]]:
        """``id`` / ``isDraft`` of the messages with this internetMessageId, in one mail
        folder (well-known name, e.g. ``sentitems``) or the whole mailbox."""
        where = f"/mailFolders/{folder}/messages" if folder else "/messages"
        query = query_string(
            {
                "$filter": f"internetMessageId eq {odata_string(internet_message_id)}",
                "$select": "id,isDraft,internetMessageId",
                "$top": "10",
            }
        )
        response = await self._call("GET", f"{self.url(where)}?{query}", "find message")
        found = response.json().get("value")
        return [m for m in found if isinstance(m, dict)] if isinstance(found, list) else []

    async def create_draft(self, message: Mapping[str, Any]) -> str:
        draft = (await self._call("POST", self.url("/messages"), "create draft", message)).json()
        return str(draft["id"])

    async def create_reply(self, message_id: str, message: Mapping[str, Any]) -> str:
        """``createReply``: a reply draft in the original's conversation; its id."""
        url = self.message_url(message_id, "/createReply")
        draft = (await self._call("POST", url, "createReply", {"message": message})).json()
        return str(draft["id"])

    async def update_message(self, message_id: str, changes: Mapping[str, Any]) -> None:
        await self._call("PATCH", self.message_url(message_id), "update draft", changes)

    async def attachment_names(self, message_id: str) -> set[str]:
        url = self.message_url(message_id, "/attachments?" + query_string({"$select": "name"}))
        found = (await self._call("GET", url, "list attachments")).json().get("value") or []
        return {str(a.get("name")) for a in found if isinstance(a, dict)}

    async def attach(self, message_id: str, attachment: Mapping[str, Any]) -> None:
        """A fileAttachment onto a draft: one POST below 3 MB, else an upload session."""
        data = base64.b64decode(str(attachment["contentBytes"]))
        if len(data) < INLINE_ATTACHMENT_LIMIT:
            url = self.message_url(message_id, "/attachments")
            await self._call("POST", url, "add attachment", attachment)
            return
        session = (
            await self._call(
                "POST",
                self.message_url(message_id, "/attachments/createUploadSession"),
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

    async def send_draft(self, message_id: str) -> None:
        await self._call("POST", self.message_url(message_id, "/send"), "send draft")

    async def create_event(self, event: Mapping[str, Any]) -> dict[str, Any]:
        response = await self._call("POST", self.url("/events"), "create event", event)
        data: dict[str, Any] = response.json()
        return data

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
