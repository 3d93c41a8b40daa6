"""The ``/voicebus`` Slack slash command: an aiohttp endpoint (``voicebus slack
serve-commands``).

- ``/voicebus call <call-id>``: the call's summary and sync status per target, from a
  pluggable ``CallLookup`` (the CLI default is ``call_lookup.KafkaCallLookup``, which scans the
  topics; ``--lookup memory`` an empty ``InMemoryCallIndex``; ``--lookup module:factory`` another).
- ``/voicebus replay <target> <call-id>``: for operators only (Slack user ids in
  ``VOICEBUS_SLACK_OPERATORS``): replays that call's dead letters of ``sync.<target>.dlq``
  through ``pipeline.dlq.replay`` (``DlqReplayer``; key filter = the call id).

Every request must carry a valid Slack signature (``auth.verify_request``: HMAC-SHA256 of
``v0:<timestamp>:<raw body>`` with the signing secret, timestamp within 5 minutes, constant-
time compare); anything else gets 401 and nothing is looked up or executed.  Answers are
``{"response_type": "ephemeral", ...}``: only the person who typed the command sees them.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import parse_qsl

import typer
from aiohttp import web
from pydantic import SecretStr

from connectors.slack.auth import SignatureError, verify_request
from connectors.slack.mapping import escape

log = logging.getLogger(__name__)

ROUTE = "/slack/commands"
CALL_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:\-]{0,127}$")
REPLY_WITHIN_S = 2.5  # Slack wants an answer within 3 s


@dataclass
class CallStatus:
    call_id: str
    summary: str | None = None
    sentiment: str | None = None
    targets: dict[str, str] = field(default_factory=dict)  # target -> "delivered" | ...
    details: dict[str, str] = field(default_factory=dict)  # e.g. intents, duration, customer


class CallLookupError(Exception):
    """A lookup could not answer; the message is safe to show to the Slack user."""


class CallLookup(Protocol):
    async def call_status(self, call_id: str) -> CallStatus | None: ...


class Replayer(Protocol):
    async def replay(self, target: str, call_id: str) -> str:
        """Replay the call's dead letters of ``target``; a one-line result."""
        ...


class InMemoryCallIndex:
    """A small index the sinks (or a demo) feed with ``record``; forgets on exit."""

    def __init__(self) -> None:
        self.calls: dict[str, CallStatus] = {}

    def record(
        self,
        call_id: str,
        *,
        summary: str | None = None,
        sentiment: str | None = None,
        target: str | None = None,
        status: str | None = None,
    ) -> None:
        entry = self.calls.setdefault(call_id, CallStatus(call_id))
        entry.summary = summary or entry.summary
        entry.sentiment = sentiment or entry.sentiment
        if target is not None and status is not None:
            entry.targets[target] = status

    async def call_status(self, call_id: str) -> CallStatus | None:
        return self.calls.get(call_id)


class DlqReplayer:
    """Replays through ``pipeline.dlq.replay`` (a persisted, resumable replay task)."""

    def __init__(self, settings: Any) -> None:
        self.settings = settings

    def _run(self, target: str, call_id: str) -> str:
        from pipeline.dlq.records import DlqFilter
        from pipeline.dlq.replay import ReplayPlan, create_task, run_task
        from pipeline.dlq.tasks import TaskStore

        store = TaskStore(self.settings)
        task = create_task(self.settings, ReplayPlan(target, DlqFilter(key=call_id)), store)
        task = run_task(self.settings, task, store)
        return (
            f"replay {task.id}: {task.counts.published} record(s) of call {call_id} "
            f"re-published to {task.destination} ({task.status})"
        )

    async def replay(self, target: str, call_id: str) -> str:
        return await asyncio.to_thread(self._run, target, call_id)


def ephemeral(text: str) -> dict[str, Any]:
    return {"response_type": "ephemeral", "text": text}


