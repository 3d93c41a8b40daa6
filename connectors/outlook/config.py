"""Settings of the Outlook connector (Microsoft Graph v1.0; env prefix ``VOICEBUS_OUTLOOK_``).

App-only auth (client credentials): ``TENANT_ID``, ``CLIENT_ID``, ``CLIENT_SECRET`` of an
Entra app with the ``Mail.Send``, ``Mail.ReadWrite`` (drafts, replies, lookups) and
``Calendars.ReadWrite`` application permissions (limit it to the mailbox with an application
access policy).  ``USER_ID`` is the mailbox that sends
(UPN or object id).  Template and meeting settings are the same as Gmail's
(``connectors.gmail.config.MailSettings``).  ``GRAPH_BASE_URL`` / ``AUTHORITY_URL`` point at
the sandbox in tests.  ``UPLOAD_SESSION_THRESHOLD_BYTES`` (3 MB, Graph's limit for inline
attachments) and ``UPLOAD_CHUNK_BYTES`` (a multiple of 320 KiB) tune large attachments.
``VERIFY_SENT`` looks every new e-mail up in Sent Items by its client-chosen
``internetMessageId`` before ``sendMail`` (needs ``SAVE_TO_SENT_ITEMS``); replies and large
e-mails (drafts) are always looked up (``connectors.outlook.drafts``).
"""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator, model_validator

from connectors.base.settings import connector_settings_config
from connectors.gmail.config import MailSettings

GRAPH_SCOPE = "https://graph.microsoft.com/.default"
CHUNK_UNIT = 320 * 1024


class OutlookSettings(MailSettings):
    model_config = connector_settings_config("VOICEBUS_OUTLOOK_")

    tenant_id: str
    client_id: str
    client_secret: SecretStr
    user_id: str
    scope: str = GRAPH_SCOPE
    graph_base_url: str = "https://graph.microsoft.com"
    authority_url: str = "https://login.microsoftonline.com"
    save_to_sent_items: bool = True
    upload_session_threshold_bytes: int = Field(default=3 * 1024 * 1024, ge=1)
    upload_chunk_bytes: int = Field(default=10 * CHUNK_UNIT, ge=CHUNK_UNIT)
    #: look the e-mail up in Sent Items (by internetMessageId) before every sendMail, closing
    #: the window "sent, but the answer was lost / we crashed before the ledger write"; one
    #: extra call per e-mail, so off by default (drafts are always looked up)
    verify_sent: bool = False

    @field_validator("upload_chunk_bytes")
    @classmethod
    def _check_chunk(cls, value: int) -> int:
        if value % CHUNK_UNIT:
            raise ValueError("UPLOAD_CHUNK_BYTES must be a multiple of 327680 (320 KiB)")
        return value

    @model_validator(mode="after")
    def _verify_needs_sent_items(self) -> OutlookSettings:
        if self.verify_sent and not self.save_to_sent_items:
            raise ValueError(
                "VOICEBUS_OUTLOOK_VERIFY_SENT needs VOICEBUS_OUTLOOK_SAVE_TO_SENT_ITEMS=true "
                "(the check looks for the sent copy in Sent Items)"
            )
        return self

    @property
    def message_id_domain(self) -> str:
        """Right-hand side of our internetMessageIds: the mailbox's domain when known."""
        for address in (self.user_id, self.sender_address or ""):
            domain = address.rpartition("@")[2]
            if "@" in address and domain:
                return domain
        return "voicebus.local"

    @property
    def token_url(self) -> str:
        return f"{self.authority_url.rstrip('/')}/{self.tenant_id}/oauth2/v2.0/token"
