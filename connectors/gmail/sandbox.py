"""A local Gmail + Google Calendar API that behaves like Google's for what voicebus uses.

- ``POST /token``: Google's OAuth token endpoint (refresh-token grant checked against the
  configured client and refresh token; JWT bearer grant: the assertion's ``iss``, ``aud``,
  ``sub`` and ``scope`` are checked, the signature is not).  Issues 1 h bearer tokens.
- ``POST /gmail/v1/users/{userId}/messages/send``: validated against the discovery document,
  ``raw`` decoded (base64url RFC 2822) and parsed; stored with id/threadId (``threadId`` in
  the body puts it in that thread).  A message without a valid To -> 400 invalidArgument.
- ``POST /calendar/v3/calendars/{calendarId}/events``: validated, the client-chosen ``id``
  checked (base32hex, 5-1024 chars); a known id -> 409 duplicate; stored by id.
- ``GET /gmail/v1/users/{userId}/messages?q=rfc822msgid:<id>``: find a sent message by its
  Message-ID (``VERIFY_SENT``); mutation ``lose_send_responses {count}`` stores the next
  sends but answers 500 (the e-mail went out, the client cannot know).
- Every API call needs ``Authorization: Bearer <issued token>`` (else 401 UNAUTHENTICATED);
  Google-shaped error bodies for injected faults (``connectors.base.sandbox`` knobs).

Admin: ``GET /_sandbox/messages`` (raw MIME base64url + headers), ``GET /_sandbox/events``,
``POST /_sandbox/revoke-tokens``.  Run: ``python -m connectors.gmail.sandbox --port 8101``.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import email
import email.policy
import itertools
import json
import re
import secrets
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from aiohttp import web

from connectors.base.sandbox import ADMIN_PREFIX, install_controls, run_main
from connectors.base.sandbox import CONTROLS as CONTROLS_KEY
from connectors.gmail.sandbox_spec import DiscoverySpec

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
EVENT_ID_RE = re.compile(r"^[a-v0-9]{5,1024}$")
STATUS_TEXT = {
    400: ("FAILED_PRECONDITION", "badRequest"),
    401: ("UNAUTHENTICATED", "authError"),
    403: ("PERMISSION_DENIED", "forbidden"),
    404: ("NOT_FOUND", "notFound"),
    409: ("ALREADY_EXISTS", "duplicate"),
    429: ("RESOURCE_EXHAUSTED", "rateLimitExceeded"),
}


def google_error(
    status: int, message: str, *, reason: str | None = None, status_text: str | None = None
) -> web.Response:
    default_status, default_reason = STATUS_TEXT.get(status, ("INTERNAL", "backendError"))
    body = {
        "error": {
            "code": status,
            "message": message,
            "status": status_text or default_status,
            "errors": [{"reason": reason or default_reason, "message": message}],
        }
    }
    return web.json_response(body, status=status)


def injected_error(status: int, retry_after: float | None) -> web.Response:
    response = google_error(status, f"sandbox injected HTTP {status}")
    if retry_after is not None:
        response.headers["Retry-After"] = f"{retry_after:g}"
    return response


@dataclass
class SentMessage:
    id: str
    thread_id: str
    user_id: str
    raw: bytes
    message: EmailMessage


@dataclass
class GoogleState:
    client_id: str
    client_secret: str
    refresh_token: str
    service_account: str | None = None
    tokens: set[str] = field(default_factory=set)
    messages: list[SentMessage] = field(default_factory=list)
    events: dict[str, dict[str, Any]] = field(default_factory=dict)
    token_requests: int = 0
    #: answer this many accepted sends with 500 anyway (the "did it go out?" case)
    lose_responses: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def next_id(self) -> str:
        return f"{0x18C0000000 + next(self._ids):x}"

    def sent(self) -> list[SentMessage]:
        with self.lock:
            return list(self.messages)

    def calendar_events(self) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.events.values())


STATE: web.AppKey[GoogleState] = web.AppKey("voicebus_google_state", GoogleState)


def _jwt_claims(assertion: str) -> dict[str, Any] | None:
    try:
        payload = assertion.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError, binascii.Error):
        return None
    return claims if isinstance(claims, dict) else None


def make_app(
    *,
    client_id: str = "sandbox-client",
    client_secret: str = "sandbox-secret",  # noqa: S107 - sandbox default
    refresh_token: str = "sandbox-refresh",  # noqa: S107 - sandbox default
    service_account: str | None = None,
) -> web.Application:
    state = GoogleState(client_id, client_secret, refresh_token, service_account)
    gmail_spec = DiscoverySpec.load("gmail.v1.json")
    calendar_spec = DiscoverySpec.load("calendar.v3.json")
    app = web.Application(client_max_size=40 * 1024 * 1024)
    app[STATE] = state
    install_controls(app, injected_error)

    def oauth_error(code: str, status: int = 400) -> web.Response:
        return web.json_response({"error": code, "error_description": code}, status=status)

    def issue() -> web.Response:
        token = "ya29." + secrets.token_hex(16)
        with state.lock:
            state.tokens.add(token)
        return web.json_response(
            {"access_token": token, "expires_in": 3599, "token_type": "Bearer"}
        )

    async def token(request: web.Request) -> web.Response:
        form = await request.post()
        with state.lock:
            state.token_requests += 1
        grant = form.get("grant_type")
        if grant == "refresh_token":
            if form.get("client_id") != state.client_id or (
                form.get("client_secret") != state.client_secret
            ):
                return oauth_error("invalid_client", 401)
            if form.get("refresh_token") != state.refresh_token:
                return oauth_error("invalid_grant")
            return issue()
        if grant == JWT_BEARER:
            claims = _jwt_claims(str(form.get("assertion") or ""))
            if claims is None or not claims.get("scope") or not claims.get("sub"):
                return oauth_error("invalid_grant")
            if state.service_account and claims.get("iss") != state.service_account:
                return oauth_error("invalid_grant")
            if not str(claims.get("aud", "")).endswith("/token"):
                return oauth_error("invalid_grant")
            return issue()
        return oauth_error("unsupported_grant_type")

    def authorised(request: web.Request) -> bool:
        header = request.headers.get("Authorization", "")
        with state.lock:
            return header.startswith("Bearer ") and header[7:] in state.tokens

    async def json_body(request: web.Request) -> Any:
        try:
            return await request.json()
        except ValueError:
            return None

    async def send(request: web.Request) -> web.Response:
        if not authorised(request):
            return google_error(401, "Request had invalid authentication credentials.")
        body = await json_body(request)
        problem = gmail_spec.check("POST", request.path, request.query, body)
        if problem:
            return google_error(
                400, problem, reason="invalidArgument", status_text="INVALID_ARGUMENT"
            )
        raw_text = str(body.get("raw") or "")
        try:
            raw = base64.urlsafe_b64decode(raw_text + "=" * (-len(raw_text) % 4))
        except (binascii.Error, ValueError):
            raw = b""
        parsed = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        if not raw or not parsed.get("To") or "@" not in str(parsed.get("To")):
            return google_error(
                400, "Invalid To header", reason="invalidArgument", status_text="INVALID_ARGUMENT"
            )
        with state.lock:
            message_id = state.next_id()
            thread_id = str(body.get("threadId") or message_id)
            state.messages.append(
                SentMessage(message_id, thread_id, request.match_info["userId"], raw, parsed)
            )
            lost = state.lose_responses > 0
            state.lose_responses -= 1 if lost else 0
        if lost:
            return google_error(500, "Backend Error")
        return web.json_response({"id": message_id, "threadId": thread_id, "labelIds": ["SENT"]})

    async def list_messages_api(request: web.Request) -> web.Response:
        if not authorised(request):
            return google_error(401, "Request had invalid authentication credentials.")
        problem = gmail_spec.check("GET", request.path, request.query, None)
        if problem:
            return google_error(400, problem, reason="invalidArgument")
        query = request.query.get("q", "")
        wanted = (
            query.removeprefix("rfc822msgid:").strip() if query.startswith("rfc822msgid:") else None
        )
        found = [
            {"id": m.id, "threadId": m.thread_id}
            for m in state.sent()
            if m.user_id == request.match_info["userId"]
            and (
                wanted is None
                or str(m.message.get("Message-ID", "")).strip("<>") == wanted.strip("<>")
            )
        ]
        return web.json_response({"messages": found, "resultSizeEstimate": len(found)})

    async def insert_event(request: web.Request) -> web.Response:
        if not authorised(request):
            return google_error(401, "Request had invalid authentication credentials.")
        body = await json_body(request)
        problem = calendar_spec.check("POST", request.path, request.query, body)
        if problem:
            return google_error(400, problem, reason="invalid", status_text="INVALID_ARGUMENT")
        event_id = str(body.get("id") or "")
        if event_id and not EVENT_ID_RE.match(event_id):
            return google_error(400, "Invalid resource id value.", reason="invalid")
        with state.lock:
            if not event_id:
                event_id = f"sbx{state.next_id()}"
            if event_id in state.events:
                return google_error(409, "The requested identifier already exists.")
            stored = {
                **body,
                "id": event_id,
                "kind": "calendar#event",
                "status": "confirmed",
                "calendarId": request.match_info["calendarId"],
                "sendUpdates": request.query.get("sendUpdates"),
            }
            state.events[event_id] = stored
        return web.json_response(stored)

    async def list_messages(_request: web.Request) -> web.Response:
        return web.json_response(
            {
                "messages": [
                    {
                        "id": m.id,
                        "threadId": m.thread_id,
                        "to": str(m.message.get("To")),
                        "subject": str(m.message.get("Subject")),
                        "raw": base64.urlsafe_b64encode(m.raw).decode(),
                    }
                    for m in state.sent()
                ]
            }
        )

    async def list_events(_request: web.Request) -> web.Response:
        return web.json_response({"events": state.calendar_events()})

    async def revoke(_request: web.Request) -> web.Response:
        with state.lock:
            state.tokens.clear()
        return web.json_response({"ok": True})

    def lose_next_send_responses(count: int = 1) -> int:
        with state.lock:
            state.lose_responses = count
        return count

    app[CONTROLS_KEY].register_mutation("lose_send_responses", lose_next_send_responses)
    app.router.add_post("/token", token)
    app.router.add_get("/gmail/v1/users/{userId}/messages", list_messages_api)
    app.router.add_post("/gmail/v1/users/{userId}/messages/send", send)
    app.router.add_post("/calendar/v3/calendars/{calendarId}/events", insert_event)
    app.router.add_get(ADMIN_PREFIX + "messages", list_messages)
    app.router.add_get(ADMIN_PREFIX + "events", list_events)
    app.router.add_post(ADMIN_PREFIX + "revoke-tokens", revoke)
    return app


def state_of(app: web.Application) -> GoogleState:
    return app[STATE]


def main(argv: Sequence[str] | None = None) -> None:
    def build(_args: argparse.Namespace) -> web.Application:
        return make_app()

    run_main(build, description="voicebus Gmail + Google Calendar sandbox", argv=argv)


if __name__ == "__main__":
    main()
