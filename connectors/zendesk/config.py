"""Settings of the Zendesk Support connector (env prefix ``VOICEBUS_ZENDESK_``).

``VOICEBUS_ZENDESK_BASE_URL``        ``https://<subdomain>.zendesk.com`` (or a sandbox URL)
``VOICEBUS_ZENDESK_EMAIL`` + ``VOICEBUS_ZENDESK_API_TOKEN``   API token auth
                                      (basic ``{email}/token:{api_token}``), or
``VOICEBUS_ZENDESK_OAUTH_TOKEN``     an OAuth access token (``Authorization: Bearer``)
``VOICEBUS_ZENDESK_PRIORITY_MAP``    JSON ``{"NEGATIVE": "high", "intent:complaint": "urgent"}``
``VOICEBUS_ZENDESK_STATUS_MAP``      JSON ``{"resolved": "solved", "escalated": "open"}``
``VOICEBUS_ZENDESK_CUSTOM_FIELDS``   JSON ``{"360001": "call.queue"}`` (field id -> event path)
``VOICEBUS_ZENDESK_DUPLICATE_RULE``  ``oldest`` | ``newest`` | ``dead_letter`` (several tickets
                                      share the call's external_id)

Validation errors never echo values (``hide_input_in_errors``).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator

from connectors.base.connector import ConnectorSettings
from connectors.base.settings import connector_settings_config
from pipeline.resilience.http import HttpClientSettings
from pipeline.resilience.target import ResilienceSettings

TICKET_STATUSES = ("new", "open", "pending", "hold", "solved", "closed")
TICKET_PRIORITIES = ("low", "normal", "high", "urgent")


class DuplicateRule(StrEnum):
    """What to do when several tickets carry the call's external_id (Zendesk does not
    enforce uniqueness): use the oldest, the newest, or dead-letter the record."""

    OLDEST = "oldest"
    NEWEST = "newest"
    DEAD_LETTER = "dead_letter"


class TicketLookup(StrEnum):
    """How tickets are found by external_id: the search API (default; note Zendesk's search
    index lags a little behind writes) or the ticket list filter (consistent)."""

    SEARCH = "search"
    LIST = "list"


class ZendeskSettings(ConnectorSettings):
    model_config = connector_settings_config("VOICEBUS_ZENDESK_")

    base_url: str
    email: str | None = None
    api_token: SecretStr | None = None
    oauth_token: SecretStr | None = None
    #: event facts -> ticket priority; keys ``intent:<name>`` beat sentiment keys
    priority_map: dict[str, str] = Field(
        default_factory=lambda: {
            "intent:complaint": "high",
            "intent:cancellation": "high",
            "NEGATIVE": "high",
            "MIXED": "normal",
            "NEUTRAL": "normal",
            "POSITIVE": "low",
        }
    )
    #: call disposition -> ticket status set by later events of the call
    status_map: dict[str, str] = Field(
        default_factory=lambda: {"resolved": "solved", "callback_scheduled": "pending"}
    )
    #: custom field id -> dotted event path (``call.queue``, ``payload.sentiment``)
    custom_fields: dict[int, str] = Field(default_factory=dict)
    default_tags: list[str] = Field(default_factory=lambda: ["voicebus", "voice_call"])
    subject_template: str = "Call {call_id}: {intent}"
    transcript_url_template: str | None = None
    #: attribute of ``customer.open_ticket`` (business events) holding a Zendesk ticket id:
    #: the call is linked to the caller's open ticket instead of opening one; None = never
    open_ticket_attribute: str | None = "zendesk_ticket_id"
    duplicate_rule: DuplicateRule = DuplicateRule.OLDEST
    ticket_lookup: TicketLookup = TicketLookup.SEARCH
    #: create_many / update_many job polling
    job_poll_interval_s: float = Field(default=0.05, gt=0)
    job_poll_max_interval_s: float = Field(default=2.0, gt=0)
    job_timeout_s: float = Field(default=60.0, gt=0)
    batch_size: int = Field(default=100, ge=1, le=100)
    http: HttpClientSettings = Field(default_factory=HttpClientSettings)
    resilience: ResilienceSettings = Field(default_factory=ResilienceSettings)

    @field_validator("base_url")
    @classmethod
    def _check_url(cls, url: str) -> str:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(
                "VOICEBUS_ZENDESK_BASE_URL must be an absolute URL such as https://acme.zendesk.com"
            )
        if parts.username or parts.password or parts.query:
            raise ValueError(
                "VOICEBUS_ZENDESK_BASE_URL must not carry credentials or a query; use "
                "VOICEBUS_ZENDESK_EMAIL/API_TOKEN or VOICEBUS_ZENDESK_OAUTH_TOKEN"
            )
        return url.rstrip("/")

    @field_validator("priority_map")
    @classmethod
    def _check_priorities(cls, mapping: dict[str, str]) -> dict[str, str]:
        for key, value in mapping.items():
            if value not in TICKET_PRIORITIES:
                raise ValueError(
                    f"VOICEBUS_ZENDESK_PRIORITY_MAP[{key!r}] must be one of "
                    f"{', '.join(TICKET_PRIORITIES)}"
                )
        return mapping

    @field_validator("status_map")
    @classmethod
    def _check_statuses(cls, mapping: dict[str, str]) -> dict[str, str]:
        for key, value in mapping.items():
            if value not in TICKET_STATUSES:
                raise ValueError(
                    f"VOICEBUS_ZENDESK_STATUS_MAP[{key!r}] must be one of "
                    f"{', '.join(TICKET_STATUSES)}"
                )
        return mapping

    @model_validator(mode="after")
    def _one_auth(self) -> Any:
        token_auth = self.email is not None or self.api_token is not None
        if token_auth and (not self.email or self.api_token is None):
            raise ValueError(
                "API token auth needs both VOICEBUS_ZENDESK_EMAIL and VOICEBUS_ZENDESK_API_TOKEN"
            )
        if token_auth == (self.oauth_token is not None):
            raise ValueError(
                "configure exactly one auth: VOICEBUS_ZENDESK_EMAIL + VOICEBUS_ZENDESK_API_TOKEN "
                "(API token) or VOICEBUS_ZENDESK_OAUTH_TOKEN (OAuth bearer)"
            )
        return self
