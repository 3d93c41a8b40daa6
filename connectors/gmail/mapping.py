"""A ``sync.gmail`` record -> Gmail ``messages.send`` and Calendar ``events.insert`` calls.

Operations (routing ``operation``):

- ``send_follow_up`` (default): the templated follow-up e-mail to the matched contact, with
  the transcript attached as ``transcript-<call_id>.txt`` (text/plain, ``[mm:ss] SPEAKER:
  text`` lines from the record's ``transcript`` field, see ``connectors.base.transcript``);
  plus, when ``CREATE_MEETINGS``, one calendar event per ``meeting`` action item.  With hints
  ``thread_id`` (Gmail thread) and ``in_reply_to`` (the Message-ID answered) it is sent as a
  reply in that thread.
- ``schedule_meetings``: only the calendar events.

Gmail has no upsert key: the e-mail's idempotency key is ``<event_id>:follow_up`` and the sync
ledger stops a second send.  Calendar events get a client-chosen id (base32hex of a hash of
event_id + item index): a replay that slips past the ledger gets 409 and counts as done.
"""

from __future__ import annotations

import base64
import email
import email.policy
import hashlib
from collections.abc import Mapping
from datetime import UTC
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, formatdate
from typing import Any

from connectors.base.connector import Operation, SyncRecord
from connectors.base.errors import DataError
from connectors.base.templates import MessageTemplate, RenderedMessage
from connectors.base.transcript import transcript_text
from connectors.gmail import compose
from connectors.gmail.config import MailSettings

SEND = "send_message"
INSERT_EVENT = "insert_event"
FOLLOW_UP = "send_follow_up"
MEETINGS_ONLY = "schedule_meetings"
OPERATIONS = (FOLLOW_UP, MEETINGS_ONLY)
#: operation payload key of a recording to attach at delivery time (not sent to the API)
RECORDING = "recording"
#: operation payload key of the e-mail's Message-ID (to look it up in Sent before a resend)
MESSAGE_ID = "message_id"
#: the payload keys that go to messages.send
API_FIELDS = ("raw", "threadId")


def calendar_event_id(event_id: str, index: int) -> str:
    """A valid Google Calendar event id (base32hex chars a-v0-9, 5-1024 long), the same for
    the same event and action item on every replay."""
    digest = hashlib.sha256(f"{event_id}:meeting:{index}".encode()).digest()
    return base64.b32hexencode(digest).decode().rstrip("=").lower()


def message_id(idempotency_key: str, domain: str = "voicebus.local") -> str:
    """A stable RFC 5322 Message-ID, so a thread reply can reference this e-mail."""
    return f"<{hashlib.sha256(idempotency_key.encode()).hexdigest()[:32]}@{domain}>"


def pick_template(
    record: SyncRecord, templates: Mapping[str, MessageTemplate], default: str, target: str
) -> MessageTemplate:
    name = str(record.hints.get("template") or default)
    template = templates.get(name)
    if template is None:
        raise DataError(
            f"{target}: routing hint 'template' names {name!r}, which is not loaded; add it to "
            f"VOICEBUS_{target.upper()}_EXTRA_TEMPLATES (loaded: {', '.join(sorted(templates))})"
        )
    return template


def _address(recipient: compose.Recipient) -> Address:
    username, _, domain = recipient.address.partition("@")
    return Address(display_name=recipient.name, username=username, domain=domain)


def attach_to_raw(raw: str, filename: str, content_type: str, data: bytes) -> str:
    """``raw`` (base64url MIME) with one more attachment."""
    message = email.message_from_bytes(
        base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)), policy=email.policy.default
    )
    assert isinstance(message, EmailMessage)
    maintype, _, subtype = content_type.partition("/")
    message.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return base64.urlsafe_b64encode(message.as_bytes()).decode()


def build_mime(
    *,
    sender: str | None,
    sender_name: str,
    to: compose.Recipient,
    subject: str,
    text: str,
    html: str | None,
    attachments: list[tuple[str, str, bytes]],
    msg_id: str,
    in_reply_to: str | None = None,
    date: str | None = None,
) -> EmailMessage:
    """An RFC 5322 message: text/plain (+ text/html alternative) and attachments."""
    message = EmailMessage()
    if sender:
        message["From"] = Address(display_name=sender_name, addr_spec=sender)
    message["To"] = _address(to)
    message["Subject"] = subject
    message["Date"] = date or formatdate(localtime=False, usegmt=True)
    message["Message-ID"] = msg_id
    if in_reply_to:
        message["In-Reply-To"] = in_reply_to
        message["References"] = in_reply_to
    message.set_content(text)
    if html is not None:
        message.add_alternative(html, subtype="html")
    for filename, content_type, data in attachments:
        maintype, _, subtype = content_type.partition("/")
        if maintype == "text":
            message.add_attachment(
                data.decode("utf-8"), subtype=subtype, filename=filename, charset="utf-8"
            )
        else:
            message.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    # stable boundaries: the same event always maps to byte-identical MIME
    seed = hashlib.sha256(msg_id.encode()).hexdigest()[:24]
    for number, part in enumerate(p for p in message.walk() if p.is_multipart()):
        part.set_boundary(f"=_voicebus_{seed}_{number}")
    return message


