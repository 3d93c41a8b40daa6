"""A local Microsoft Graph v1.0 (mail + calendar) that behaves like Graph for what we use.

- ``POST /{tenant}/oauth2/v2.0/token``: client credentials (client id/secret, scope
  ``https://graph.microsoft.com/.default``); 1 h bearer tokens.
- ``POST /v1.0/users/{id}/sendMail`` ``{"message": {...}, "saveToSentItems"}`` -> 202, no body.
- ``POST /v1.0/users/{id}/messages`` (draft) -> 201 message; ``PATCH .../messages/{mid}``
  -> 200 (body, subject, recipients, ``internetMessageId`` only while a draft: else 400
  ErrorInvalidPropertyUpdateSentMessage); ``POST .../messages/{mid}/attachments`` (a
  fileAttachment below 3 MB) -> 201, ``GET`` lists them; ``.../attachments/
  createUploadSession`` (3 MB and more) -> 201 ``{uploadUrl, nextExpectedRanges}``;
  ``PUT uploadUrl`` with ``Content-Range`` (no Authorization: the URL is pre-authenticated; a
  header -> 401) -> 200 ``nextExpectedRanges`` / 201 when complete; ``.../send`` -> 202.
- ``POST .../messages/{mid}/createReply`` ``{"message"?, "comment"?}`` (not both a comment
  and ``message.body``: 400) -> 201 reply draft (``RE:`` subject, to the sender, same
  conversation); ``POST .../messages/{mid}/reply`` -> 202 (the same, sent at once).
- ``GET /v1.0/users/{id}/messages`` and ``.../mailFolders/{sentitems|drafts|inbox}/messages``
  with ``$filter=internetMessageId eq '<id>'`` (other filters: 400), ``$select``, ``$top``
  -> ``{"value": [...]}``.
- ``POST /v1.0/users/{id}/events`` -> 201; a repeated ``transactionId`` returns the existing
  event (no second one), as Graph does.
- Validation by hand from the Graph reference (``sandbox_checks.py``): unknown message fields
  -> 400 RequestBodyRead, missing/invalid recipients -> 400 ErrorInvalidRecipients, requests
  above 4 MB -> 413; Graph-shaped errors ``{"error": {"code", "message", "innerError"}}``
  also for injected faults (401, 403, 404, 429 TooManyRequests + Retry-After ...).

Sent messages are kept as Graph JSON and rebuildable as MIME (``SentMail.mime()``) so tests
parse them with the ``email`` package.  Admin: ``GET /_sandbox/sent``, ``GET /_sandbox/events``,
mutations ``receive_message {subject, sender}`` -> an inbox message id to reply to, and
``lose_send_responses {count}``: the next sends (sendMail or a draft's send) go out but answer
500, as when the connection drops (or the client crashes) after Exchange accepted the message;
``lose_responses {count, operation: "createReply"}`` does the same to reply drafts.
Run: ``python -m connectors.outlook.sandbox --port 8102``.
"""

from __future__ import annotations

import argparse
import base64
import secrets
from collections.abc import Sequence
from typing import Any

from aiohttp import web

