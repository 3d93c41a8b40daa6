"""A ``sync.outlook`` record -> Microsoft Graph mail and calendar calls.

Operations (routing ``operation``), content shared with Gmail (``connectors.gmail.compose``):

- ``send_follow_up`` (default): the templated follow-up to the matched contact, transcript
  attached (``transcript-<call_id>.txt``: the record's ``transcript`` field rendered by
  ``connectors.base.transcript`` through ``follow_up_parts``).  Attachments up to 3 MB in
  total go inline with ``sendMail``; above that the message is sent as draft + upload
  session + send.  With hint ``reply_to_message_id`` (a Graph message id) it is sent as a
  ``createReply`` draft instead, so it lands in that conversation.  Plus one event per
  ``meeting`` action item when ``CREATE_MEETINGS``.
- ``schedule_meetings``: only the events.

``sendMail`` has no upsert key: the ledger key ``<event_id>:follow_up`` prevents a second
send; the same key goes out as header ``X-Voicebus-Idempotency-Key`` for audits.  Events carry
a ``transactionId`` derived from event_id + item index: Graph (and the sandbox) return the
existing event for a repeated transactionId instead of creating a second one.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Mapping
from typing import Any

from connectors.base.connector import Operation, SyncRecord
from connectors.base.templates import MessageTemplate
from connectors.gmail import compose
from connectors.gmail.mapping import (
    FOLLOW_UP,
    MEETINGS_ONLY,
    follow_up_parts,
    rendered_meetings,
    requested_operation,
)
from connectors.outlook.config import OutlookSettings

SEND_MAIL = "send_mail"
SEND_LARGE = "send_mail_large"
REPLY = "reply"
CREATE_EVENT = "create_event"
IDEMPOTENCY_HEADER = "X-Voicebus-Idempotency-Key"
TARGET = "outlook"
#: operation payload key of a recording to fetch and attach at delivery time
RECORDING = "recording"


def transaction_id(event_id: str, index: int) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"voicebus:{event_id}:meeting:{index}"))


def recipient_json(recipient: compose.Recipient) -> dict[str, Any]:
    address: dict[str, str] = {"address": recipient.address}
    if recipient.name:
        address["name"] = recipient.name
    return {"emailAddress": address}


def file_attachment(name: str, content_type: str, data: bytes) -> dict[str, Any]:
    return {
        "@odata.type": "#microsoft.graph.fileAttachment",
        "name": name,
        "contentType": content_type,
        "contentBytes": base64.b64encode(data).decode(),
    }


def _follow_up(
    record: SyncRecord,
    settings: OutlookSettings,
    templates: Mapping[str, MessageTemplate],
    event_id: str,
) -> Operation:
    to, rendered, attachments = follow_up_parts(record, settings, templates, TARGET)
    key = f"{event_id}:follow_up"
    body = (
        {"contentType": "HTML", "content": rendered.html}
        if rendered.html is not None
        else {"contentType": "Text", "content": rendered.text}
    )
    message: dict[str, Any] = {
        "subject": rendered.subject,
        "body": body,
        "toRecipients": [recipient_json(to)],
        "internetMessageHeaders": [{"name": IDEMPOTENCY_HEADER, "value": key}],
    }
    reply_to = str(record.hints.get("reply_to_message_id") or "")
    total = sum(len(data) for _, _, data in attachments)
    files = [file_attachment(*attachment) for attachment in attachments]
    if reply_to:  # createReply draft + PATCH + attachments (any size) + send: sink/drafts.py
        del message["internetMessageHeaders"]  # set only on create; createReply creates
        message["attachments"] = files
        return Operation(
            kind=REPLY,
            idempotency_key=key,
            payload={"message_id": reply_to, "body": {"message": message}},
            key=record.key,
        )
    recording = compose.recording_reference(record, settings.max_recording_attachment_bytes)
    extra: dict[str, Any] = {RECORDING: recording} if recording is not None else {}
    if total > settings.upload_session_threshold_bytes:
        return Operation(
            kind=SEND_LARGE,
            idempotency_key=key,
            payload={"message": message, "attachments": files, **extra},
            key=record.key,
        )
    message["attachments"] = files
    return Operation(
        kind=SEND_MAIL,
        idempotency_key=key,
        payload={
            "body": {"message": message, "saveToSentItems": settings.save_to_sent_items},
            **extra,
        },
        key=record.key,
    )


def _events(
    record: SyncRecord,
    settings: OutlookSettings,
    templates: Mapping[str, MessageTemplate],
    event_id: str,
) -> list[Operation]:
    operations = []
    for meeting, rendered in rendered_meetings(record, settings, templates):
        local = "%Y-%m-%dT%H:%M:%S"
        event = {
            "subject": rendered.subject,
            "body": {"contentType": "Text", "content": rendered.text},
            "start": {"dateTime": meeting.start.strftime(local), "timeZone": meeting.timezone},
            "end": {"dateTime": meeting.end.strftime(local), "timeZone": meeting.timezone},
            "attendees": [{**recipient_json(a), "type": "required"} for a in meeting.attendees],
            "transactionId": transaction_id(event_id, meeting.index),
        }
        operations.append(
            Operation(
                kind=CREATE_EVENT,
                idempotency_key=f"{event_id}:meeting:{meeting.index}",
                payload={"event": event},
                key=record.key,
            )
        )
    return operations


def map_record(
    record: SyncRecord, settings: OutlookSettings, templates: Mapping[str, MessageTemplate]
) -> list[Operation]:
    operation = requested_operation(record, TARGET)
    event_id = compose.require_event_id(record, TARGET)
    operations: list[Operation] = []
    if operation == FOLLOW_UP:
        operations.append(_follow_up(record, settings, templates, event_id))
    if operation == MEETINGS_ONLY or settings.create_meetings:
        operations.extend(_events(record, settings, templates, event_id))
    return operations
