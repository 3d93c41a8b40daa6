"""The shared connector contract for the Outlook connector against the Graph sandbox."""

from __future__ import annotations

import pytest

from connectors.base.connector import Connector, SyncRecord
from connectors.base.contract import ConnectorContract
from connectors.base.sandbox import SandboxServer
from connectors.outlook.sandbox import state_of
from tests.integration.gmail.conftest import follow_up_record
from tests.integration.outlook.conftest import CLIENT_SECRET, SEND_PATH


class TestOutlookContract(ConnectorContract):
    fault_path = SEND_PATH

    @pytest.fixture
    def sandbox(self, outlook_sandbox: SandboxServer) -> SandboxServer:
        return outlook_sandbox

    @pytest.fixture
    def connector(self, outlook_connector) -> Connector:
        return outlook_connector

    def make_record(self, **event_overrides) -> SyncRecord:
        return follow_up_record(**event_overrides)

    def make_invalid_record(self) -> tuple[SyncRecord, str]:
        return follow_up_record(email=None), "customer.match.email"

    def count_effects(self, sandbox: SandboxServer, record: SyncRecord) -> int:
        name = f"transcript-{record.event['call_id']}.txt"
        return sum(
            1 for m in state_of(sandbox.app).sent() if any(a[0] == name for a in m.attachments())
        )

    def secret_values(self, connector: Connector) -> list[str]:
        return [CLIENT_SECRET]
