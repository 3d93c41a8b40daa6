"""Settings of the webhook connector (env prefix ``VOICEBUS_WEBHOOK_``).

``VOICEBUS_WEBHOOK_URLS``     comma-separated or JSON list of http(s) endpoints; every event
                              goes to each of them.
``VOICEBUS_WEBHOOK_SECRETS``  comma-separated or JSON list of ``whsec_<base64>`` signing
                              secrets; every request is signed with each (rotation).
``VOICEBUS_WEBHOOK_HTTP__READ_TIMEOUT_S`` etc.  timeouts and pool limits.
``VOICEBUS_WEBHOOK_RESILIENCE__RATE_PER_S`` etc.  retries, rate limit, circuit breaker.

Validation errors never echo the values (``hide_input_in_errors``): a secret pasted into
the wrong variable must not end up in a log.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import NoDecode

from connectors.base.connector import ConnectorSettings
from connectors.base.settings import connector_settings_config, split_env_list
from connectors.webhook.auth import decode_secret
from pipeline.resilience.http import HttpClientSettings
from pipeline.resilience.target import ResilienceSettings


class WebhookSettings(ConnectorSettings):
    model_config = connector_settings_config("VOICEBUS_WEBHOOK_")

    urls: Annotated[list[str], NoDecode] = Field(min_length=1)
    secrets: Annotated[list[SecretStr], NoDecode] = Field(min_length=1)
    http: HttpClientSettings = Field(default_factory=HttpClientSettings)
    resilience: ResilienceSettings = Field(default_factory=ResilienceSettings)

    @field_validator("urls", mode="before")
    @classmethod
    def _parse_urls(cls, value: Any) -> Any:
        return split_env_list(value)

    @field_validator("secrets", mode="before")
    @classmethod
    def _parse_secrets(cls, value: Any) -> Any:
        return split_env_list(value)

    @field_validator("urls")
    @classmethod
    def _check_urls(cls, urls: list[str]) -> list[str]:
        for position, url in enumerate(urls, start=1):
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError(
                    f"VOICEBUS_WEBHOOK_URLS entry #{position} is not an absolute http(s) URL "
                    "(expected e.g. https://example.com/hooks/voicebus)"
                )
            if parts.username or parts.password:
                raise ValueError(
                    f"VOICEBUS_WEBHOOK_URLS entry #{position} embeds credentials; webhooks are "
                    "authenticated by their signature, remove the user:password part"
                )
        return urls

    @field_validator("secrets")
    @classmethod
    def _check_secrets(cls, secrets: list[SecretStr]) -> list[SecretStr]:
        for position, secret in enumerate(secrets):
            try:
                decode_secret(secret.get_secret_value(), position=position)
            except ValueError as exc:
                raise ValueError(f"VOICEBUS_WEBHOOK_SECRETS {exc}") from None
        return secrets
