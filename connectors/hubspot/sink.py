"""The HubSpot connector: call engagements (upserted on a unique call-id property),
associations to the caller's contact and open deal, contact insights, follow-up tasks and
deal stage moves.

``natural_upsert``: the call engagement and the tasks carry unique properties, so HubSpot
itself refuses a second copy even when the sync ledger is lost.  ``deliver_batch`` uses the
batch endpoints (100 inputs a call) and maps HubSpot's 207 answers to per-operation outcomes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import ClassVar

import httpx
from pydantic import SecretStr

from connectors.base.connector import Connector, DeliveryResult, Operation, SyncRecord
from connectors.base.errors import AuthError, ConnectorError
from connectors.hubspot.auth import build_auth
from connectors.hubspot.client import HubSpotClient
from connectors.hubspot.config import HubSpotSettings
from connectors.hubspot.mapping import map_record
from connectors.hubspot.writer import HubSpotWriter
from pipeline.resilience.http import make_http_client
from pipeline.resilience.target import ResilienceSettings


def _load_settings() -> HubSpotSettings:
    return HubSpotSettings()  # fields come from the environment


class HubSpotConnector(Connector):
    name: ClassVar[str] = "hubspot"
    version: ClassVar[str] = "0.1.0"
    natural_upsert: ClassVar[bool] = True

    def __init__(
        self,
        settings: HubSpotSettings | None = None,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        reload_settings: Callable[[], HubSpotSettings] = _load_settings,
        auth: httpx.Auth | None = None,
    ) -> None:
        self.settings = settings if settings is not None else reload_settings()
        self._reload_settings = reload_settings
        self._token_http = make_http_client(self.settings.http, transport=transport)
        self.auth = (
            auth
            if auth is not None
            else build_auth(self.settings, self._token_http, reload_token=self._reload_token)
        )
        self.client = HubSpotClient(
            self.settings,
            self.auth,
            transport=transport,
            user_agent=f"voicebus-hubspot/{self.version}",
        )
        self.writer = HubSpotWriter(self.client, self.settings)
        self.credential_refreshes = 0

    @property
    def resilience_settings(self) -> ResilienceSettings:
        return self.settings.resilience

    def map_record(self, record: SyncRecord) -> list[Operation]:
        return map_record(record, self.settings)

    async def deliver(self, operation: Operation) -> DeliveryResult:
        (outcome,) = await self.writer.deliver_many([operation])
        if isinstance(outcome, ConnectorError):
            raise outcome
        return outcome

    async def deliver_batch(
        self, operations: Sequence[Operation]
    ) -> list[DeliveryResult | ConnectorError]:
        return await self.writer.deliver_many(operations)

    def _reload_token(self) -> SecretStr:
        token = self._reload_settings().access_token
        if token is None:
            raise AuthError("VOICEBUS_HUBSPOT_ACCESS_TOKEN is no longer set")
        return token

    async def refresh_credentials(self) -> None:
        """Private app: re-read the token (an operator may have rotated it).  OAuth: one
        refresh-token grant through the shared flow (re-raises when it already refreshed for
        this failure or the grant is revoked)."""
        self.credential_refreshes += 1
        refresh = getattr(self.auth, "refresh_credentials", None)
        if refresh is None:
            raise AuthError("hubspot: the configured auth flow cannot refresh credentials")
        await refresh()

    async def aclose(self) -> None:
        await self.client.aclose()
        await self._token_http.aclose()


def create_connector(settings: HubSpotSettings | None = None) -> HubSpotConnector:
    """Factory used by the sink runtime (``voicebus sink hubspot``)."""
    return HubSpotConnector(settings)
