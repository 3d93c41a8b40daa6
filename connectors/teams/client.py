"""HTTP client of the Teams connector: Adaptive Cards to channel webhooks (default) or to
Microsoft Graph channel messages (delegated token).

One HTTP call per method call (plus, for Graph, the token refresh the auth flow makes on
expiry or a 401); retries and pacing are the resilience layer's job.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping
from typing import Any

import httpx
from pydantic import SecretStr

from connectors.base.errors import PermanentError
from connectors.teams.auth import GraphBearerAuth, webhook_origin
from connectors.teams.errors import TARGET, classify_response, classify_transport
from connectors.teams.mapping import CARD_CONTENT_TYPE, webhook_body
from pipeline.observability import inject_trace_headers
from pipeline.resilience.http import HttpClientSettings, make_http_client


class TeamsClient:
    def __init__(
        self,
        webhooks: Mapping[str, SecretStr],
        http: HttpClientSettings | None = None,
        *,
        graph_base_url: str = "https://graph.microsoft.com/v1.0",
        graph_token: SecretStr | None = None,
        graph_channels: Mapping[str, str] | None = None,
        graph_auth: Callable[[httpx.AsyncClient], httpx.Auth] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        user_agent: str = "voicebus-teams",
    ) -> None:
        """``graph_auth(http)`` builds Graph's auth flow on this client's credential-free
        HTTP client (e.g. ``auth.make_graph_auth``); without it ``graph_token`` is sent."""
        self.webhooks = dict(webhooks)
        self.graph_channels = dict(graph_channels or {})
        self.graph_base_url = graph_base_url.rstrip("/")
        self._http = make_http_client(http, transport=transport, user_agent=user_agent)
        self.graph_auth: httpx.Auth = (
            graph_auth(self._http)
            if graph_auth is not None
            else GraphBearerAuth(graph_token or SecretStr(""))
        )

    def reload(self, webhooks: Mapping[str, SecretStr], graph_token: SecretStr | None) -> None:
        self.webhooks = dict(webhooks)
        if graph_token is not None and isinstance(self.graph_auth, GraphBearerAuth):
            self.graph_auth.token = graph_token

    async def post_webhook(self, channel: str, card: Mapping[str, Any]) -> int:
        url = self.webhooks.get(channel)
        if url is None:
            raise PermanentError(
                f"{TARGET}: no webhook configured for channel {channel!r} any more (removed "
                "from VOICEBUS_TEAMS_WEBHOOKS after the record was mapped)"
            )
        where = f"webhook POST for channel {channel!r} ({webhook_origin(url)})"
        try:
            response = await self._http.post(
                url.get_secret_value(),
                json=webhook_body(card),
                headers=inject_trace_headers({}),
            )
        except httpx.TransportError as exc:
            raise classify_transport(exc, where=where) from None
        error = classify_response(response, where=where, graph=False)
        if error is not None:
            raise error
        return response.status_code

    async def post_graph(self, channel: str, card: Mapping[str, Any]) -> str:
        """POST /teams/{team-id}/channels/{channel-id}/messages; the new message id."""
        ref = self.graph_channels.get(channel)
        if ref is None:
            raise PermanentError(
                f"{TARGET}: no Graph channel configured for {channel!r} "
                "(VOICEBUS_TEAMS_GRAPH_CHANNELS)"
            )
        team_id, channel_id = ref.split("/", 1)
        attachment_id = uuid.uuid4().hex
        body = {
            "body": {
                "contentType": "html",
                "content": f'<attachment id="{attachment_id}"></attachment>',
            },
            "attachments": [
                {
                    "id": attachment_id,
                    "contentType": CARD_CONTENT_TYPE,
                    "contentUrl": None,
                    "content": json.dumps(card),  # Graph wants the card as a JSON string
                }
            ],
        }
        where = f"Graph channel message for {channel!r}"
        url = f"{self.graph_base_url}/teams/{team_id}/channels/{channel_id}/messages"
        try:
            response = await self._http.post(
                url, json=body, headers=inject_trace_headers({}), auth=self.graph_auth
            )
        except httpx.TransportError as exc:
            raise classify_transport(exc, where=where) from None
        error = classify_response(response, where=where, graph=True)
        if error is not None:
            raise error
        try:
            return str(response.json()["id"])
        except (ValueError, KeyError, TypeError):
            return ""

    async def aclose(self) -> None:
        await self._http.aclose()
