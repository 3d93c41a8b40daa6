"""The Teams connector: call summaries and alerts as Adaptive Cards in channels.

Posts through the channel's Workflows / incoming webhook by default; with
``VOICEBUS_TEAMS_TRANSPORT=graph`` through Microsoft Graph channel messages with a delegated
token kept fresh by the refresh-token grant (see ``auth``).  Teams has no upsert: the sync
ledger (one entry per event and channel) prevents double posts across redeliveries, replays
and restarts.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

import httpx

from connectors.base.auth import OAuth2Auth
from connectors.base.connector import Connector, DeliveryResult, Operation, SyncRecord
from connectors.base.settings import reload_settings
from connectors.teams.auth import make_graph_auth
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
        settings_now = self.settings
        self.client = TeamsClient(
            self.settings.webhooks,
            self.settings.http,
            graph_base_url=self.settings.graph_base_url,
            graph_token=self.settings.graph_token,
            graph_channels=self.settings.graph_channels,
            graph_auth=(
                (lambda http: make_graph_auth(settings_now, http))
                if settings_now.graph_refreshes
                else None
            ),
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
        """After an auth failure.  Graph with the refresh-token grant: one token refresh --
        or, when the auth flow already refreshed for this failure or the grant is revoked,
        its error again at once, so the runtime pauses the sink (the contract suite's rule).
        Otherwise: re-read the webhook URLs / the fixed Graph token from the environment (an
        operator may have rotated them)."""
        self.credential_refreshes += 1
        graph_auth = self.client.graph_auth
        if self.settings.transport is TeamsTransport.GRAPH and isinstance(graph_auth, OAuth2Auth):
            await graph_auth.refresh_credentials()
            return
        fresh = reload_settings(self._reload_settings, "teams")
        self.client.reload(fresh.webhooks, fresh.graph_token)

    async def aclose(self) -> None:
        await self.client.aclose()


def create_connector(settings: TeamsSettings | None = None) -> TeamsConnector:
    """Factory used by the sink runtime (``voicebus sink teams``)."""
    return TeamsConnector(settings)
