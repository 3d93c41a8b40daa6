"""The Gmail connector: follow-up e-mails (Gmail API) and meetings (Google Calendar).

No vendor upsert for ``messages.send``: the sync ledger (keyed by the operation's
idempotency key) makes sure an e-mail is sent once across retries, replays and restarts.
Templates are loaded and checked in the constructor, so a bad template stops the sink at
start-up with the file and line named.
"""

from __future__ import annotations

from typing import ClassVar

import httpx

from connectors.base.connector import DeliveryResult, Operation, SyncRecord
from connectors.base.errors import PermanentError
from connectors.gmail.client import GmailClient
from connectors.gmail.compose import fetch_recording
from connectors.gmail.config import GmailSettings
from connectors.gmail.mail_connector import MailConnector
from connectors.gmail.mapping import (
    API_FIELDS,
    INSERT_EVENT,
    MESSAGE_ID,
    RECORDING,
    SEND,
    attach_to_raw,
    map_record,
)


class GmailConnector(MailConnector):
    name: ClassVar[str] = "gmail"
    version: ClassVar[str] = "0.1.0"
    settings: GmailSettings
    client: GmailClient

    def __init__(
        self,
        settings: GmailSettings | None = None,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        super().__init__(settings if settings is not None else GmailSettings())  # from env
        self.client = GmailClient(
            self.settings, transport=transport, user_agent=f"voicebus-gmail/{self.version}"
        )

    def map_record(self, record: SyncRecord) -> list[Operation]:
        return map_record(record, self.settings, self.templates)

    async def deliver(self, operation: Operation) -> DeliveryResult:
        if operation.kind == SEND:
            body = {k: v for k, v in operation.payload.items() if k in API_FIELDS}
            if self.settings.verify_sent:
                already = await self.client.find_sent(str(operation.payload[MESSAGE_ID]))
                if already is not None:
                    return DeliveryResult(external_id=already, detail={"already_sent": True})
            recording = operation.payload.get(RECORDING)
            attached = False
            if recording is not None:
                data = await fetch_recording(self.client.plain_http, recording)
                if data is not None:
                    body["raw"] = attach_to_raw(
                        str(body["raw"]), recording["filename"], recording["content_type"], data
                    )
                    attached = True
            sent = await self.client.send_message(body)
            return DeliveryResult(
                external_id=str(sent.get("id")) if sent.get("id") else None,
                detail={"thread_id": sent.get("threadId"), "recording_attached": attached},
            )
        if operation.kind == INSERT_EVENT:
            event, created = await self.client.insert_event(operation.payload["event"])
            return DeliveryResult(
                external_id=str(event.get("id")), detail={"already_existed": not created}
            )
        raise PermanentError(f"gmail: unknown operation kind {operation.kind!r}")


def create_connector(settings: GmailSettings | None = None) -> GmailConnector:
    """Factory used by the sink runtime (``voicebus sink gmail``)."""
    return GmailConnector(settings)
