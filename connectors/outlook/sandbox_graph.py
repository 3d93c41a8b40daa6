"""State and request checks of the Graph sandbox (``connectors.outlook.sandbox``).

The checks follow the Graph v1.0 reference for ``message``, ``recipient``,
``fileAttachment`` and ``event`` by hand (Graph publishes no small machine-readable spec):
only documented properties, recipients with a valid ``emailAddress.address``,
``body.contentType`` Text/HTML, base64 ``contentBytes``, event ``start``/``end`` as
``dateTimeTimeZone``.
"""

from __future__ import annotations

import base64
import binascii
import email.policy
import itertools
import re
import secrets
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.headerregistry import Address
from email.message import EmailMessage
from typing import Any

from aiohttp import web

MAX_REQUEST_BYTES = 4 * 1024 * 1024  # Graph's request size limit
EMAIL_RE = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")
RANGE_RE = re.compile(r"^bytes (\d+)-(\d+)/(\d+)$")
MESSAGE_FIELDS = frozenset(
    {
        "subject",
        "body",
        "toRecipients",
        "ccRecipients",
        "bccRecipients",
        "replyTo",
        "from",
        "attachments",
        "importance",
        "internetMessageHeaders",
        "isDeliveryReceiptRequested",
        "isReadReceiptRequested",
    }
)
EVENT_FIELDS = frozenset(
    {
        "subject",
        "body",
        "start",
        "end",
        "attendees",
        "location",
        "transactionId",
        "isOnlineMeeting",
        "reminderMinutesBeforeStart",
        "showAs",
        "importance",
    }
)
STATUS_CODES = {
    400: "BadRequest",
    401: "InvalidAuthenticationToken",
    403: "ErrorAccessDenied",
    404: "ErrorItemNotFound",
    429: "TooManyRequests",
    503: "ServiceNotAvailable",
}


def graph_error(status: int, code: str, message: str) -> web.Response:
    body = {
        "error": {
            "code": code,
            "message": message,
            "innerError": {
                "date": datetime.now().isoformat(timespec="seconds"),
                "request-id": secrets.token_hex(8),
            },
        }
    }
    return web.json_response(body, status=status)


def injected_error(status: int, retry_after: float | None) -> web.Response:
    response = graph_error(
        status, STATUS_CODES.get(status, "generalException"), f"sandbox injected HTTP {status}"
    )
    if retry_after is not None:
        response.headers["Retry-After"] = f"{retry_after:g}"
    return response


def parse_content_range(value: str) -> tuple[int, int, int] | None:
    match = RANGE_RE.match(value.strip())
    if not match:
        return None
    start, end, total = (int(g) for g in match.groups())
    return (start, end, total) if start <= end < total else None


def _check_recipients(value: Any, where: str) -> tuple[str, str] | None:
    if not isinstance(value, list):
        return "ErrorInvalidRecipients", f"{where} must be an array"
    for i, recipient in enumerate(value):
        address = (recipient or {}).get("emailAddress") if isinstance(recipient, dict) else None
        text = address.get("address") if isinstance(address, dict) else None
        if not isinstance(text, str) or not EMAIL_RE.match(text):
            return "ErrorInvalidRecipients", f"{where}[{i}].emailAddress.address is invalid"
    return None


