"""The shared connector contract, run for the Zendesk connector against its sandbox."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest

from connectors.base.connector import Connector, SyncRecord
from connectors.base.contract import ConnectorContract
from connectors.base.sandbox import SandboxServer
from connectors.zendesk.sandbox import state_of
from tests.integration.zendesk.conftest import API_TOKEN, enriched_event, record


class TestZendeskContract(ConnectorContract):
    # one POST /api/v2/tickets per attempt (the lookup goes to /api/v2/search, the internal
    # note to /api/v2/tickets/{id})
    fault_path: ClassVar[str | None] = "/api/v2/tickets"
    requests_per_attempt: ClassVar[int] = 1

    @pytest.fixture
    def sandbox(self, zendesk_sandbox: SandboxServer) -> SandboxServer:
        return zendesk_sandbox

    @pytest.fixture
    def connector(self, zendesk_connector: Connector) -> Connector:
        return zendesk_connector

    def make_record(self, **event_overrides: Any) -> SyncRecord:
        return record(enriched_event(**event_overrides))

    def make_invalid_record(self) -> tuple[SyncRecord, str]:
        event = enriched_event()
        del event["call_id"]
        return record(event), "call_id"

    def count_effects(self, sandbox: SandboxServer, record: SyncRecord) -> int:
        return len(state_of(sandbox.app).find_by_external_id(record.event["call_id"]))

    def secret_values(self, connector: Connector) -> list[str]:
        return [API_TOKEN]
