"""A local Microsoft Graph v1.0 (mail + calendar) that behaves like Graph for what we use.

- ``POST /{tenant}/oauth2/v2.0/token``: client credentials (client id/secret, scope
  ``https://graph.microsoft.com/.default``); 1 h bearer tokens.
- ``POST /v1.0/users/{id}/sendMail`` ``{"message": {...}, "saveToSentItems"}`` -> 202, no body.
- ``POST /v1.0/users/{id}/messages`` (draft) -> 201; ``.../messages/{mid}/attachments/
  createUploadSession`` -> 201 ``{uploadUrl, nextExpectedRanges}``; ``PUT uploadUrl`` with
  ``Content-Range`` (no Authorization: the URL is pre-authenticated; a header -> 401) ->
  200 ``nextExpectedRanges`` / 201 when complete; ``.../messages/{mid}/send`` -> 202.
- ``POST .../messages/{mid}/reply`` ``{"message", "comment"}`` -> 202 (same conversation).
- ``POST /v1.0/users/{id}/events`` -> 201; a repeated ``transactionId`` returns the existing
  event (no second one), as Graph does.
- Validation by hand from the Graph reference (``sandbox_graph.py``): unknown message fields
  -> 400 RequestBodyRead, missing/invalid recipients -> 400 ErrorInvalidRecipients, inline
  requests above 4 MB -> 413; Graph-shaped errors ``{"error": {"code", "message",
  "innerError"}}`` also for injected faults (429 TooManyRequests + Retry-After).

Sent messages are kept as Graph JSON and rebuildable as MIME (``SentMail.mime()``) so tests
parse them with the ``email`` package.  Admin: ``GET /_sandbox/sent``, ``GET /_sandbox/events``,
mutation ``receive_message {subject, sender}`` -> an inbox message id to reply to.
Run: ``python -m connectors.outlook.sandbox --port 8102``.
"""

from __future__ import annotations

import argparse
import secrets
from collections.abc import Sequence
from typing import Any

from aiohttp import web

from connectors.base.sandbox import ADMIN_PREFIX, install_controls, run_main
from connectors.outlook.sandbox_graph import (
    MAX_REQUEST_BYTES,
    GraphState,
    UploadSession,
    check_event,
    check_message,
    graph_error,
    injected_error,
    parse_content_range,
)

STATE: web.AppKey[GraphState] = web.AppKey("voicebus_graph_state", GraphState)
GRAPH_SCOPE = "https://graph.microsoft.com/.default"


