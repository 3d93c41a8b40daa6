"""Settings of the ServiceNow connector (env prefix ``VOICEBUS_SERVICENOW_``).

``INSTANCE_URL``   https://<instance>.service-now.com (no path, no credentials)
``AUTH``           basic | oauth_password | oauth_client_credentials | oauth_refresh_token
``USERNAME`` / ``PASSWORD``            basic auth and the OAuth password grant
``CLIENT_ID`` / ``CLIENT_SECRET``      OAuth application registry entry (oauth_*)
``REFRESH_TOKEN``                      oauth_refresh_token (rotated ones are kept in memory)
``INTEGRATION_USER``  the user our writes appear as (``sys_updated_by``); defaults to USERNAME.
                      Needed to tell our own changes from a person's in conflict detection.
``KB_KNOWLEDGE_BASE`` sys_id of the knowledge base drafts go to
``CATEGORY`` / ``URGENCY_BY_SENTIMENT`` / ``IMPACT_BY_INTENT``   incident field rules
``HTTP__*`` / ``RESILIENCE__*``        shared HTTP client and resilience settings

Validation errors never echo values (``hide_input_in_errors``).
"""

from __future__ import annotations

from enum import StrEnum
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator

from connectors.base.connector import ConnectorSettings
from connectors.base.settings import connector_settings_config
from pipeline.resilience.http import HttpClientSettings
from pipeline.resilience.target import ResilienceSettings


class AuthMode(StrEnum):
    BASIC = "basic"
    OAUTH_PASSWORD = "oauth_password"  # noqa: S105 - a mode name
    OAUTH_CLIENT_CREDENTIALS = "oauth_client_credentials"
    OAUTH_REFRESH_TOKEN = "oauth_refresh_token"  # noqa: S105 - a mode name


#: ServiceNow urgency / impact codes: 1 High, 2 Medium, 3 Low
DEFAULT_URGENCY_BY_SENTIMENT = {"NEGATIVE": 1, "MIXED": 2, "NEUTRAL": 3, "POSITIVE": 3}
DEFAULT_IMPACT_BY_INTENT = {"outage": 1, "cancellation": 2, "complaint": 2}


class ServiceNowSettings(ConnectorSettings):
    model_config = connector_settings_config("VOICEBUS_SERVICENOW_")

    instance_url: str
    auth: AuthMode = AuthMode.BASIC
    username: str | None = None
    password: SecretStr | None = None
    client_id: str | None = None
    client_secret: SecretStr | None = None
    refresh_token: SecretStr | None = None
    integration_user: str | None = None
    kb_knowledge_base: str | None = None
    category: str = "inquiry"
    default_impact: int = Field(default=3, ge=1, le=3)
    urgency_by_sentiment: dict[str, int] = Field(
        default_factory=lambda: dict(DEFAULT_URGENCY_BY_SENTIMENT)
    )
    impact_by_intent: dict[str, int] = Field(default_factory=lambda: dict(DEFAULT_IMPACT_BY_INTENT))
    #: resolution poller (``voicebus servicenow poll-resolutions``)
    tenant_id: str = "default"
    poll_interval_s: float = Field(default=60.0, gt=0)
    poller_state_path: str = ".voicebus/servicenow-poller.json"
    http: HttpClientSettings = Field(default_factory=HttpClientSettings)
    resilience: ResilienceSettings = Field(default_factory=ResilienceSettings)

    @field_validator("instance_url")
    @classmethod
    def _check_url(cls, url: str) -> str:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(
                "VOICEBUS_SERVICENOW_INSTANCE_URL must be an absolute URL such as "
                "https://acme.service-now.com"
            )
        if parts.username or parts.password or parts.query:
            raise ValueError(
                "VOICEBUS_SERVICENOW_INSTANCE_URL must not carry credentials or a query; use "
                "VOICEBUS_SERVICENOW_USERNAME/PASSWORD or the OAuth settings"
            )
        return url.rstrip("/")

    @model_validator(mode="after")
    def _check_auth(self) -> ServiceNowSettings:
        need: list[str] = []
        if self.auth in (AuthMode.BASIC, AuthMode.OAUTH_PASSWORD):
            need += [n for n in ("username", "password") if getattr(self, n) is None]
        if self.auth is not AuthMode.BASIC:
            need += [n for n in ("client_id", "client_secret") if getattr(self, n) is None]
        if self.auth is AuthMode.OAUTH_REFRESH_TOKEN and self.refresh_token is None:
            need.append("refresh_token")
        if need:
            names = ", ".join(f"VOICEBUS_SERVICENOW_{n.upper()}" for n in need)
            raise ValueError(f"auth mode {self.auth.value} needs {names}")
        return self

    @property
    def token_url(self) -> str:
        return f"{self.instance_url}/oauth_token.do"

    @property
    def our_user(self) -> str | None:
        """The user name our writes carry in ``sys_updated_by`` (None when unknown)."""
        if self.integration_user:
            return self.integration_user
        if self.auth in (AuthMode.BASIC, AuthMode.OAUTH_PASSWORD):
            return self.username
        return None
