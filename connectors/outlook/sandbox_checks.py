"""Request checks of the Graph sandbox (``connectors.outlook.sandbox``), by hand from the
Graph v1.0 reference for ``message``, ``recipient``, ``fileAttachment`` and ``event`` (Graph
publishes no small machine-readable spec): only documented properties, recipients with a
valid ``emailAddress.address``, ``body.contentType`` Text/HTML, base64 ``contentBytes``, a
client-chosen ``internetMessageId`` in RFC 5322 ``<left@right>`` form, event ``start``/``end``
as ``dateTimeTimeZone``; plus Graph's error body and the OData ``$filter`` we answer.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
from datetime import datetime
from typing import Any

from aiohttp import web

MAX_REQUEST_BYTES = 4 * 1024 * 1024  # Graph's request size limit
EMAIL_RE = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")
RANGE_RE = re.compile(r"^bytes (\d+)-(\d+)/(\d+)$")
INTERNET_MESSAGE_ID_RE = re.compile(r"^<[^<>@\s]+@[^<>@\s]+>$")
#: the one ``$filter`` shape the sandbox answers: ``internetMessageId eq '<...>'`` (OData
#: string literal: single quotes, a quote inside doubled)
FILTER_RE = re.compile(r"^\s*internetMessageId\s+eq\s+'((?:[^']|'')*)'\s*$")
#: a fileAttachment POSTed to a draft must be below this; 3 MB - 150 MB go through an
#: upload session, which refuses anything smaller
INLINE_ATTACHMENT_LIMIT = 3 * 1024 * 1024
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
        "internetMessageId",
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
        problem = check_file_attachment(attachment, f"attachments[{i}]")
        if problem:
            return problem
    internet_id = message.get("internetMessageId")
    if internet_id is not None and not (
        isinstance(internet_id, str) and INTERNET_MESSAGE_ID_RE.match(internet_id)
    ):
        return "ErrorInvalidInternetMessageId", "internetMessageId must look like <left@right>"
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


def check_file_attachment(attachment: Any, where: str = "attachment") -> tuple[str, str] | None:
    if not isinstance(attachment, dict) or attachment.get("@odata.type") != (
        "#microsoft.graph.fileAttachment"
    ):
        return "ErrorInvalidArgument", f"{where} must be a fileAttachment"
    if not attachment.get("name"):
        return "ErrorInvalidArgument", f"{where}.name missing"
    try:
        base64.b64decode(str(attachment.get("contentBytes", "")), validate=True)
    except (binascii.Error, ValueError):
        return "ErrorInvalidArgument", f"{where}.contentBytes is not base64"
    return None


def parse_filter(value: str | None) -> tuple[str | None, str | None]:
    """(the internetMessageId asked for, None) or (None, why the filter is refused)."""
    if value is None:
        return None, None
    match = FILTER_RE.match(value)
    if not match:
        return None, "only $filter=internetMessageId eq '<id>' is supported by the sandbox"
    return match.group(1).replace("''", "'"), None
