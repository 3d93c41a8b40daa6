"""The webhook connector: every ``sync.webhook`` event POSTed, signed per Standard
Webhooks, to each configured endpoint.

Webhooks have no upsert key, so duplicates are prevented by the sync ledger (one entry per
event and endpoint) and, at the receiver, by ``webhook-id`` (= event_id, the same on every
retry).  ``refresh_credentials`` re-reads the secrets from the environment, so rotating them
after a 401 needs no restart.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import ClassVar

import httpx

from connectors.base.connector import Connector, DeliveryResult, Operation, SyncRecord
from connectors.base.errors import AuthError
from connectors.base.settings import reload_settings
from connectors.webhook.auth import SecretFormatError, WebhookSigner
from connectors.webhook.client import WebhookClient
from connectors.webhook.config import WebhookSettings
from connectors.webhook.mapping import map_record
from pipeline.resilience.ratelimit import TokenBucket
from pipeline.resilience.target import ResilienceSettings


def _load_settings() -> WebhookSettings:
    return WebhookSettings()  # fields come from the environment


class WebhookConnector(Connector):
    name: ClassVar[str] = "webhook"
    version: ClassVar[str] = "0.1.0"
    natural_upsert: ClassVar[bool] = False

    def __init__(
        self,
        settings: WebhookSettings | None = None,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        reload_settings: Callable[[], WebhookSettings] = _load_settings,
        observe_headers: Callable[[Mapping[str, str]], object] | None = None,
    ) -> None:
        self.settings = settings if settings is not None else reload_settings()
        self._reload_settings = reload_settings
        self.signer = WebhookSigner(self.settings.secrets)
        self.client = WebhookClient(
            self.settings.urls,
            self.signer,
            self.settings.http,
            transport=transport,
            observe_headers=observe_headers,
            user_agent=f"voicebus-webhook/{self.version}",
        )
        self.credential_refreshes = 0

    @property
    def resilience_settings(self) -> ResilienceSettings:
        return self.settings.resilience

    def bind_rate_limiter(self, bucket: TokenBucket) -> None:
        """Let the receiver's rate-limit headers (Retry-After, X-RateLimit-*) slow the
        shared token bucket (called by ``pipeline.sinks.delivery.make_deliverer``)."""
        self.client.observe_headers = bucket.observe_headers

    def map_record(self, record: SyncRecord) -> list[Operation]:
        return map_record(record, self.client.endpoints)

    async def deliver(self, operation: Operation) -> DeliveryResult:
        payload = operation.payload
        response = await self.client.post(
            str(payload["endpoint"]), str(payload["webhook_id"]), str(payload["body"]).encode()
        )
        return DeliveryResult(
            external_id=None,
            detail={"status": response.status_code, "endpoint": payload["endpoint"]},
        )

    async def refresh_credentials(self) -> None:
        """Reload the signing secrets (an operator may have rotated them after a 401)."""
        self.credential_refreshes += 1
        fresh = reload_settings(self._reload_settings, "webhook")
        try:
            self.signer.load(fresh.secrets)
        except SecretFormatError as exc:
            raise AuthError(f"VOICEBUS_WEBHOOK_SECRETS {exc}") from None

    async def aclose(self) -> None:
        await self.client.aclose()


def create_connector(settings: WebhookSettings | None = None) -> WebhookConnector:
    """Factory used by the sink runtime (``voicebus sink webhook``)."""
    return WebhookConnector(settings)
