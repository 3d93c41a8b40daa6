"""Settings of the Teams connector (env prefix ``VOICEBUS_TEAMS_``).

``VOICEBUS_TEAMS_WEBHOOKS``        JSON object channel name -> Workflows / incoming webhook
                                   URL, e.g. ``{"support": "https://prod-12.westus.logic..."}``.
                                   The URLs are secrets (they carry a signature): SecretStr,
                                   never logged, only their host appears in errors.
``VOICEBUS_TEAMS_DEFAULT_CHANNEL`` channel name used when the rule gives no ``hints.channel``
``VOICEBUS_TEAMS_TRANSPORT``       ``webhook`` (default) or ``graph``
``VOICEBUS_TEAMS_GRAPH_BASE_URL``  default ``https://graph.microsoft.com/v1.0``
``VOICEBUS_TEAMS_GRAPH_CHANNELS``  JSON object channel name -> ``<team-id>/<channel-id>``
Graph needs a *delegated* token (ChannelMessage.Send), so a person consents once (README):
``VOICEBUS_TEAMS_GRAPH_TENANT_ID``, ``..._GRAPH_CLIENT_ID``, ``..._GRAPH_CLIENT_SECRET``
                                   (only for a confidential client; none for a public one),
``VOICEBUS_TEAMS_GRAPH_REFRESH_TOKEN`` the refresh token from that consent; rotated ones are
                                   saved in ``VOICEBUS_TEAMS_GRAPH_CREDENTIALS_PATH`` (which
                                   wins over the variable once it holds one),
``VOICEBUS_TEAMS_GRAPH_SCOPE``     default ``https://graph.microsoft.com/ChannelMessage.Send
                                   offline_access``, ``VOICEBUS_TEAMS_AUTHORITY_URL``.
``VOICEBUS_TEAMS_GRAPH_TOKEN``     instead: a fixed delegated access token (no refresh; re-read
                                   from the environment after a 401; it expires in ~1 h)
``VOICEBUS_TEAMS_CALL_URL_TEMPLATE`` optional ``https://.../calls/{call_id}``: adds an
                                   "Open call" button to cards
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator

from connectors.base.connector import ConnectorSettings
from connectors.base.settings import connector_settings_config
from pipeline.resilience.http import HttpClientSettings
from pipeline.resilience.target import ResilienceSettings

GRAPH_DELEGATED_SCOPE = "https://graph.microsoft.com/ChannelMessage.Send offline_access"


class TeamsTransport(StrEnum):
    WEBHOOK = "webhook"
    GRAPH = "graph"


class TeamsSettings(ConnectorSettings):
    model_config = connector_settings_config("VOICEBUS_TEAMS_")

    webhooks: dict[str, SecretStr] = Field(default_factory=dict)
    default_channel: str | None = None
    transport: TeamsTransport = TeamsTransport.WEBHOOK
    graph_base_url: str = "https://graph.microsoft.com/v1.0"
    graph_token: SecretStr | None = None
    graph_tenant_id: str | None = None
    graph_client_id: str | None = None
    graph_client_secret: SecretStr | None = None
    graph_refresh_token: SecretStr | None = None
    graph_credentials_path: Path | None = None
    graph_scope: str = GRAPH_DELEGATED_SCOPE
    authority_url: str = "https://login.microsoftonline.com"
    graph_channels: dict[str, str] = Field(default_factory=dict)
    call_url_template: str | None = None
    http: HttpClientSettings = Field(default_factory=HttpClientSettings)
    resilience: ResilienceSettings = Field(default_factory=ResilienceSettings)

    @field_validator("webhooks")
    @classmethod
    def _check_webhooks(cls, hooks: dict[str, SecretStr]) -> dict[str, SecretStr]:
        for name, url in hooks.items():
            parts = urlsplit(url.get_secret_value())
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError(
                    f"VOICEBUS_TEAMS_WEBHOOKS[{name!r}] is not an absolute http(s) URL (copy "
                    "the URL the Teams Workflow / incoming webhook shows)"
                )
        return hooks

    @field_validator("graph_channels")
    @classmethod
    def _check_graph_channels(cls, channels: dict[str, str]) -> dict[str, str]:
        for name, ref in channels.items():
            if ref.count("/") != 1 or not all(ref.split("/")):
                raise ValueError(
                    f"VOICEBUS_TEAMS_GRAPH_CHANNELS[{name!r}] must be '<team-id>/<channel-id>'"
                )
        return channels

    @model_validator(mode="after")
    def _transport_configured(self) -> TeamsSettings:
        if self.transport is TeamsTransport.WEBHOOK and not self.webhooks:
            raise ValueError('set VOICEBUS_TEAMS_WEBHOOKS ({"channel": "https://..."})')
        oauth = [self.graph_tenant_id, self.graph_client_id]
        grant = self.graph_refresh_token is not None or self.graph_credentials_path is not None
        if any(oauth) or grant:
            missing = [
                f"VOICEBUS_TEAMS_GRAPH_{name}"
                for name, value in (
                    ("TENANT_ID", self.graph_tenant_id),
                    ("CLIENT_ID", self.graph_client_id),
                    ("REFRESH_TOKEN (or _CREDENTIALS_PATH)", grant),
                )
                if not value
            ]
            if missing:
                raise ValueError(
                    "the Graph refresh-token grant needs " + ", ".join(missing) + " (see the "
                    "one-time consent step in connectors/teams/README.md)"
                )
        if self.transport is TeamsTransport.GRAPH and (
            (self.graph_token is None and not grant) or not self.graph_channels
        ):
            raise ValueError(
                "transport graph needs a delegated ChannelMessage.Send token: "
                "VOICEBUS_TEAMS_GRAPH_REFRESH_TOKEN + _GRAPH_TENANT_ID + _GRAPH_CLIENT_ID "
                "(or a fixed VOICEBUS_TEAMS_GRAPH_TOKEN), and VOICEBUS_TEAMS_GRAPH_CHANNELS"
            )
        return self

    @property
    def graph_refreshes(self) -> bool:
        """True when Graph tokens come from the refresh-token grant (else a fixed token)."""
        return self.graph_refresh_token is not None or self.graph_credentials_path is not None

    @property
    def graph_token_url(self) -> str:
        return f"{self.authority_url.rstrip('/')}/{self.graph_tenant_id}/oauth2/v2.0/token"

    def channels(self) -> list[str]:
        source: dict[str, Any] = (
            dict(self.webhooks) if self.transport is TeamsTransport.WEBHOOK else self.graph_channels
        )
        return sorted(source)