class CommandHandler:
    def __init__(
        self,
        signing_secret: SecretStr,
        lookup: CallLookup,
        replayer: Replayer | None,
        operators: Sequence[str],
        targets: Sequence[str],
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.signing_secret = signing_secret
        self.lookup = lookup
        self.replayer = replayer
        self.operators = frozenset(operators)
        self.targets = tuple(targets)
        self.clock = clock
        self.rejected = 0

    async def handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        try:
            verify_request(self.signing_secret, dict(request.headers), raw, now=self.clock())
        except SignatureError as exc:
            self.rejected += 1
            log.warning("slash command refused: %s", exc)
            return web.json_response({"error": "invalid request signature"}, status=401)
        form = dict(parse_qsl(raw.decode("utf-8", "replace")))
        words = form.get("text", "").split()
        user = form.get("user_id", "")
        if words[:1] == ["call"] and len(words) == 2:
            return web.json_response(await self._call(words[1]))
        if words[:1] == ["replay"] and len(words) == 3:
            return web.json_response(await self._replay(user, words[1], words[2]))
        return web.json_response(
            ephemeral("usage: `/voicebus call <call-id>` or `/voicebus replay <target> <call-id>`")
        )

    async def _call(self, call_id: str) -> dict[str, Any]:
        if not CALL_ID.match(call_id):
            return ephemeral("that does not look like a call id (letters, digits, . _ : -)")
        try:
            status = await self.lookup.call_status(call_id)
        except Exception as exc:  # a lookup failure must never break the command
            log.error("slash command lookup failed: %s", type(exc).__name__)
            reason = str(exc) if isinstance(exc, CallLookupError) else type(exc).__name__
            return ephemeral(f"could not look up call `{escape(call_id)}`: {escape(reason)}")
        if status is None:
            return ephemeral(f"no call `{escape(call_id)}` known to voicebus")
        synced = ", ".join(f"{t}: {s}" for t, s in sorted(status.targets.items())) or "none yet"
        summary = escape(status.summary or "no summary yet")
        text = f"Call `{escape(call_id)}` ({status.sentiment or 'sentiment unknown'})"
        details = "; ".join(f"{k}: {escape(v)}" for k, v in status.details.items())
        if details:
            summary = f"{summary}\n{details}"
        return {
            "response_type": "ephemeral",
            "text": f"{text}: {summary}\nsync: {synced}",
            "blocks": [
                {"type": "section", "text": {"type": "mrkdwn", "text": f"*{text}*\n{summary}"}},
                {"type": "context", "elements": [{"type": "mrkdwn", "text": f"sync: {synced}"}]},
            ],
        }

    async def _replay(self, user: str, target: str, call_id: str) -> dict[str, Any]:
        if user not in self.operators:
            return ephemeral("replay is for voicebus operators only (VOICEBUS_SLACK_OPERATORS)")
        if target not in self.targets:
            return ephemeral(f"unknown target {escape(target)}; one of: {', '.join(self.targets)}")
        if not CALL_ID.match(call_id):
            return ephemeral("that does not look like a call id (letters, digits, . _ : -)")
        if self.replayer is None:
            return ephemeral("replay is not enabled on this server")
        job = asyncio.ensure_future(self.replayer.replay(target, call_id))
        done, _ = await asyncio.wait({job}, timeout=REPLY_WITHIN_S)
        if not done:
            return ephemeral(f"replay of call `{call_id}` to {target} started; still running")
        try:
            return ephemeral(job.result())
        except Exception as exc:
            log.error("slash command replay failed: %s", type(exc).__name__)
            return ephemeral(f"replay failed ({type(exc).__name__}); see the server log")


def make_app(handler: CommandHandler) -> web.Application:
    app = web.Application(client_max_size=64 * 1024)  # slash command bodies are small
    app.router.add_post(ROUTE, handler.handle)
    return app


def _load_lookup(spec: str | None) -> CallLookup:
    """Default: ``KafkaCallLookup`` over the configured Kafka; ``memory``: an empty index."""
    if spec == "memory":
        return InMemoryCallIndex()
    if not spec:
        spec = "connectors.slack.call_lookup:create_lookup"
    module_name, _, attr = spec.partition(":")
    factory = getattr(importlib.import_module(module_name), attr or "create_lookup")
    lookup: CallLookup = factory()
    return lookup


def register(app: typer.Typer) -> None:
    """``voicebus slack serve-commands``."""
    slack_app = typer.Typer(help="Slack helpers: the /voicebus slash command endpoint.")

    @slack_app.command("serve-commands")
    def serve_commands(
        port: int = typer.Option(8095, help="port to listen on"),
        host: str = typer.Option("127.0.0.1", help="interface (behind a TLS proxy)"),
        lookup: str | None = typer.Option(
            None, help="module:factory returning a CallLookup, or memory (default: Kafka topics)"
        ),
    ) -> None:
        """Serve POST /slack/commands for the /voicebus slash command."""
        from connectors.slack.config import SlackSettings
        from pipeline.config import load_settings
        from pipeline.topics import SYNC_TARGETS

        settings = SlackSettings()
        if settings.signing_secret is None:
            typer.echo(
                "error: set VOICEBUS_SLACK_SIGNING_SECRET (Slack app > Basic Information)", err=True
            )
            raise typer.Exit(2)
        handler = CommandHandler(
            settings.signing_secret,
            _load_lookup(lookup),
            DlqReplayer(load_settings()),
            settings.operators,
            SYNC_TARGETS,
        )
        typer.echo(f"slash commands on http://{host}:{port}{ROUTE}")
        web.run_app(make_app(handler), host=host, port=port, print=None, access_log=None)

    app.add_typer(slack_app, name="slack")
