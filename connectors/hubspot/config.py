"""Settings of the HubSpot connector (env prefix ``VOICEBUS_HUBSPOT_``).

Credentials (one of the two):

``VOICEBUS_HUBSPOT_ACCESS_TOKEN``   private-app token (``pat-...``), sent as a Bearer token.
``VOICEBUS_HUBSPOT_CLIENT_ID`` / ``_CLIENT_SECRET`` / ``_REFRESH_TOKEN``  OAuth app; access
                                    tokens are refreshed ahead of ``expires_in`` (HubSpot says
                                    a 401 is not the signal to refresh).

Mapping (see README.md): ``CALL_ID_PROPERTY`` / ``TASK_ID_PROPERTY`` (unique custom
properties that make writes idempotent), ``DISPOSITIONS`` (JSON: our disposition -> HubSpot
disposition GUID), ``SENTIMENT_PROPERTY`` / ``INTENTS_PROPERTY`` (contact properties, empty =
off), ``OWNER_IDS`` (JSON: action-item owner -> HubSpot owner id), ``TRANSCRIPT_URL_TEMPLATE``.

Throughput: ``REQUESTS_PER_S`` / ``BURST`` (client-side bucket for every API call, fed by the
``X-HubSpot-RateLimit-*`` headers), ``SEARCH_REQUESTS_PER_S`` (search has its own, lower limit),
``RESILIENCE__*`` (runtime retries/breaker), ``HTTP__*`` (timeouts).

Validation errors never echo the values (``hide_input_in_errors``).
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, SecretStr, field_validator, model_validator

from connectors.base.connector import ConnectorSettings
from connectors.base.settings import connector_settings_config
from pipeline.resilience.http import HttpClientSettings
from pipeline.resilience.target import ResilienceSettings

#: HubSpot's default call outcomes (GET /calling/v1/dispositions in a fresh portal).
HUBSPOT_DISPOSITIONS = {
    "busy": "9d9162e7-6cf3-4944-bf63-4dff82258764",
    "connected": "f240bbac-87c9-4f6e-bf70-924b57d47db7",
    "left_live_message": "a4c4c377-d246-4b32-a13b-75a56a4cd0ff",
    "left_voicemail": "b2cf5968-551e-4856-9783-52b3da59a7d0",
    "no_answer": "73a0d17f-1163-4015-bdd5-ec830791da20",
    "wrong_number": "17b47fee-58de-441e-a44c-c6300d46f273",
}

DEFAULT_DISPOSITIONS = {
    "resolved": HUBSPOT_DISPOSITIONS["connected"],
    "escalated": HUBSPOT_DISPOSITIONS["connected"],
    "callback_scheduled": HUBSPOT_DISPOSITIONS["connected"],
    "transferred": HUBSPOT_DISPOSITIONS["connected"],
    "voicemail": HUBSPOT_DISPOSITIONS["left_voicemail"],
    "no_answer": HUBSPOT_DISPOSITIONS["no_answer"],
    "busy": HUBSPOT_DISPOSITIONS["busy"],
    "wrong_number": HUBSPOT_DISPOSITIONS["wrong_number"],
}

DEFAULT_CALL_EVENT_TYPES = ["call_started", "call_ended", "call_summary", "recording_available"]


class HubSpotSettings(ConnectorSettings):
    model_config = connector_settings_config("VOICEBUS_HUBSPOT_")

    base_url: str = "https://api.hubapi.com"
    access_token: SecretStr | None = None
    client_id: str | None = None
    client_secret: SecretStr | None = None
    refresh_token: SecretStr | None = None
    token_path: str = "/oauth/v1/token"  # noqa: S105 - an endpoint path, not a secret
    credential_store: str | None = Field(
        default=None, description="0600 file where rotated OAuth tokens are persisted"
    )

    call_id_property: str = Field(default="voicebus_call_id", min_length=1)
    task_id_property: str = Field(default="voicebus_task_id", min_length=1)
    dispositions: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_DISPOSITIONS))
    sentiment_property: str | None = "voicebus_last_call_sentiment"
    intents_property: str | None = "voicebus_last_call_intents"
    owner_ids: dict[str, str] = Field(default_factory=dict)
    default_owner_id: str | None = None
    task_priority: str = "MEDIUM"
    task_due_days: int = Field(default=1, ge=0, description="due date when an item has none")
    transcript_url_template: str | None = Field(
        default=None, description="e.g. https://voice.example.com/calls/{call_id}/transcript"
    )
    call_event_types: list[str] = Field(default_factory=lambda: list(DEFAULT_CALL_EVENT_TYPES))

    requests_per_s: float = Field(default=10.0, ge=0, description="0 = no client-side limit")
    burst: int = Field(default=10, ge=1)
    search_requests_per_s: float = Field(default=4.0, ge=0)
    contact_cache_ttl_s: float = Field(default=300.0, ge=0)

    http: HttpClientSettings = Field(default_factory=HttpClientSettings)
    resilience: ResilienceSettings = Field(default_factory=ResilienceSettings)

    @field_validator("dispositions", "owner_ids", mode="before")
    @classmethod
    def _json_map(cls, value: Any) -> Any:
        if isinstance(value, str):
            import json

            return json.loads(value)
        return value

    @field_validator("dispositions")
    @classmethod
    def _lower_keys(cls, value: dict[str, str]) -> dict[str, str]:
        return {k.strip().lower(): v for k, v in value.items()}

    @field_validator("task_priority")
    @classmethod
    def _priority(cls, value: str) -> str:
        if value.upper() not in ("LOW", "MEDIUM", "HIGH", "NONE"):
            raise ValueError("VOICEBUS_HUBSPOT_TASK_PRIORITY must be LOW, MEDIUM, HIGH or NONE")
        return value.upper()

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(
                "VOICEBUS_HUBSPOT_BASE_URL must be an absolute http(s) URL "
                "(https://api.hubapi.com in production)"
            )
        return value.rstrip("/")

    @model_validator(mode="after")
    def _credentials(self) -> HubSpotSettings:
        oauth = (self.client_id, self.client_secret, self.refresh_token)
        if self.access_token is None and not all(oauth):
            raise ValueError(
                "no HubSpot credentials: set VOICEBUS_HUBSPOT_ACCESS_TOKEN (private app) or "
                "VOICEBUS_HUBSPOT_CLIENT_ID, _CLIENT_SECRET and _REFRESH_TOKEN (OAuth app)"
            )
        return self

    @property
    def uses_oauth(self) -> bool:
        return self.access_token is None
