"""A local Slack Web API for tests and the demo: ``POST /api/chat.postMessage`` and
``/api/auth.test``, behaving like Slack for what voicebus uses.

- Auth: ``Authorization: Bearer <token>`` (or a ``token`` body field); missing ->
  ``not_authed``, unknown -> ``invalid_auth``, revoked -> ``token_revoked``; all HTTP 200
  ``{"ok": false, "error": ...}`` like Slack.
- Requests are checked against Slack's OpenAPI spec (``sandbox_spec.SlackSpec``): unknown
  parameter -> ``invalid_arg_name``, wrong type -> ``invalid_form_data``; bodies that are not
  JSON/form -> ``invalid_post_type``/``invalid_json``; Block Kit limits -> ``invalid_blocks``;
  text over 40,000 chars -> ``msg_too_long``; neither text nor blocks -> ``no_text``.
- Channels registry: id, name, whether the bot is a member, archived.  Unknown ->
  ``channel_not_found``, bot not a member -> ``not_in_channel``, archived -> ``is_archived``;
  a ``thread_ts`` that is no message of the channel -> ``thread_not_found`` (stricter than
  Slack, which would post it unthreaded: the sandbox is there to catch that bug).
- Messages are stored per channel with ``ts`` values like ``1700000000.000100`` and
  ``thread_ts``; more than ``channel_rate_per_s`` posts in one second to one channel ->
  HTTP 429 + ``Retry-After`` + ``{"ok": false, "error": "ratelimited"}``.
- Shared fault knobs (``connectors/base/sandbox.py``); injected 401/403 answer as Slack does
  (HTTP 200 ``invalid_auth``), injected 4xx as HTTP 200 ``invalid_arguments``.

Admin: ``GET /_sandbox/messages[?channel=]``; mutations ``add_channel``, ``archive``,
``remove_bot``, ``revoke_token``.
Run standalone: ``python -m connectors.slack.sandbox --port 8098 --token xoxb-test``.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from collections import defaultdict, deque
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from connectors.base.sandbox import ADMIN_PREFIX, install_controls, run_main
from connectors.slack.sandbox_spec import SlackSpec

MAX_TEXT = 40_000
BLOCK_TYPES = frozenset(
    {"header", "section", "context", "divider", "actions", "image", "rich_text", "input"}
)


@dataclass
class Channel:
    id: str
    name: str
    bot_member: bool = True
    archived: bool = False


@dataclass(frozen=True)
class StoredMessage:
    channel: str
    ts: str
    text: str
    blocks: list[Any]
    thread_ts: str | None

    def contains(self, needle: str) -> bool:
        return needle in self.text or needle in json.dumps(self.blocks)


class SlackWorkspace:
    """The sandbox's state (thread-safe: tests read it while the server thread writes)."""

    def __init__(
        self,
        tokens: Sequence[str],
        channels: Sequence[Channel],
        *,
        channel_rate_per_s: float | None = 1.0,
        retry_after_s: int = 1,
        spec: SlackSpec | None = None,
    ) -> None:
        self.tokens = set(tokens)
        self.revoked: set[str] = set()
        self.channels = {c.id: c for c in channels}
        self.channel_rate_per_s = channel_rate_per_s
        self.retry_after_s = retry_after_s
        self.spec = spec if spec is not None else SlackSpec()
        self.rate_limited = 0
        self.rejected: list[str] = []  # error codes answered, in order
        self._messages: dict[str, list[StoredMessage]] = defaultdict(list)
        self._recent: dict[str, deque[float]] = defaultdict(deque)
        self._seq = 0
        self._lock = threading.Lock()

    # ---- queries -----------------------------------------------------------------------
    def resolve(self, ref: str) -> Channel | None:
        with self._lock:
            if ref in self.channels:
                return self.channels[ref]
            name = ref.lstrip("#")
            return next((c for c in self.channels.values() if c.name == name), None)

    def messages(self, channel: str | None = None) -> list[StoredMessage]:
        with self._lock:
            if channel is not None:
                found = self.resolve_unlocked(channel)
                return list(self._messages.get(found.id if found else channel, []))
            return [m for msgs in self._messages.values() for m in msgs]

    def resolve_unlocked(self, ref: str) -> Channel | None:
        if ref in self.channels:
            return self.channels[ref]
        return next((c for c in self.channels.values() if c.name == ref.lstrip("#")), None)

    def parents(self, channel: str | None = None) -> list[StoredMessage]:
        return [m for m in self.messages(channel) if m.thread_ts is None]

    def replies(self, thread_ts: str) -> list[StoredMessage]:
        return [m for m in self.messages() if m.thread_ts == thread_ts]

    # ---- writes ------------------------------------------------------------------------
    def _over_rate(self, channel_id: str) -> bool:
        if not self.channel_rate_per_s:
            return False
        now = time.monotonic()
        recent = self._recent[channel_id]
        while recent and now - recent[0] >= 1.0:
            recent.popleft()
        if len(recent) >= self.channel_rate_per_s:
            return True
        recent.append(now)
        return False

    def post(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """(HTTP status, answer) of a chat.postMessage with a checked body."""
        with self._lock:
            channel = self.resolve_unlocked(str(body.get("channel", "")))
            if channel is None:
                return 200, {"ok": False, "error": "channel_not_found"}
            if channel.archived:
                return 200, {"ok": False, "error": "is_archived"}
            if not channel.bot_member:
                return 200, {"ok": False, "error": "not_in_channel"}
            thread_ts = body.get("thread_ts")
            if thread_ts is not None and not any(
                m.ts == thread_ts and m.thread_ts is None for m in self._messages[channel.id]
            ):
                return 200, {"ok": False, "error": "thread_not_found"}
            if self._over_rate(channel.id):
                self.rate_limited += 1
                return 429, {"ok": False, "error": "ratelimited"}
            self._seq += 1
            ts = f"{1_700_000_000 + self._seq // 1000}.{(self._seq % 1000) * 100:06d}"
            message = StoredMessage(
                channel=channel.id,
                ts=ts,
                text=str(body.get("text") or ""),
                blocks=list(body.get("blocks") or []),
                thread_ts=thread_ts,
            )
            self._messages[channel.id].append(message)
        answer: dict[str, Any] = {"type": "message", "text": message.text, "ts": ts}
        answer.update({"bot_id": "B0VOICEBUS", "user": "U0VOICEBUS"})
        if message.blocks:
            answer["blocks"] = message.blocks
        if thread_ts is not None:
            answer["thread_ts"] = thread_ts
        return 200, {"ok": True, "channel": channel.id, "ts": ts, "message": answer}

    # ---- mutations ---------------------------------------------------------------------
    def add_channel(
        self, id: str, name: str, bot_member: bool = True, archived: bool = False
    ) -> None:
        self.channels[id] = Channel(id, name, bot_member, archived)

    def archive(self, channel: str) -> None:
        found = self.resolve_unlocked(channel)
        if found is not None:
            found.archived = True

    def remove_bot(self, channel: str) -> None:
        found = self.resolve_unlocked(channel)
        if found is not None:
            found.bot_member = False

    def revoke_token(self, token: str) -> None:
        self.revoked.add(token)


def block_errors(blocks: Any) -> list[str]:
    """Block Kit limits that Slack enforces with ``invalid_blocks``."""
    if not isinstance(blocks, list) or len(blocks) > 50:
        return ["blocks must be an array of at most 50 blocks"]
    problems: list[str] = []
    for i, block in enumerate(blocks):
        kind = block.get("type") if isinstance(block, dict) else None
        if kind not in BLOCK_TYPES:
            problems.append(f"blocks[{i}]: unknown block type {kind!r}")
            continue
        text = block.get("text")
        if kind == "header" and (
            not isinstance(text, dict)
            or text.get("type") != "plain_text"
            or not 0 < len(str(text.get("text", ""))) <= 150
        ):
            problems.append(f"blocks[{i}]: header needs plain_text of 1-150 chars")
        if kind == "section":
            fields = block.get("fields") or []
            if text is None and not fields:
                problems.append(f"blocks[{i}]: section needs text or fields")
            if isinstance(text, dict) and len(str(text.get("text", ""))) > 3000:
                problems.append(f"blocks[{i}]: section text over 3000 chars")
            if len(fields) > 10 or any(len(str(f.get("text", ""))) > 2000 for f in fields):
                problems.append(f"blocks[{i}]: at most 10 fields of 2000 chars")
        if kind == "context":
            elements = block.get("elements")
            if not isinstance(elements, list) or not 0 < len(elements) <= 10:
                problems.append(f"blocks[{i}]: context needs 1-10 elements")
    return problems


WORKSPACE: web.AppKey[SlackWorkspace] = web.AppKey("voicebus_slack_workspace", SlackWorkspace)


def slack_error_response(status: int, retry_after: float | None) -> web.Response:
    """Injected faults in Slack's shapes."""
    if status in (401, 403):
        return web.json_response({"ok": False, "error": "invalid_auth"})
    if status == 429:
        headers = {"Retry-After": f"{retry_after if retry_after is not None else 1:g}"}
        return web.json_response({"ok": False, "error": "ratelimited"}, status=429, headers=headers)
    if status >= 500:
        return web.json_response({"ok": False, "error": "service_unavailable"}, status=status)
    return web.json_response({"ok": False, "error": "invalid_arguments"})


async def _read_body(request: web.Request) -> dict[str, Any] | str:
    """The request's parameters, or the Slack error code for an unreadable body."""
    raw = await request.read()
    ctype = request.content_type
    if not raw:
        return {}
    if ctype == "application/json":
        try:
            data = json.loads(raw)
        except ValueError:
            return "invalid_json"
        return data if isinstance(data, dict) else "json_not_object"
    if ctype == "application/x-www-form-urlencoded":
        data = dict(parse_qsl(raw.decode("utf-8", "replace")))
        if "blocks" in data:
            try:
                data["blocks"] = json.loads(data["blocks"])
            except ValueError:
                return "invalid_blocks_format"
        return data
    return "invalid_post_type"


def make_app(
    tokens: Sequence[str],
    channels: Sequence[Channel] = (Channel("C0SUPPORT01", "support"),),
    *,
    channel_rate_per_s: float | None = 1.0,
    spec: SlackSpec | None = None,
) -> web.Application:
    workspace = SlackWorkspace(tokens, channels, channel_rate_per_s=channel_rate_per_s, spec=spec)
    app = web.Application()
    app[WORKSPACE] = workspace
    controls = install_controls(app, slack_error_response)
    for name in ("add_channel", "archive", "remove_bot", "revoke_token"):
        controls.register_mutation(name, getattr(workspace, name))

    def refuse(code: str, detail: str | None = None) -> web.Response:
        workspace.rejected.append(code)
        headers = {"x-sandbox-detail": detail[:200]} if detail else {}
        return web.json_response({"ok": False, "error": code}, headers=headers)

    async def authorise(request: web.Request, body: dict[str, Any]) -> str | None:
        header = request.headers.get("Authorization", "")
        token = header[7:] if header.startswith("Bearer ") else body.pop("token", None)
        if not token:
            return "not_authed"
        if token in workspace.revoked:
            return "token_revoked"
        return None if token in workspace.tokens else "invalid_auth"

    async def post_message(request: web.Request) -> web.Response:
        body = await _read_body(request)
        if isinstance(body, str):
            return refuse(body)
        auth_error = await authorise(request, body)
        if auth_error is not None:
            return refuse(auth_error)
        problems = workspace.spec.request_errors("chat.postMessage", request.method, body)
        if problems:
            return refuse(problems[0][0], "; ".join(d for _, d in problems))
        if "blocks" in body and (problems_b := block_errors(body["blocks"])):
            return refuse("invalid_blocks", "; ".join(problems_b))
        if not body.get("text") and not body.get("blocks"):
            return refuse("no_text")
        if len(str(body.get("text") or "")) > MAX_TEXT:
            return refuse("msg_too_long")
        status, answer = workspace.post(body)
        if not answer["ok"]:
            workspace.rejected.append(answer["error"])
        headers = {"Retry-After": str(workspace.retry_after_s)} if status == 429 else {}
        return web.json_response(answer, status=status, headers=headers)

    async def auth_test(request: web.Request) -> web.Response:
        body = await _read_body(request)
        auth_error = await authorise(request, body if isinstance(body, dict) else {})
        if auth_error is not None:
            return refuse(auth_error)
        return web.json_response(
            {
                "ok": True,
                "url": "https://voicebus-sandbox.slack.com/",
                "team": "voicebus sandbox",
                "user": "voicebus",
                "team_id": "T0VOICEBUS",
                "user_id": "U0VOICEBUS",
                "bot_id": "B0VOICEBUS",
            }
        )

    async def messages(request: web.Request) -> web.Response:
        found = workspace.messages(request.query.get("channel"))
        return web.json_response({"messages": [asdict(m) for m in found]})

    app.router.add_post("/api/chat.postMessage", post_message)
    app.router.add_route("*", "/api/auth.test", auth_test)
    app.router.add_get(ADMIN_PREFIX + "messages", messages)
    return app


def workspace_of(app: web.Application) -> SlackWorkspace:
    return app[WORKSPACE]


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--token", action="append", default=[], help="valid bot token")
    parser.add_argument("--channel", action="append", default=[], help="ID:name (bot is a member)")
    parser.add_argument("--channel-rate", type=float, default=1.0, help="posts/s per channel")


def _app_from_args(args: argparse.Namespace) -> web.Application:
    channels = [Channel(*spec.split(":", 1)) for spec in args.channel] or [
        Channel("C0SUPPORT01", "support")
    ]
    return make_app(args.token or ["xoxb-sandbox"], channels, channel_rate_per_s=args.channel_rate)


def main(argv: Sequence[str] | None = None) -> None:
    run_main(
        _app_from_args,
        description="voicebus Slack Web API sandbox",
        argv=argv,
        add_arguments=_add_arguments,
    )


if __name__ == "__main__":
    main()