def check_message(message: Any, *, require_recipients: bool) -> tuple[str, str] | None:
    """(Graph error code, message) of the first problem, or None."""
    if not isinstance(message, dict):
        return "RequestBodyRead", "message must be an object"
    unknown = set(message) - MESSAGE_FIELDS - {"id", "isDraft"}
    if unknown:
        return "RequestBodyRead", f"unknown message property {sorted(unknown)[0]!r}"
    recipients = message.get("toRecipients")
    if require_recipients and not recipients:
        return "ErrorInvalidRecipients", "At least one recipient is not valid."
    for name in ("toRecipients", "ccRecipients", "bccRecipients"):
        if name in message:
            problem = _check_recipients(message[name], name)
            if problem:
                return problem
    body = message.get("body")
    if body is not None and (
        not isinstance(body, dict)
        or body.get("contentType") not in ("Text", "HTML", "text", "html")
        or not isinstance(body.get("content"), str)
    ):
        return "ErrorInvalidArgument", "body needs contentType Text|HTML and content"
    for i, attachment in enumerate(message.get("attachments") or []):
        if not isinstance(attachment, dict) or attachment.get("@odata.type") != (
            "#microsoft.graph.fileAttachment"
        ):
            return "ErrorInvalidArgument", f"attachments[{i}] must be a fileAttachment"
        if not attachment.get("name"):
            return "ErrorInvalidArgument", f"attachments[{i}].name missing"
        try:
            base64.b64decode(str(attachment.get("contentBytes", "")), validate=True)
        except (binascii.Error, ValueError):
            return "ErrorInvalidArgument", f"attachments[{i}].contentBytes is not base64"
    for header in message.get("internetMessageHeaders") or []:
        if not str((header or {}).get("name", "")).lower().startswith("x-"):
            return "InvalidInternetMessageHeader", "custom headers must start with 'X-'"
    return None


def _check_time(value: Any, where: str) -> tuple[str, str] | None:
    if not isinstance(value, dict) or not value.get("dateTime") or not value.get("timeZone"):
        return "ErrorInvalidArgument", f"{where} needs dateTime and timeZone"
    try:
        datetime.fromisoformat(str(value["dateTime"]))
    except ValueError:
        return "ErrorInvalidArgument", f"{where}.dateTime is not ISO 8601"
    return None


def check_event(event: Any) -> tuple[str, str] | None:
    if not isinstance(event, dict):
        return "RequestBodyRead", "event must be an object"
    unknown = set(event) - EVENT_FIELDS
    if unknown:
        return "RequestBodyRead", f"unknown event property {sorted(unknown)[0]!r}"
    for where in ("start", "end"):
        problem = _check_time(event.get(where), where)
        if problem:
            return problem
    if "attendees" in event:
        return _check_recipients(event["attendees"], "attendees")
    return None


@dataclass
class SentMail:
    id: str
    user: str
    message: dict[str, Any]
    conversation_id: str
    large_attachments: list[tuple[str, str, bytes]] = field(default_factory=list)

    def attachments(self) -> list[tuple[str, str, bytes]]:
        inline = [
            (
                str(a["name"]),
                str(a.get("contentType") or "application/octet-stream"),
                base64.b64decode(str(a["contentBytes"])),
            )
            for a in self.message.get("attachments") or []
        ]
        return inline + self.large_attachments

    def mime(self) -> EmailMessage:
        """The message as Exchange would put it on the wire (for tests to parse)."""
        mime = EmailMessage(policy=email.policy.default)
        mime["From"] = self.user
        mime["To"] = ", ".join(
            str(Address(r["emailAddress"].get("name", ""), addr_spec=r["emailAddress"]["address"]))
            for r in self.message.get("toRecipients") or []
        )
        mime["Subject"] = str(self.message.get("subject") or "")
        for header in self.message.get("internetMessageHeaders") or []:
            mime[str(header["name"])] = str(header["value"])
        body = self.message.get("body") or {"contentType": "Text", "content": ""}
        subtype = "html" if str(body["contentType"]).lower() == "html" else "plain"
        mime.set_content(str(body["content"]), subtype=subtype)
        for name, content_type, data in self.attachments():
            maintype, _, sub = content_type.partition("/")
            mime.add_attachment(
                data, maintype=maintype, subtype=sub or "octet-stream", filename=name
            )
        return mime

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "conversationId": self.conversation_id,
            "message": self.message,
            "mime": self.mime().as_string(),
        }


