"""The Outlook connector: follow-up e-mails and meetings through Microsoft Graph.

No vendor upsert for ``sendMail``: the sync ledger (keyed by the operation's idempotency key)
makes sure an e-mail is sent once across retries, replays and restarts.  Every e-mail carries
a client-chosen ``internetMessageId`` (``drafts.internet_message_id``), so the mailbox can
answer "did this already go out?": always for drafts (replies, large attachments; see
``drafts``), and before ``sendMail`` with ``VERIFY_SENT``.  Events are deduplicated by Graph
through their ``transactionId``.  Templates are loaded and checked in the constructor (a bad
template stops the sink at start-up, naming file and line).
"""

from __future__ import annotations

from typing import Any, ClassVar

import httpx

from connectors.base.connector import DeliveryResult, Operation, SyncRecord
from connectors.base.errors import PermanentError
from connectors.gmail.compose import fetch_recording
from connectors.gmail.mail_connector import MailConnector
from connectors.outlook.client import SENT_ITEMS, GraphClient
from connectors.outlook.config import OutlookSettings
from connectors.outlook.drafts import already_sent, internet_message_id, send_via_draft
from connectors.outlook.mapping import (
    CREATE_EVENT,
    RECORDING,
    REPLY,
    SEND_LARGE,
    SEND_MAIL,
    file_attachment,
    map_record,
)


class OutlookConnector(MailConnector):
    name: ClassVar[str] = "outlook"
    version: ClassVar[str] = "0.2.0"
    settings: OutlookSettings
    client: GraphClient

    def __init__(
        self,
        settings: OutlookSettings | None = None,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        super().__init__(settings if settings is not None else OutlookSettings())
        self.client = GraphClient(
            self.settings, transport=transport, user_agent=f"voicebus-outlook/{self.version}"
        )

    def map_record(self, record: SyncRecord) -> list[Operation]:
        return map_record(record, self.settings, self.templates)

    async def deliver(self, operation: Operation) -> DeliveryResult:
        payload = operation.payload
        if operation.kind in (SEND_MAIL, SEND_LARGE, REPLY):
            return await self._send(operation)
        if operation.kind == CREATE_EVENT:
            event = await self.client.create_event(payload["event"])
            return DeliveryResult(external_id=str(event.get("id")))
        raise PermanentError(f"outlook: unknown operation kind {operation.kind!r}")

    def _parts(self, operation: Operation) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """(message without attachments, attachments) of any mail operation's payload."""
        payload = operation.payload
        if operation.kind == SEND_LARGE:
            return dict(payload["message"]), [dict(a) for a in payload["attachments"]]
        message = dict(payload["body"]["message"])
        return message, [dict(a) for a in message.pop("attachments", [])]

    async def _send(self, operation: Operation) -> DeliveryResult:
        """``sendMail`` when the attachments (with the recording fetched now, if any) fit
        inline; else, and for replies, through a draft (``drafts.send_via_draft``)."""
        payload = operation.payload
        message, attachments = self._parts(operation)
        internet_id = internet_message_id(
            operation.idempotency_key, self.settings.message_id_domain
        )
        if operation.kind == SEND_MAIL and self.settings.verify_sent:  # before any download
            sent = already_sent(await self.client.find_messages(internet_id, SENT_ITEMS))
            if sent is not None:
                return DeliveryResult(external_id=sent, detail={"already_sent": True})
        recording = payload.get(RECORDING)
        attached = False
        if recording is not None:
            data = await fetch_recording(self.client.plain_http, recording)
            if data is not None:
                attachments.append(
                    file_attachment(recording["filename"], recording["content_type"], data)
                )
                attached = True
        total = sum(len(a["contentBytes"]) * 3 // 4 for a in attachments)
        detail: dict[str, Any] = {"recording_attached": attached}
        inline = (
            operation.kind == SEND_MAIL and total <= self.settings.upload_session_threshold_bytes
        )
        if not inline:
            reply_to = str(payload["message_id"]) if operation.kind == REPLY else None
            done = await send_via_draft(
                self.client,
                internet_id=internet_id,
                message=message,
                attachments=attachments,
                reply_to=reply_to,
            )
            detail.update(
                already_sent=done.already_sent,
                resumed_draft=done.resumed_draft,
                via_draft=True,
            )
            if reply_to is not None:
                detail["reply_to"] = reply_to
            return DeliveryResult(external_id=done.message_id, detail=detail)
        body = dict(payload["body"])
        body["message"] = {**message, "internetMessageId": internet_id, "attachments": attachments}
        await self.client.send_mail(body)
        return DeliveryResult(detail={**detail, "status": 202})


def create_connector(settings: OutlookSettings | None = None) -> OutlookConnector:
    """Factory used by the sink runtime (``voicebus sink outlook``)."""
    return OutlookConnector(settings)
