"""HTTP client of the Slack connector: ``chat.postMessage`` and ``auth.test``.

JSON bodies (``application/json; charset=utf-8``) with the bot token as a Bearer header.
Retries, backoff and the per-target token bucket live in the shared resilience layer; this
client makes exactly one HTTP call per method call and classifies the answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx
from pydantic import SecretStr

from connectors.base.errors import RetryableError
from connectors.slack.auth import BearerAuth
from connectors.slack.errors import TARGET, classify_response, classify_transport
from pipeline.observability import inject_trace_headers
from pipeline.resilience.http import HttpClientSettings, make_http_client


@dataclass(frozen=True)
class PostedMessage:
    channel: str  # the channel id Slack resolved (names become ids)
    ts: str


class SlackClient:
    def __init__(
        self,
        base_url: str,
        token: SecretStr,
        http: HttpClientSettings | None = None,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        user_agent: str = "voicebus-slack",
    ) -> None:
        self.auth = BearerAuth(token)
        self._http = make_http_client(
            http,
            base_url=base_url.rstrip("/") + "/",
            auth=self.auth,
            transport=transport,
            user_agent=user_agent,
        )

    def set_token(self, token: SecretStr) -> None:
        self.auth.token = token

    async def _call(self, method: str, body: Mapping[str, Any] | None) -> dict[str, Any]:
        headers = inject_trace_headers({})
        try:
            if body is None:
                response = await self._http.post(method, headers=headers)
            else:
                response = await self._http.post(method, json=dict(body), headers=headers)
        except httpx.TransportError as exc:
            raise classify_transport(exc, method=method) from None
        answer = classify_response(response, method=method)
        if isinstance(answer, dict):
            return answer
        raise answer

    async def post_message(self, body: Mapping[str, Any]) -> PostedMessage:
        answer = await self._call("chat.postMessage", body)
        channel, ts = answer.get("channel"), answer.get("ts")
        if not isinstance(channel, str) or not isinstance(ts, str):
            raise RetryableError(
                f"{TARGET} chat.postMessage: ok=true without channel/ts in the answer; will retry"
            )
        return PostedMessage(channel=channel, ts=ts)

    async def auth_test(self) -> dict[str, Any]:
        """Who the token belongs to (used by ``refresh_credentials`` and health checks)."""
        return await self._call("auth.test", None)

    async def aclose(self) -> None:
        await self._http.aclose()
