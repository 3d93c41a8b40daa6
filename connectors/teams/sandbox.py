"""A local Teams for tests and the demo: channel webhooks and Graph channel messages.

Webhooks (``POST /webhook/<secret path>``, like Workflows URLs): unknown path -> 404; the
body must be Teams' Adaptive Card envelope (``type: message``, ``attachments[0].contentType``
``application/vnd.microsoft.card.adaptive``, ``content.type`` ``AdaptiveCard``, a
``content.version`` string, a ``content.body`` array) else 400 with the reason; accepted ->
202 with no body (Workflows).  More than ``webhook_rate_per_s`` posts in one second to one
webhook -> 429 + ``Retry-After``.

Graph (``POST /v1.0/teams/{team}/channels/{channel}/messages``): ``Authorization: Bearer``
from the configured tokens (else 401 ``InvalidAuthenticationToken``), unknown team/channel ->
404 ``NotFound``, card attachments checked the same way, 201 with a chatMessage.  Errors
have Graph's shape ``{"error": {"code", "message", "innerError": {...}}}``.

Delegated tokens: with a ``DelegatedConsent`` (``sandbox_identity``), ``POST
/{tenant}/oauth2/v2.0/token`` runs the refresh-token grant (rotating refresh tokens) and the
access tokens it issues are accepted by Graph; mutations ``expire_graph_tokens`` (every access
token stops working, as after their ~1 h lifetime: Graph answers 401 "Lifetime validation
failed, the token is expired.") and ``revoke_consent`` (every refresh token dies).

Shared fault knobs from ``connectors/base/sandbox.py``.  Admin: ``GET /_sandbox/cards``.
Run standalone: ``python -m connectors.teams.sandbox --port 8097 --webhook support:abc123``.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
import uuid
from collections import defaultdict, deque
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from connectors.base.sandbox import ADMIN_PREFIX, install_controls, run_main
from connectors.teams.sandbox_identity import DelegatedConsent

CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
WEBHOOK_PREFIX = "/webhook/"


@dataclass(frozen=True)
class PostedCard:
    channel: str
    via: str  # "webhook" | "graph"
    card: dict[str, Any]
    message_id: str

    def contains(self, needle: str) -> bool:
        return needle in json.dumps(self.card)


def card_errors(attachments: Any, *, graph: bool = False) -> list[str]:
    """What makes an attachments list not an Adaptive Card message."""
    if not isinstance(attachments, list) or not attachments:
        return ["attachments must be a non-empty array"]
    first = attachments[0]
    if not isinstance(first, dict) or first.get("contentType") != CARD_CONTENT_TYPE:
        return [f"attachments[0].contentType must be {CARD_CONTENT_TYPE}"]
    content = first.get("content")
    if graph and isinstance(content, str):
        try:
            content = json.loads(content)
        except ValueError:
            return ["attachments[0].content is not a JSON string"]
    if not isinstance(content, dict):
        return ["attachments[0].content must be an object (a JSON string for Graph)"]
    problems = []
    if content.get("type") != "AdaptiveCard":
        problems.append("content.type must be AdaptiveCard")
    if not isinstance(content.get("version"), str):
        problems.append("content.version must be a string like '1.4'")
    if not isinstance(content.get("body"), list):
        problems.append("content.body must be an array")
    return problems


class TeamsTenant:
    def __init__(
        self,
        webhooks: Mapping[str, str],
        graph_channels: Mapping[str, str],
        graph_tokens: Sequence[str],
        *,
        webhook_rate_per_s: float | None = None,
        retry_after_s: int = 1,
    ) -> None:
        self.webhooks = dict(webhooks)  # secret path -> channel name
        self.graph_channels = dict(graph_channels)  # "team/channel" -> channel name
        self.graph_tokens = set(graph_tokens)
        self.webhook_rate_per_s = webhook_rate_per_s
        self.retry_after_s = retry_after_s
        self.rate_limited = 0
        self._cards: list[PostedCard] = []
        self._recent: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def over_rate(self, path: str) -> bool:
        if not self.webhook_rate_per_s:
            return False
        with self._lock:
            now, recent = time.monotonic(), self._recent[path]
            while recent and now - recent[0] >= 1.0:
                recent.popleft()
            if len(recent) >= self.webhook_rate_per_s:
                self.rate_limited += 1
                return True
            recent.append(now)
            return False

    def accepts(self, token: str) -> bool:
        with self._lock:
            return token in self.graph_tokens

    def add_token(self, token: str) -> None:
        with self._lock:
            self.graph_tokens.add(token)

    def expire_tokens(self) -> int:
        with self._lock:
            count = len(self.graph_tokens)
            self.graph_tokens.clear()
            return count

    def store(self, card: PostedCard) -> None:
        with self._lock:
            self._cards.append(card)

    def cards(self, channel: str | None = None) -> list[PostedCard]:
        with self._lock:
            return [c for c in self._cards if channel is None or c.channel == channel]


TENANT: web.AppKey[TeamsTenant] = web.AppKey("voicebus_teams_tenant", TeamsTenant)


def graph_error(
    status: int, code: str, message: str, headers: Mapping[str, str] | None = None
) -> web.Response:
    return web.json_response(
        {
            "error": {
                "code": code,
                "message": message,
                "innerError": {
                    "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S"),
                    "request-id": str(uuid.uuid4()),
                    "client-request-id": str(uuid.uuid4()),
                },
            }
        },
        status=status,
        headers=dict(headers or {}),
    )


_CODES = {
    400: "BadRequest",
    401: "InvalidAuthenticationToken",
    403: "Forbidden",
    404: "NotFound",
    429: "TooManyRequests",
    500: "InternalServerError",
    503: "ServiceNotAvailable",
}


def teams_error_response(status: int, retry_after: float | None) -> web.Response:
    headers = {"Retry-After": f"{retry_after:g}"} if retry_after is not None else {}
    return graph_error(
        status, _CODES.get(status, "UnknownError"), "sandbox injected fault", headers
    )


def make_app(
    webhooks: Mapping[str, str],
    graph_channels: Mapping[str, str] | None = None,
    graph_tokens: Sequence[str] = (),
    *,
    webhook_rate_per_s: float | None = None,
    consent: DelegatedConsent | None = None,
) -> web.Application:
    tenant = TeamsTenant(
        webhooks, graph_channels or {}, graph_tokens, webhook_rate_per_s=webhook_rate_per_s
    )
    app = web.Application()
    app[TENANT] = tenant
    controls = install_controls(app, teams_error_response)
    controls.register_mutation("expire_graph_tokens", tenant.expire_tokens)
    if consent is not None:
        controls.register_mutation("revoke_consent", consent.revoke)

    async def token(request: web.Request) -> web.Response:
        if consent is None:
            return web.json_response({"error": "invalid_request"}, status=404)
        form = {k: str(v) for k, v in (await request.post()).items()}
        response, access = consent.refresh(form, request.match_info["tenant"])
        if access is not None:
            tenant.add_token(access)
        return response

    async def webhook(request: web.Request) -> web.Response:
        channel = tenant.webhooks.get(request.match_info["path"])
        if channel is None:
            return web.Response(status=404, text="webhook not found")
        if tenant.over_rate(request.path):
            return web.Response(
                status=429,
                text="too many requests",
                headers={"Retry-After": str(tenant.retry_after_s)},
            )
        try:
            body = await request.json()
        except ValueError:
            return web.Response(status=400, text="body is not JSON")
        if not isinstance(body, dict) or body.get("type") != "message":
            return web.Response(status=400, text="body.type must be 'message'")
        problems = card_errors(body.get("attachments"))
        if problems:
            return web.Response(status=400, text="; ".join(problems))
        card = body["attachments"][0]["content"]
        tenant.store(PostedCard(channel, "webhook", card, uuid.uuid4().hex))
        return web.Response(status=202)

    async def graph_message(request: web.Request) -> web.Response:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer ") or not tenant.accepts(header[7:]):
            return graph_error(
                401,
                "InvalidAuthenticationToken",
                "Lifetime validation failed, the token is expired or invalid.",
            )
        ref = f"{request.match_info['team']}/{request.match_info['channel']}"
        channel = tenant.graph_channels.get(ref)
        if channel is None:
            return graph_error(404, "NotFound", "Team or channel not found.")
        try:
            body = await request.json()
        except ValueError:
            return graph_error(400, "BadRequest", "Unable to read JSON request payload.")
        problems = card_errors(
            body.get("attachments") if isinstance(body, dict) else None, graph=True
        )
        if problems:
            return graph_error(400, "BadRequest", "; ".join(problems))
        raw = body["attachments"][0]["content"]
        card = json.loads(raw) if isinstance(raw, str) else raw
        message_id = str(int(time.time() * 1000))
        tenant.store(PostedCard(channel, "graph", card, message_id))
        return web.json_response(
            {
                "id": message_id,
                "createdDateTime": datetime.now(UTC).isoformat(),
                "messageType": "message",
                "body": body.get("body"),
                "attachments": body["attachments"],
            },
            status=201,
        )

    async def cards(request: web.Request) -> web.Response:
        found = tenant.cards(request.query.get("channel"))
        return web.json_response({"cards": [asdict(c) for c in found]})

    app.router.add_post(WEBHOOK_PREFIX + "{path:.+}", webhook)
    app.router.add_post("/v1.0/teams/{team}/channels/{channel}/messages", graph_message)
    app.router.add_post("/{tenant}/oauth2/v2.0/token", token)
    app.router.add_get(ADMIN_PREFIX + "cards", cards)
    return app


def tenant_of(app: web.Application) -> TeamsTenant:
    return app[TENANT]


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--webhook", action="append", default=[], help="channel:secret-path")


def _app_from_args(args: argparse.Namespace) -> web.Application:
    hooks = {path: name for name, path in (w.split(":", 1) for w in args.webhook)}
    return make_app(hooks or {"sandbox": "support"})


def main(argv: Sequence[str] | None = None) -> None:
    run_main(
        _app_from_args,
        description="voicebus Teams sandbox",
        argv=argv,
        add_arguments=_add_arguments,
    )


if __name__ == "__main__":
    main()
