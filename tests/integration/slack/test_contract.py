"""The shared connector contract for Slack, through the real Deliverer, against the sandbox."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from connectors.base.connector import Connector, SyncRecord
from connectors.base.contract import ConnectorContract
from connectors.base.sandbox import SandboxServer
from connectors.slack.sandbox import workspace_of
from connectors.slack.sink import SlackConnector
from tests.integration.slack.conftest import (
    TOKEN,
    enriched_event,
    make_sandbox,
    record_of,
    slack_settings,
)

pytestmark = pytest.mark.integration


class TestSlackContract(ConnectorContract):
    fault_path = "/api/chat.postMessage"

    @pytest.fixture
    def sandbox(self) -> Iterator[SandboxServer]:
        with make_sandbox(channel_rate_per_s=None) as srv:
            yield srv

    @pytest.fixture
    async def connector(self, sandbox: SandboxServer) -> AsyncIterator[Connector]:
        connector = SlackConnector(
            slack_settings(sandbox.url), reload_settings=lambda: slack_settings(sandbox.url)
        )
        yield connector
        await connector.aclose()

    def make_record(self, **event_overrides: Any) -> SyncRecord:
        return record_of(enriched_event(**event_overrides))

    def make_invalid_record(self) -> tuple[SyncRecord, str]:
        event = enriched_event()
        del event["call_id"]
        return record_of(event), "call_id"

    def count_effects(self, sandbox: SandboxServer, record: SyncRecord) -> int:
        event_id = str(record.event["event_id"])
        return sum(1 for m in workspace_of(sandbox.app).messages() if m.contains(event_id))

    def secret_values(self, connector: Connector) -> list[str]:
        return [TOKEN]