def make_app(
    *,
    tenant: str = "sandbox-tenant",
    client_id: str = "sandbox-client",
    client_secret: str = "sandbox-secret",  # noqa: S107 - sandbox default
) -> web.Application:
    state = GraphState()
    app = web.Application(client_max_size=MAX_REQUEST_BYTES * 4)
    app[STATE] = state
    controls = install_controls(app, injected_error)
    controls.register_mutation("receive_message", state.receive)

    async def token(request: web.Request) -> web.Response:
        form = await request.post()
        if request.match_info["tenant"] != tenant:
            return web.json_response({"error": "invalid_tenant"}, status=400)
        if form.get("grant_type") != "client_credentials":
            return web.json_response({"error": "unsupported_grant_type"}, status=400)
        if form.get("client_id") != client_id or form.get("client_secret") != client_secret:
            return web.json_response({"error": "invalid_client"}, status=401)
        if form.get("scope") != GRAPH_SCOPE:
            return web.json_response({"error": "invalid_scope"}, status=400)
        value = "eyJ0eXAi." + secrets.token_hex(16)
        with state.lock:
            state.tokens.add(value)
        return web.json_response(
            {"access_token": value, "expires_in": 3599, "token_type": "Bearer"}
        )

    def authorised(request: web.Request) -> bool:
        header = request.headers.get("Authorization", "")
        with state.lock:
            return header.startswith("Bearer ") and header[7:] in state.tokens

    async def guarded(request: web.Request) -> tuple[Any, web.Response | None]:
        if not authorised(request):
            return None, graph_error(401, "InvalidAuthenticationToken", "Access token is empty.")
        if request.content_length and request.content_length > MAX_REQUEST_BYTES:
            return None, graph_error(413, "ErrorRequestEntityTooLarge", "Request too large.")
        if not request.can_read_body:
            return {}, None
        try:
            return await request.json(), None
        except ValueError:
            return None, graph_error(400, "RequestBodyRead", "Body is not JSON.")

    async def send_mail(request: web.Request) -> web.Response:
        body, refused = await guarded(request)
        if refused:
            return refused
        if not isinstance(body, dict) or set(body) - {"message", "saveToSentItems"}:
            return graph_error(400, "RequestBodyRead", "Expected {message, saveToSentItems}.")
        problem = check_message(body.get("message"), require_recipients=True)
        if problem:
            return graph_error(400, *problem)
        state.send(request.match_info["user"], body["message"])
        return web.Response(status=202)

    async def create_draft(request: web.Request) -> web.Response:
        body, refused = await guarded(request)
        if refused:
            return refused
        problem = check_message(body, require_recipients=False)
        if problem:
            return graph_error(400, *problem)
        draft = state.draft(request.match_info["user"], body)
        return web.json_response({"id": draft, "isDraft": True, **body}, status=201)

    async def upload_session(request: web.Request) -> web.Response:
        body, refused = await guarded(request)
        if refused:
            return refused
        item = body.get("AttachmentItem") if isinstance(body, dict) else None
        if not isinstance(item, dict) or item.get("attachmentType") != "file":
            return graph_error(400, "ErrorInvalidArgument", "AttachmentItem.attachmentType")
        if not isinstance(item.get("size"), int) or not item.get("name"):
            return graph_error(400, "ErrorInvalidArgument", "AttachmentItem name/size")
        session = state.open_session(request.match_info["mid"], item)
        if session is None:
            return graph_error(404, "ErrorItemNotFound", "The specified object was not found.")
        upload_url = f"{request.scheme}://{request.host}/_upload/{session.id}"
        return web.json_response(
            {
                "uploadUrl": upload_url,
                "expirationDateTime": session.expires,
                "nextExpectedRanges": ["0-"],
            },
            status=201,
        )

    async def upload(request: web.Request) -> web.Response:
        if "Authorization" in request.headers:
            return graph_error(401, "InvalidAuthenticationToken", "uploadUrl is pre-authenticated")
        session: UploadSession | None = state.sessions.get(request.match_info["session"])
        if session is None:
            return graph_error(404, "ErrorItemNotFound", "Upload session not found.")
        if request.content_type != "application/octet-stream":
            return graph_error(400, "InvalidContentType", "Use application/octet-stream.")
        data = await request.read()
        parsed = parse_content_range(request.headers.get("Content-Range", ""))
        if parsed is None or parsed[2] != session.size or parsed[0] != len(session.data):
            return graph_error(416, "InvalidRange", "Content-Range does not match the session.")
        if parsed[1] - parsed[0] + 1 != len(data):
            return graph_error(400, "InvalidRange", "Content-Range length differs from body.")
        done = state.append_chunk(session, data)
        if done:  # Graph: 201, empty body, Location = the new attachment
            location = f"{request.scheme}://{request.host}/v1.0/attachments/{session.id}"
            return web.Response(status=201, headers={"Location": location})
        return web.json_response(
            {"expirationDateTime": session.expires, "nextExpectedRanges": [str(len(session.data))]}
        )

    async def send_draft(request: web.Request) -> web.Response:
        _, refused = await guarded(request)
        if refused:
            return refused
        problem = state.send_draft(request.match_info["mid"])
        if problem:
            return graph_error(*problem)
        return web.Response(status=202)

    async def reply(request: web.Request) -> web.Response:
        body, refused = await guarded(request)
        if refused:
            return refused
        if not isinstance(body, dict) or set(body) - {"message", "comment"}:
            return graph_error(400, "RequestBodyRead", "Expected {message, comment}.")
        message = body.get("message") or {}
        problem = check_message(message, require_recipients=False)
        if problem:
            return graph_error(400, *problem)
        found = state.reply(request.match_info["user"], request.match_info["mid"], body)
        if not found:
            return graph_error(404, "ErrorItemNotFound", "The specified object was not found.")
        return web.Response(status=202)

    async def create_event(request: web.Request) -> web.Response:
        body, refused = await guarded(request)
        if refused:
            return refused
        problem = check_event(body)
        if problem:
            return graph_error(400, *problem)
        return web.json_response(state.add_event(request.match_info["user"], body), status=201)

    async def sent(_request: web.Request) -> web.Response:
        return web.json_response({"sent": [m.as_json() for m in state.sent()]})

    async def events(_request: web.Request) -> web.Response:
        return web.json_response({"events": state.calendar_events()})

    users = "/v1.0/users/{user}"
    app.router.add_post("/{tenant}/oauth2/v2.0/token", token)
    app.router.add_post(users + "/sendMail", send_mail)
    app.router.add_post(users + "/messages", create_draft)
    app.router.add_post(users + "/messages/{mid}/attachments/createUploadSession", upload_session)
    app.router.add_put("/_upload/{session}", upload)
    app.router.add_post(users + "/messages/{mid}/send", send_draft)
    app.router.add_post(users + "/messages/{mid}/reply", reply)
    app.router.add_post(users + "/events", create_event)
    app.router.add_get(ADMIN_PREFIX + "sent", sent)
    app.router.add_get(ADMIN_PREFIX + "events", events)
    return app


def state_of(app: web.Application) -> GraphState:
    return app[STATE]


def main(argv: Sequence[str] | None = None) -> None:
    def build(_args: argparse.Namespace) -> web.Application:
        return make_app()

    run_main(build, description="voicebus Microsoft Graph (mail + calendar) sandbox", argv=argv)


if __name__ == "__main__":
    main()
