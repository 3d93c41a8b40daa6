"""The Outlook connector: follow-up e-mails and meetings through Microsoft Graph.

No vendor upsert for ``sendMail``: the sync ledger (keyed by the operation's idempotency key)
makes sure an e-mail is sent once across retries, replays and restarts; events are also
deduplicated by Graph through their ``transactionId``.  Templates are loaded and checked in
the constructor (a bad template stops the sink at start-up, naming file and line).
"""

from __future__ import annotations

from typing import ClassVar

import httpx

from connectors.base.connector import DeliveryResult, Operation, SyncRecord
from connectors.base.errors import PermanentError
from connectors.gmail.compose import fetch_recording
from connectors.gmail.mail_connector import MailConnector
from connectors.outlook.client import GraphClient
from connectors.outlook.config import OutlookSettings
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
    version: ClassVar[str] = "0.1.0"
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
        if operation.kind in (SEND_MAIL, SEND_LARGE):
            return await self._send(operation)
        if operation.kind == REPLY:
            await self.client.reply(str(payload["message_id"]), payload["body"])
            return DeliveryResult(detail={"reply_to": payload["message_id"]})
        if operation.kind == CREATE_EVENT:
            event = await self.client.create_event(payload["event"])
            return DeliveryResult(external_id=str(event.get("id")))
        raise PermanentError(f"outlook: unknown operation kind {operation.kind!r}")

    async def _send(self, operation: Operation) -> DeliveryResult:
        """Inline ``sendMail``, or draft + upload sessions + send when the attachments
        (with the recording fetched now, if any) exceed the inline limit."""
        payload = operation.payload
        if operation.kind == SEND_MAIL:
            body = dict(payload["body"])
            message = dict(body["message"])
            attachments = list(message.pop("attachments", []))
        else:
            body = {}
            message = dict(payload["message"])
            attachments = list(payload["attachments"])
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
        if operation.kind == SEND_LARGE or total > self.settings.upload_session_threshold_bytes:
            draft_id = await self.client.send_large(message, attachments)
            return DeliveryResult(
                external_id=draft_id,
                detail={"upload_session": True, "recording_attached": attached},
            )
        await self.client.send_mail({**body, "message": {**message, "attachments": attachments}})
        return DeliveryResult(detail={"status": 202, "recording_attached": attached})


def create_connector(settings: OutlookSettings | None = None) -> OutlookConnector:
    """Factory used by the sink runtime (``voicebus sink outlook``)."""
    return OutlookConnector(settings)