@dataclass
class UploadSession:
    id: str
    draft_id: str
    name: str
    content_type: str
    size: int
    data: bytearray = field(default_factory=bytearray)
    expires: str = field(
        default_factory=lambda: (datetime.now(UTC) + timedelta(minutes=15)).isoformat()
    )


@dataclass
class GraphState:
    tokens: set[str] = field(default_factory=set)
    drafts: dict[str, SentMail] = field(default_factory=dict)
    inbox: dict[str, dict[str, Any]] = field(default_factory=dict)
    sessions: dict[str, UploadSession] = field(default_factory=dict)
    events: dict[str, dict[str, Any]] = field(default_factory=dict)
    by_transaction: dict[str, str] = field(default_factory=dict)
    messages: list[SentMail] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def new_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):06d}{secrets.token_hex(4)}"

    def send(self, user: str, message: dict[str, Any], conversation: str | None = None) -> None:
        with self.lock:
            mail_id = self.new_id("AAMk")
            self.messages.append(SentMail(mail_id, user, message, conversation or mail_id))

    def draft(self, user: str, message: dict[str, Any]) -> str:
        with self.lock:
            draft_id = self.new_id("AAMkDraft")
            self.drafts[draft_id] = SentMail(draft_id, user, dict(message), draft_id)
            return draft_id

    def open_session(self, draft_id: str, item: dict[str, Any]) -> UploadSession | None:
        with self.lock:
            if draft_id not in self.drafts:
                return None
            session = UploadSession(
                self.new_id("upl"),
                draft_id,
                str(item["name"]),
                str(item.get("contentType") or "application/octet-stream"),
                int(item["size"]),
            )
            self.sessions[session.id] = session
            return session

    def append_chunk(self, session: UploadSession, data: bytes) -> bool:
        with self.lock:
            session.data.extend(data)
            if len(session.data) < session.size:
                return False
            draft = self.drafts[session.draft_id]
            draft.large_attachments.append(
                (session.name, session.content_type, bytes(session.data))
            )
            del self.sessions[session.id]
            return True

    def send_draft(self, draft_id: str) -> tuple[int, str, str] | None:
        with self.lock:
            draft = self.drafts.pop(draft_id, None)
            if draft is None:
                return 404, "ErrorItemNotFound", "The specified object was not found."
            if not draft.message.get("toRecipients"):
                self.drafts[draft_id] = draft
                return 400, "ErrorInvalidRecipients", "At least one recipient is not valid."
            self.messages.append(draft)
            return None

    def receive(self, subject: str = "Question", sender: str = "ada@example.com") -> str:
        message_id = self.new_id("AAMkInbox")
        self.inbox[message_id] = {
            "id": message_id,
            "subject": subject,
            "from": {"emailAddress": {"address": sender}},
            "conversationId": message_id,
        }
        return message_id

    def reply(self, user: str, message_id: str, body: dict[str, Any]) -> bool:
        with self.lock:
            original = self.inbox.get(message_id)
        if original is None:
            return False
        message = dict(body.get("message") or {})
        message.setdefault("toRecipients", [original["from"]])
        message.setdefault("subject", f"RE: {original['subject']}")
        comment = str(body.get("comment") or "")
        if comment or "body" not in message:
            message["body"] = {"contentType": "Text", "content": comment}
        self.send(user, message, conversation=str(original["conversationId"]))
        return True

    def add_event(self, user: str, event: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            transaction = event.get("transactionId")
            if transaction and transaction in self.by_transaction:
                return self.events[self.by_transaction[transaction]]
            event_id = self.new_id("AAMkEvt")
            stored = {**event, "id": event_id, "organizer": {"emailAddress": {"address": user}}}
            self.events[event_id] = stored
            if transaction:
                self.by_transaction[str(transaction)] = event_id
            return stored

    def sent(self) -> list[SentMail]:
        with self.lock:
            return list(self.messages)

    def calendar_events(self) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.events.values())