from connectors.base.sandbox import ADMIN_PREFIX, install_controls, run_main
from connectors.outlook.sandbox_checks import (
    INLINE_ATTACHMENT_LIMIT,
    MAX_REQUEST_BYTES,
    MESSAGE_FIELDS,
    check_event,
    check_file_attachment,
    check_message,
    graph_error,
    injected_error,
    parse_content_range,
    parse_filter,
)
from connectors.outlook.sandbox_graph import FOLDERS, NOT_FOUND, GraphState, UploadSession

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
    controls.register_mutation("lose_send_responses", state.lose_next_responses)
    controls.register_mutation("lose_responses", state.lose_next_responses)

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

    def lost() -> web.Response:
        return graph_error(500, "generalException", "An internal server error occurred.")

    def sent_or_lost() -> web.Response:
        return lost() if state.response_lost("send") else web.Response(status=202)

    async def send_mail(request: web.Request) -> web.Response:
        body, refused = await guarded(request)
        if refused:
            return refused
        if not isinstance(body, dict) or set(body) - {"message", "saveToSentItems"}:
            return graph_error(400, "RequestBodyRead", "Expected {message, saveToSentItems}.")
        problem = check_message(body.get("message"), require_recipients=True)
        if problem:
            return graph_error(400, *problem)
        saved = body.get("saveToSentItems", True) is not False
        state.send(request.match_info["user"], body["message"], saved=saved)
        return sent_or_lost()

    async def draft_request(request: web.Request) -> tuple[Any, web.Response | None]:
        """The message body of a draft create or update, or the error answer."""
        body, refused = await guarded(request)
        if refused:
            return None, refused
        problem = check_message(body, require_recipients=False)
        if problem:
            return None, graph_error(400, *problem)
        return body, None

    async def create_draft(request: web.Request) -> web.Response:
        body, refused = await draft_request(request)
        if refused:
            return refused
        draft = state.draft(request.match_info["user"], body)
        return web.json_response(draft.resource("drafts"), status=201)

    async def list_messages(request: web.Request) -> web.Response:
        if not authorised(request):
            return graph_error(401, "InvalidAuthenticationToken", "Access token is empty.")
        folder = request.match_info.get("folder")
        if folder is not None and folder.lower() not in FOLDERS:
            return graph_error(*NOT_FOUND)
        wanted, refused = parse_filter(request.query.get("$filter"))
        if refused:
            return graph_error(400, "ErrorInvalidUrlQueryFilter", refused)
        found = state.find(folder.lower() if folder else None, wanted)
        select = [f for f in request.query.get("$select", "").split(",") if f]
        if select:
            found = [{k: v for k, v in m.items() if k == "id" or k in select} for m in found]
        top = request.query.get("$top", "10")
        if not top.isdigit() or not 1 <= int(top) <= 1000:
            return graph_error(400, "ErrorInvalidUrlQuery", "$top must be 1-1000")
        return web.json_response({"value": found[: int(top)]})

    async def reply_request(request: web.Request) -> tuple[dict[str, Any], web.Response | None]:
        """The ``{message, comment}`` body of reply and createReply, or the error answer."""
        body, refused = await guarded(request)
        if refused:
            return {}, refused
        if not isinstance(body, dict) or set(body) - {"message", "comment"}:
            return {}, graph_error(400, "RequestBodyRead", "Expected {message, comment}.")
        problem = check_message(body.get("message") or {}, require_recipients=False)
        if problem:
            return {}, graph_error(400, *problem)
        return body, None

    async def create_reply(request: web.Request) -> web.Response:
        body, refused = await reply_request(request)
        if refused:
            return refused
        message = body.get("message") or {}
        if body.get("comment") and "body" in message:
            return graph_error(400, "ErrorInvalidArgument", "Specify a comment or message.body.")
        draft = state.create_reply(
            request.match_info["user"],
            request.match_info["mid"],
            message,
            str(body.get("comment") or ""),
        )
        if draft is None:
            return graph_error(*NOT_FOUND)
        if state.response_lost("createReply"):
            return lost()
        return web.json_response(draft.resource("drafts"), status=201)

    async def update_message(request: web.Request) -> web.Response:
        body, refused = await draft_request(request)
        if refused:
            return refused
        if "attachments" in body or set(body) - MESSAGE_FIELDS:
            return graph_error(400, "ErrorInvalidProperty", "Not an updatable property.")
        updated = state.update(request.match_info["mid"], body)
        if isinstance(updated, tuple):
            return graph_error(*updated)
        return web.json_response(updated.resource("drafts"))

    async def add_attachment(request: web.Request) -> web.Response:
        body, refused = await guarded(request)
        if refused:
            return refused
        problem = check_file_attachment(body)
        if problem:
            return graph_error(400, *problem)
        data = base64.b64decode(str(body["contentBytes"]))
        if len(data) >= INLINE_ATTACHMENT_LIMIT:
            return graph_error(
                413, "ErrorRequestEntityTooLarge", "Use an upload session from 3 MB on."
            )
        content_type = str(body.get("contentType") or "application/octet-stream")
        if not state.add_attachment(
            request.match_info["mid"], str(body["name"]), content_type, data
        ):
            return graph_error(*NOT_FOUND)
        return web.json_response({**body, "size": len(data)}, status=201)

    async def list_attachments(request: web.Request) -> web.Response:
        if not authorised(request):
            return graph_error(401, "InvalidAuthenticationToken", "Access token is empty.")
        found = state.list_attachments(request.match_info["mid"])
        if found is None:
            return graph_error(*NOT_FOUND)
        return web.json_response({"value": found})

    async def upload_session(request: web.Request) -> web.Response:
        body, refused = await guarded(request)
        if refused:
            return refused
        item = body.get("AttachmentItem") if isinstance(body, dict) else None
        if not isinstance(item, dict) or item.get("attachmentType") != "file":
            return graph_error(400, "ErrorInvalidArgument", "AttachmentItem.attachmentType")
        if not isinstance(item.get("size"), int) or not item.get("name"):
            return graph_error(400, "ErrorInvalidArgument", "AttachmentItem name/size")
        if item["size"] < INLINE_ATTACHMENT_LIMIT:
            return graph_error(
                400,
                "ErrorAttachmentSizeShouldNotBeLessThanMinimumSize",
                "Attachment size should not be less than 3 MB for an upload session.",
            )
        session = state.open_session(request.match_info["mid"], item)
        if session is None:
            return graph_error(*NOT_FOUND)
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
        return sent_or_lost()

    async def reply(request: web.Request) -> web.Response:
        body, refused = await reply_request(request)
        if refused:
            return refused
        found = state.reply(request.match_info["user"], request.match_info["mid"], body)
        if not found:
            return graph_error(*NOT_FOUND)
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
    message = users + "/messages/{mid}"
    app.router.add_post("/{tenant}/oauth2/v2.0/token", token)
    app.router.add_post(users + "/sendMail", send_mail)
    app.router.add_post(users + "/messages", create_draft)
    app.router.add_get(users + "/messages", list_messages)
    app.router.add_get(users + "/mailFolders/{folder}/messages", list_messages)
    app.router.add_patch(message, update_message)
    app.router.add_post(message + "/attachments", add_attachment)
    app.router.add_get(message + "/attachments", list_attachments)
    app.router.add_post(message + "/attachments/createUploadSession", upload_session)
    app.router.add_put("/_upload/{session}", upload)
    app.router.add_post(message + "/send", send_draft)
    app.router.add_post(message + "/createReply", create_reply)
    app.router.add_post(message + "/reply", reply)
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
