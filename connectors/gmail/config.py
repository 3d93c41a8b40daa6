"""Settings of the Gmail + Google Calendar connector (env prefix ``VOICEBUS_GMAIL_``).

Auth (one of):

- ``AUTH_FLOW=refresh_token``: ``CLIENT_ID``, ``CLIENT_SECRET``, ``REFRESH_TOKEN`` of a user
  who authorised the app once (scopes gmail.send + calendar.events); rotated refresh tokens
  are persisted in ``CREDENTIALS_PATH`` when set.
- ``AUTH_FLOW=service_account``: ``SERVICE_ACCOUNT_EMAIL`` + ``PRIVATE_KEY`` (PEM) with
  domain-wide delegation; ``SUBJECT`` is the Workspace user to send as.

``USER_ID`` (default ``me``), ``CALENDAR_ID`` (default ``primary``), ``SENDER_ADDRESS`` /
``SENDER_NAME`` (the From header), ``TEMPLATE_DIR``, ``FOLLOW_UP_TEMPLATE``,
``MEETING_TEMPLATE``, ``EXTRA_TEMPLATES`` (names a routing hint ``template`` may pick),
``MEETING_TIME`` (HH:MM), ``MEETING_DURATION_MIN``, ``MEETING_TIMEZONE`` (IANA),
``OWNER_EMAIL`` (meeting attendee when the action item names none), ``TRANSCRIPT_URL_TEMPLATE``,
``VERIFY_SENT`` (look for the Message-ID in the mailbox before sending; gmail.readonly scope).
``API_BASE_URL`` / ``CALENDAR_BASE_URL`` / ``TOKEN_URL`` point at the sandbox in tests.
"""

from __future__ import annotations

from datetime import time
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import NoDecode

from connectors.base.connector import ConnectorSettings
from connectors.base.settings import connector_settings_config, split_env_list
from pipeline.resilience.http import HttpClientSettings
from pipeline.resilience.target import ResilienceSettings

DEFAULT_TEMPLATE_DIR = Path(__file__).resolve().parents[2] / "config" / "templates"
GMAIL_SCOPES = (
    "https://www.googleapis.com/auth/gmail.send https://www.googleapis.com/auth/calendar.events"
)


class GoogleAuthFlow(StrEnum):
    REFRESH_TOKEN = "refresh_token"  # noqa: S105 - a grant name
    SERVICE_ACCOUNT = "service_account"


class MailSettings(ConnectorSettings):
    """What both e-mail connectors (Gmail, Outlook) share: templates and meeting defaults."""

    sender_address: str | None = None
    sender_name: str = "Customer Care"
    template_dir: Path = DEFAULT_TEMPLATE_DIR
    follow_up_template: str = "call-follow-up"
    meeting_template: str = "meeting"
    extra_templates: Annotated[list[str], NoDecode] = Field(default_factory=list)
    create_meetings: bool = True
    meeting_time: time = time(10, 0)
    meeting_duration_min: int = Field(default=30, ge=5, le=24 * 60)
    meeting_timezone: str = "UTC"
    owner_email: str | None = None
    transcript_url_template: str | None = Field(
        default=None, description="e.g. https://voice.example.com/calls/{call_id}/transcript"
    )
    #: attach the recording only below this size (bytes); otherwise link it in the body
    max_recording_attachment_bytes: int = Field(default=10 * 1024 * 1024, ge=0)
    http: HttpClientSettings = Field(default_factory=HttpClientSettings)
    resilience: ResilienceSettings = Field(default_factory=ResilienceSettings)

    @field_validator("extra_templates", mode="before")
    @classmethod
    def _parse_templates(cls, value: Any) -> Any:
        return split_env_list(value)

    @field_validator("meeting_timezone")
    @classmethod
    def _check_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                "MEETING_TIMEZONE is not an IANA time zone name (e.g. Europe/Berlin)"
            ) from None
        return value

    @property
    def template_names(self) -> list[str]:
        return [self.follow_up_template, self.meeting_template, *self.extra_templates]


class GmailSettings(MailSettings):
    model_config = connector_settings_config("VOICEBUS_GMAIL_")

    auth_flow: GoogleAuthFlow = GoogleAuthFlow.REFRESH_TOKEN
    client_id: str | None = None
    client_secret: SecretStr | None = None
    refresh_token: SecretStr | None = None
    credentials_path: Path | None = None
    service_account_email: str | None = None
    private_key: SecretStr | None = None
    subject: str | None = None
    scopes: str = GMAIL_SCOPES

    #: look the e-mail up in the mailbox (by its Message-ID) before every send, closing the
    #: window "sent, but crashed before the ledger write"; one extra call per e-mail and the
    #: gmail.readonly scope (add it to SCOPES)
    verify_sent: bool = False
    user_id: str = "me"
    calendar_id: str = "primary"
    api_base_url: str = "https://gmail.googleapis.com"
    calendar_base_url: str = "https://www.googleapis.com"
    token_url: str = "https://oauth2.googleapis.com/token"  # noqa: S105 - a URL

    @model_validator(mode="after")
    def _check_auth(self) -> GmailSettings:
        if self.auth_flow is GoogleAuthFlow.REFRESH_TOKEN:
            missing = [
                name
                for name in ("client_id", "client_secret", "refresh_token")
                if not getattr(self, name)
            ]
        else:
            missing = [
                name
                for name in ("service_account_email", "private_key", "subject")
                if not getattr(self, name)
            ]
        if missing:
            names = ", ".join(f"VOICEBUS_GMAIL_{m.upper()}" for m in missing)
            raise ValueError(f"auth flow {self.auth_flow.value} needs {names}")
        return self
