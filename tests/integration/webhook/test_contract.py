"""The shared connector contract, run for the webhook connector against its sandbox."""

from __future__ import annotations

import pytest

from connectors.base.connector import Connector, SyncRecord
from connectors.base.contract import ConnectorContract
from connectors.base.sandbox import SandboxServer
from connectors.webhook.sandbox import receiver_of
from tests.integration.webhook.conftest import SECRET, sync_record


class TestWebhookContract(ConnectorContract):
    @pytest.fixture
    def sandbox(self, webhook_sandbox: SandboxServer) -> SandboxServer:
        return webhook_sandbox

    @pytest.fixture
    def connector(self, webhook_connector) -> Connector:
        return webhook_connector

    def make_record(self, **event_overrides) -> SyncRecord:
        return sync_record(**event_overrides)

    def make_invalid_record(self) -> tuple[SyncRecord, str]:
        record = sync_record()
        event = {k: v for k, v in record.event.items() if k != "call_id"}
        return SyncRecord(key=record.key, event=event), "call_id"

    def count_effects(self, sandbox: SandboxServer, record: SyncRecord) -> int:
        return receiver_of(sandbox.app).count(record.event["event_id"])

    def secret_values(self, connector: Connector) -> list[str]:
        return [SECRET, SECRET.removeprefix("whsec_")]
