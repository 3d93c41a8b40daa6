"""Settings of the Outlook connector (Microsoft Graph v1.0; env prefix ``VOICEBUS_OUTLOOK_``).

App-only auth (client credentials): ``TENANT_ID``, ``CLIENT_ID``, ``CLIENT_SECRET`` of an
Entra app with the ``Mail.Send`` and ``Calendars.ReadWrite`` application permissions (limit
it to the mailbox with an application access policy).  ``USER_ID`` is the mailbox that sends
(UPN or object id).  Template and meeting settings are the same as Gmail's
(``connectors.gmail.config.MailSettings``).  ``GRAPH_BASE_URL`` / ``AUTHORITY_URL`` point at
the sandbox in tests.  ``UPLOAD_SESSION_THRESHOLD_BYTES`` (3 MB, Graph's limit for inline
attachments) and ``UPLOAD_CHUNK_BYTES`` (a multiple of 320 KiB) tune large attachments.
"""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator

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

    @field_validator("upload_chunk_bytes")
    @classmethod
    def _check_chunk(cls, value: int) -> int:
        if value % CHUNK_UNIT:
            raise ValueError("UPLOAD_CHUNK_BYTES must be a multiple of 327680 (320 KiB)")
        return value

    @property
    def token_url(self) -> str:
        return f"{self.authority_url.rstrip('/')}/{self.tenant_id}/oauth2/v2.0/token"
