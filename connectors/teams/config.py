"""Settings of the Teams connector (env prefix ``VOICEBUS_TEAMS_``).

``VOICEBUS_TEAMS_WEBHOOKS``        JSON object channel name -> Workflows / incoming webhook
                                   URL, e.g. ``{"support": "https://prod-12.westus.logic..."}``.
                                   The URLs are secrets (they carry a signature): SecretStr,
                                   never logged, only their host appears in errors.
``VOICEBUS_TEAMS_DEFAULT_CHANNEL`` channel name used when the rule gives no ``hints.channel``
``VOICEBUS_TEAMS_TRANSPORT``       ``webhook`` (default) or ``graph``
``VOICEBUS_TEAMS_GRAPH_BASE_URL``  default ``https://graph.microsoft.com/v1.0``
``VOICEBUS_TEAMS_GRAPH_TOKEN``     delegated bearer token with ChannelMessage.Send (graph only)
``VOICEBUS_TEAMS_GRAPH_CHANNELS``  JSON object channel name -> ``<team-id>/<channel-id>``
``VOICEBUS_TEAMS_CALL_URL_TEMPLATE`` optional ``https://.../calls/{call_id}``: adds an
                                   "Open call" button to cards
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
        if self.transport is TeamsTransport.GRAPH and (
            self.graph_token is None or not self.graph_channels
        ):
            raise ValueError(
                "transport graph needs VOICEBUS_TEAMS_GRAPH_TOKEN (delegated, "
                "ChannelMessage.Send) and VOICEBUS_TEAMS_GRAPH_CHANNELS"
            )
        return self

    def channels(self) -> list[str]:
        source: dict[str, Any] = (
            dict(self.webhooks) if self.transport is TeamsTransport.WEBHOOK else self.graph_channels
        )
        return sorted(source)
