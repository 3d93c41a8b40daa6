"""Settings of the Slack connector (env prefix ``VOICEBUS_SLACK_``).

``VOICEBUS_SLACK_BOT_TOKEN``          bot token ``xoxb-...`` (chat:write scope)
``VOICEBUS_SLACK_BASE_URL``           Web API base, default ``https://slack.com/api``
``VOICEBUS_SLACK_DEFAULT_CHANNEL``    channel used when the routing rule gives no
                                      ``hints.channel``
``VOICEBUS_SLACK_CHANNEL_RATE_PER_S`` messages per second per channel; default 0.9: Slack
                                      allows about 1, and 10% headroom keeps network
                                      jitter from landing two posts in one Slack second;
                                      0 = no per-channel limit
``VOICEBUS_SLACK_SIGNING_SECRET``     slash commands: the app's signing secret
``VOICEBUS_SLACK_OPERATORS``          slash commands: Slack user ids allowed to ``replay``

Validation errors never echo values (``hide_input_in_errors``).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import NoDecode

from connectors.base.connector import ConnectorSettings
from connectors.base.settings import connector_settings_config, split_env_list
from pipeline.resilience.http import HttpClientSettings
from pipeline.resilience.target import ResilienceSettings


class SlackSettings(ConnectorSettings):
    model_config = connector_settings_config("VOICEBUS_SLACK_")

    bot_token: SecretStr
    base_url: str = "https://slack.com/api"
    default_channel: str | None = None
    channel_rate_per_s: float = Field(default=0.9, ge=0)
    channel_burst: int = Field(default=1, ge=1)
    signing_secret: SecretStr | None = None
    operators: Annotated[list[str], NoDecode] = Field(default_factory=list)
    http: HttpClientSettings = Field(default_factory=HttpClientSettings)
    resilience: ResilienceSettings = Field(default_factory=ResilienceSettings)

    @field_validator("operators", mode="before")
    @classmethod
    def _parse_operators(cls, value: Any) -> Any:
        return split_env_list(value)

    @field_validator("bot_token")
    @classmethod
    def _check_token(cls, token: SecretStr) -> SecretStr:
        if not token.get_secret_value().strip():
            raise ValueError("VOICEBUS_SLACK_BOT_TOKEN is empty; set the app's xoxb- bot token")
        return token

    @field_validator("base_url")
    @classmethod
    def _check_base_url(cls, url: str) -> str:
        if not url.startswith(("http://", "https://")):
            raise ValueError(
                "VOICEBUS_SLACK_BASE_URL must be an absolute http(s) URL, "
                "e.g. https://slack.com/api"
            )
        return url.rstrip("/")