def follow_up_parts(
    record: SyncRecord,
    settings: MailSettings,
    templates: Mapping[str, MessageTemplate],
    target: str,
) -> tuple[compose.Recipient, Any, list[tuple[str, str, bytes]]]:
    """(recipient, rendered message, attachments) of the follow-up; shared with Outlook."""
    to = compose.recipient(record, target)
    call_id = str(record.event["call_id"])
    transcript_link = (
        settings.transcript_url_template.format(call_id=call_id)
        if settings.transcript_url_template
        else ""
    )
    recording = compose.recording_url(record)
    values = compose.template_values(
        record,
        sender_name=settings.sender_name,
        recording_link=f"Recording: {recording}" if recording else "",
        transcript_link=transcript_link,
    )
    rendered = pick_template(record, templates, settings.follow_up_template, target).render(values)
    attachments: list[tuple[str, str, bytes]] = []
    transcript = transcript_text(record)
    if transcript is not None:
        attachments.append((f"transcript-{call_id}.txt", "text/plain", transcript.encode()))
    return to, rendered, attachments


def rendered_meetings(
    record: SyncRecord, settings: MailSettings, templates: Mapping[str, MessageTemplate]
) -> list[tuple[compose.Meeting, RenderedMessage]]:
    """Each meeting action item with its rendered meeting template; shared with Outlook."""
    base_values = compose.template_values(record, sender_name=settings.sender_name)
    return [
        (meeting, templates[settings.meeting_template].render(meeting.values))
        for meeting in compose.meetings(
            record,
            owner_email=settings.owner_email or settings.sender_address or "",
            default_time=settings.meeting_time,
            duration_min=settings.meeting_duration_min,
            timezone=settings.meeting_timezone,
            base_values=base_values,
        )
    ]


def requested_operation(record: SyncRecord, target: str) -> str:
    """The routing rule's operation (default ``send_follow_up``); ``DataError`` when unknown."""
    operation = record.operation or FOLLOW_UP
    if operation not in OPERATIONS:
        raise DataError(
            f"{target}: unknown operation {operation!r} in the routing rule; use one of "
            f"{', '.join(OPERATIONS)}"
        )
    return operation


def _meeting_operations(
    record: SyncRecord,
    settings: MailSettings,
    templates: Mapping[str, MessageTemplate],
    event_id: str,
) -> list[Operation]:
    operations = []
    for meeting, rendered in rendered_meetings(record, settings, templates):
        body = {
            "id": calendar_event_id(event_id, meeting.index),
            "summary": rendered.subject,
            "description": rendered.text,
            "start": {"dateTime": meeting.start.isoformat(), "timeZone": meeting.timezone},
            "end": {"dateTime": meeting.end.isoformat(), "timeZone": meeting.timezone},
            "attendees": [
                {"email": a.address, **({"displayName": a.name} if a.name else {})}
                for a in meeting.attendees
            ],
        }
        operations.append(
            Operation(
                kind=INSERT_EVENT,
                idempotency_key=f"{event_id}:meeting:{meeting.index}",
                payload={"event": body},
                key=record.key,
            )
        )
    return operations


def map_record(
    record: SyncRecord, settings: MailSettings, templates: Mapping[str, MessageTemplate]
) -> list[Operation]:
    operation = requested_operation(record, "gmail")
    event_id = compose.require_event_id(record, "gmail")
    operations: list[Operation] = []
    if operation == FOLLOW_UP:
        to, rendered, attachments = follow_up_parts(record, settings, templates, "gmail")
        key = f"{event_id}:follow_up"
        in_reply_to = str(record.hints.get("in_reply_to") or "") or None
        thread_id = str(record.hints.get("thread_id") or "") or None
        subject = rendered.subject
        if in_reply_to and not subject.lower().startswith("re:"):
            subject = f"Re: {subject}"
        occurred = compose.as_datetime(record.event.get("occurred_at"))
        mime = build_mime(
            sender=settings.sender_address,
            sender_name=settings.sender_name,
            to=to,
            subject=subject,
            text=rendered.text,
            html=rendered.html,
            attachments=attachments,
            msg_id=message_id(key),
            in_reply_to=in_reply_to,
            date=format_datetime(occurred.astimezone(UTC), usegmt=True) if occurred else None,
        )
        raw = base64.urlsafe_b64encode(mime.as_bytes()).decode()
        payload: dict[str, Any] = {"raw": raw, MESSAGE_ID: message_id(key)}
        if thread_id:
            payload["threadId"] = thread_id
        recording = compose.recording_reference(record, settings.max_recording_attachment_bytes)
        if recording is not None:
            payload[RECORDING] = recording  # fetched and attached at delivery (sink.py)
        operations.append(
            Operation(kind=SEND, idempotency_key=key, payload=payload, key=record.key)
        )
    if operation == MEETINGS_ONLY or settings.create_meetings:
        operations.extend(_meeting_operations(record, settings, templates, event_id))
    return operations
