"""The Zendesk Support connector: complaint calls become tickets, later events of the call
add internal notes and move the ticket's status (``voicebus sink zendesk``).

Idempotent in effect without the ledger: tickets are found by ``external_id`` (= call id)
before being created, creates carry an ``Idempotency-Key``, and notes carry a
``voicebus-ref`` marker checked whenever a note might already exist (see ``writer``).
The ledger's ``external_id`` for every operation is the ticket id.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import ClassVar

import httpx

from connectors.base.connector import Connector, DeliveryResult, Operation, SyncRecord
from connectors.base.errors import ConnectorError
from connectors.zendesk.auth import ZendeskAuth
from connectors.zendesk.batch import BatchWriter
from connectors.zendesk.client import ZendeskClient
from connectors.zendesk.config import ZendeskSettings
from connectors.zendesk.mapping import map_record
from connectors.zendesk.writer import TicketWriter
from pipeline.resilience.ratelimit import TokenBucket
from pipeline.resilience.target import ResilienceSettings


def _load_settings() -> ZendeskSettings:
    return ZendeskSettings()  # fields come from the environment


class ZendeskConnector(Connector):
    name: ClassVar[str] = "zendesk"
    version: ClassVar[str] = "0.1.0"
    natural_upsert: ClassVar[bool] = True  # external_id lookup + Idempotency-Key

    def __init__(
        self,
        settings: ZendeskSettings | None = None,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        reload_settings: Callable[[], ZendeskSettings] = _load_settings,
        observe_headers: Callable[[Mapping[str, str]], object] | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.settings = settings if settings is not None else reload_settings()
        self.auth = ZendeskAuth(self.settings, reload_settings)
        self.client = ZendeskClient(
            self.settings.base_url,
            self.auth,
            self.settings.http,
            transport=transport,
            observe_headers=observe_headers,
            sleep=sleep,
            user_agent=f"voicebus-zendesk/{self.version}",
        )
        self.writer = TicketWriter(self.client, self.settings)
        self.credential_refreshes = 0

    @property
    def resilience_settings(self) -> ResilienceSettings:
        return self.settings.resilience

    def bind_rate_limiter(self, bucket: TokenBucket) -> None:
        """Zendesk's rate-limit headers (X-Rate-Limit-Remaining, ratelimit-*, Retry-After)
        slow the shared token bucket (called by ``make_deliverer``)."""
        self.client.observe_headers = bucket.observe_headers

    def map_record(self, record: SyncRecord) -> list[Operation]:
        return map_record(record, self.settings)

    async def deliver(self, operation: Operation) -> DeliveryResult:
        return await self.writer.deliver(operation)

    async def deliver_batch(
        self, operations: Sequence[Operation]
    ) -> list[DeliveryResult | ConnectorError]:
        return await BatchWriter(self.writer).deliver(operations)

    async def refresh_credentials(self) -> None:
        """Re-read the API token / OAuth token from the environment (rotation after a 401)."""
        self.credential_refreshes += 1
        await self.auth.refresh_credentials()

    async def aclose(self) -> None:
        await self.client.aclose()


def create_connector(settings: ZendeskSettings | None = None) -> ZendeskConnector:
    """Factory used by the sink runtime (``voicebus sink zendesk``)."""
    return ZendeskConnector(settings)
