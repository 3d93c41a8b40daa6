"""A webhook receiver that behaves like a careful Standard Webhooks consumer.

``POST /hooks/<anything>``: verifies ``webhook-signature`` against its own secrets (401 when
no signature matches or the timestamp is stale), then stores the event.  It deliberately
dedupes nothing: tests count what arrived to prove that voicebus sent an effect once.

Extra admin routes (besides the shared ``/_sandbox/`` knobs of ``connectors.base.sandbox``):
``GET /_sandbox/received[?call_id=..]`` and ``POST /_sandbox/gone {"path": "/hooks/x"}``
(that path answers 410 Gone from then on).

Run standalone: ``python -m connectors.webhook.sandbox --port 8099 --secret whsec_...``
(secrets also from ``VOICEBUS_WEBHOOK_SECRETS``).
"""

from __future__ import annotations

import argparse
import json
import os
import threading
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from aiohttp import web

from connectors.base.sandbox import ADMIN_PREFIX, install_controls, run_main
from connectors.webhook.auth import (
    DEFAULT_TOLERANCE_S,
    HEADER_TIMESTAMP,
    SignatureError,
    decode_secret,
    verify,
)

HOOKS_PREFIX = "/hooks/"


@dataclass(frozen=True)
class ReceivedWebhook:
    path: str
    webhook_id: str
    timestamp: int
    body: dict[str, Any]

    @property
    def call_id(self) -> str | None:
        data = self.body.get("data")
        return data.get("call_id") if isinstance(data, dict) else None

    @property
    def event_id(self) -> str | None:
        data = self.body.get("data")
        return data.get("event_id") if isinstance(data, dict) else None


class WebhookReceiver:
    """The sandbox's state (thread-safe: tests read it while the server thread writes)."""

    def __init__(self, secrets: Sequence[str], tolerance_s: int = DEFAULT_TOLERANCE_S) -> None:
        self.keys = [decode_secret(s, position=i) for i, s in enumerate(secrets)]
        self.tolerance_s = tolerance_s
        self.gone_paths: set[str] = set()
        self.rejected = 0
        self._events: list[ReceivedWebhook] = []
        self._lock = threading.Lock()

    def store(self, event: ReceivedWebhook) -> None:
        with self._lock:
            self._events.append(event)

    def received(self, call_id: str | None = None) -> list[ReceivedWebhook]:
        """Events in arrival order, all or one call's."""
        with self._lock:
            return [e for e in self._events if call_id is None or e.call_id == call_id]

    def count(self, event_id: str) -> int:
        with self._lock:
            return sum(1 for e in self._events if e.event_id == event_id)


RECEIVER: web.AppKey[WebhookReceiver] = web.AppKey("voicebus_webhook_receiver", WebhookReceiver)


def make_app(secrets: Sequence[str], *, tolerance_s: int = DEFAULT_TOLERANCE_S) -> web.Application:
    receiver = WebhookReceiver(secrets, tolerance_s)
    app = web.Application()
    app[RECEIVER] = receiver
    install_controls(app)

    async def hook(request: web.Request) -> web.Response:
        if request.path in receiver.gone_paths:
            return web.json_response({"error": "endpoint gone"}, status=410)
        body = await request.read()
        try:
            webhook_id = verify(
                receiver.keys, dict(request.headers), body, tolerance_s=receiver.tolerance_s
            )
        except SignatureError as exc:
            receiver.rejected += 1
            return web.json_response({"error": f"invalid signature: {exc}"}, status=401)
        try:
            payload = json.loads(body)
        except ValueError:
            return web.json_response({"error": "body is not JSON"}, status=400)
        if not isinstance(payload, dict):
            return web.json_response({"error": "body must be a JSON object"}, status=400)
        receiver.store(
            ReceivedWebhook(
                path=request.path,
                webhook_id=webhook_id,
                timestamp=int(request.headers[HEADER_TIMESTAMP]),
                body=payload,
            )
        )
        return web.json_response({"received": True})

    async def received(request: web.Request) -> web.Response:
        events = receiver.received(request.query.get("call_id"))
        return web.json_response(
            {"events": [asdict(e) for e in events], "rejected": receiver.rejected}
        )

    async def gone(request: web.Request) -> web.Response:
        data = await request.json()
        receiver.gone_paths.add(str(data["path"]))
        return web.json_response({"ok": True})

    app.router.add_post(HOOKS_PREFIX + "{name:.*}", hook)
    app.router.add_get(ADMIN_PREFIX + "received", received)
    app.router.add_post(ADMIN_PREFIX + "gone", gone)
    return app


def receiver_of(app: web.Application) -> WebhookReceiver:
    return app[RECEIVER]


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--secret",
        action="append",
        default=[],
        help="whsec_ secret to verify with (repeatable; default: VOICEBUS_WEBHOOK_SECRETS)",
    )


def _app_from_args(args: argparse.Namespace) -> web.Application:
    secrets = list(args.secret)
    if not secrets:
        secrets = [
            s.strip()
            for s in os.environ.get("VOICEBUS_WEBHOOK_SECRETS", "").split(",")
            if s.strip()
        ]
    if not secrets:
        raise SystemExit("give --secret whsec_... or set VOICEBUS_WEBHOOK_SECRETS")
    return make_app(secrets)


def main(argv: Sequence[str] | None = None) -> None:
    run_main(
        _app_from_args,
        description="voicebus webhook receiver sandbox",
        argv=argv,
        add_arguments=_add_arguments,
    )


if __name__ == "__main__":
    main()
