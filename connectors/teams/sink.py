"""The Teams connector: call summaries and alerts as Adaptive Cards in channels.

Posts through the channel's Workflows / incoming webhook by default; with
``VOICEBUS_TEAMS_TRANSPORT=graph`` through Microsoft Graph channel messages with a delegated
token (see ``auth``).  Teams has no upsert: the sync ledger (one entry per event and channel)
prevents double posts across redeliveries, replays and restarts.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

import httpx

from connectors.base.connector import Connector, DeliveryResult, Operation, SyncRecord
from connectors.base.settings import reload_settings
from connectors.teams.client import TeamsClient
from connectors.teams.config import TeamsSettings, TeamsTransport
from connectors.teams.mapping import map_record
from pipeline.resilience.target import ResilienceSettings


def _load_settings() -> TeamsSettings:
    return TeamsSettings()  # fields come from the environment


class TeamsConnector(Connector):
    name: ClassVar[str] = "teams"
    version: ClassVar[str] = "0.1.0"
    natural_upsert: ClassVar[bool] = False

    def __init__(
        self,
        settings: TeamsSettings | None = None,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        reload_settings: Callable[[], TeamsSettings] = _load_settings,
    ) -> None:
        self.settings = settings if settings is not None else reload_settings()
        self._reload_settings = reload_settings
        self.client = TeamsClient(
            self.settings.webhooks,
            self.settings.http,
            graph_base_url=self.settings.graph_base_url,
            graph_token=self.settings.graph_token,
            graph_channels=self.settings.graph_channels,
            transport=transport,
            user_agent=f"voicebus-teams/{self.version}",
        )
        self.credential_refreshes = 0

    @property
    def resilience_settings(self) -> ResilienceSettings:
        return self.settings.resilience

    def map_record(self, record: SyncRecord) -> list[Operation]:
        return map_record(
            record,
            default_channel=self.settings.default_channel,
            channels=self.settings.channels(),
            call_url_template=self.settings.call_url_template,
        )

    async def deliver(self, operation: Operation) -> DeliveryResult:
        channel = str(operation.payload["channel"])
        card = operation.payload["card"]
        if self.settings.transport is TeamsTransport.GRAPH:
            message_id = await self.client.post_graph(channel, card)
            return DeliveryResult(external_id=message_id or None, detail={"channel": channel})
        status = await self.client.post_webhook(channel, card)
        return DeliveryResult(external_id=None, detail={"status": status, "channel": channel})

    async def refresh_credentials(self) -> None:
        """Re-read webhook URLs / the Graph token (rotated after a 401/403)."""
        self.credential_refreshes += 1
        fresh = reload_settings(self._reload_settings, "teams")
        self.client.reload(fresh.webhooks, fresh.graph_token)

    async def aclose(self) -> None:
        await self.client.aclose()


def create_connector(settings: TeamsSettings | None = None) -> TeamsConnector:
    """Factory used by the sink runtime (``voicebus sink teams``)."""
    return TeamsConnector(settings)
