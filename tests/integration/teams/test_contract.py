"""The shared connector contract for Teams (webhooks and Graph), against the sandbox."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from connectors.base.connector import Connector, SyncRecord
from connectors.base.contract import ConnectorContract
from connectors.base.sandbox import SandboxServer
from connectors.teams.sandbox import tenant_of
from connectors.teams.sink import TeamsConnector
from tests.integration.slack.conftest import enriched_event, record_of
from tests.integration.teams.conftest import (
    GRAPH_CLIENT_SECRET,
    GRAPH_TOKEN,
    HOOK_PATHS,
    REFRESH_TOKEN,
    make_consent_sandbox,
    make_sandbox,
    refresh_token_settings,
    teams_settings,
)

pytestmark = pytest.mark.integration


class TestTeamsWebhookContract(ConnectorContract):
    fault_path = "/webhook/" + HOOK_PATHS["support"]

    @pytest.fixture
    def sandbox(self) -> Iterator[SandboxServer]:
        with make_sandbox() as srv:
            yield srv

    @pytest.fixture
    async def connector(self, sandbox: SandboxServer) -> AsyncIterator[Connector]:
        connector = TeamsConnector(
            teams_settings(sandbox.url), reload_settings=lambda: teams_settings(sandbox.url)
        )
        yield connector
        await connector.aclose()

    def make_record(self, **event_overrides: Any) -> SyncRecord:
        return record_of(enriched_event(**event_overrides), channel="#support")

    def make_invalid_record(self) -> tuple[SyncRecord, str]:
        event = enriched_event()
        del event["event_id"]
        return record_of(event), "event_id"

    def count_effects(self, sandbox: SandboxServer, record: SyncRecord) -> int:
        event_id = str(record.event["event_id"])
        return sum(1 for c in tenant_of(sandbox.app).cards() if c.contains(event_id))

    def secret_values(self, connector: Connector) -> list[str]:
        return [*HOOK_PATHS.values(), GRAPH_TOKEN]


class TestTeamsGraphContract(TestTeamsWebhookContract):
    fault_path = "/v1.0/teams/team-1/channels/19:abc@thread.tacv2/messages"

    @pytest.fixture
    async def connector(self, sandbox: SandboxServer) -> AsyncIterator[Connector]:
        def settings() -> Any:
            return teams_settings(sandbox.url, transport="graph")

        connector = TeamsConnector(settings(), reload_settings=settings)
        yield connector
        await connector.aclose()


class TestTeamsGraphRefreshTokenContract(TestTeamsWebhookContract):
    """Graph with the delegated refresh-token grant: a 401 gets one token refresh (through
    the sandbox's identity endpoint) and a resend; a second 401 pauses the sink."""

    fault_path = "/v1.0/teams/team-1/channels/19:abc@thread.tacv2/messages"

    @pytest.fixture
    def sandbox(self) -> Iterator[SandboxServer]:
        server, _consent = make_consent_sandbox()
        with server as srv:
            yield srv

    @pytest.fixture
    async def connector(self, sandbox: SandboxServer, tmp_path: Path) -> AsyncIterator[Connector]:
        def settings() -> Any:
            return refresh_token_settings(
                sandbox.url, graph_credentials_path=tmp_path / "teams-credentials.json"
            )

        connector = TeamsConnector(settings(), reload_settings=settings)
        yield connector
        await connector.aclose()

    def secret_values(self, connector: Connector) -> list[str]:
        return [GRAPH_CLIENT_SECRET, REFRESH_TOKEN]
