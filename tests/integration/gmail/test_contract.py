"""The shared connector contract for the Gmail connector against its sandbox."""

from __future__ import annotations

import pytest

from connectors.base.connector import Connector, SyncRecord
from connectors.base.contract import ConnectorContract
from connectors.base.sandbox import SandboxServer
from connectors.gmail.sandbox import state_of
from tests.integration.gmail.conftest import (
    CLIENT_SECRET,
    REFRESH_TOKEN,
    SEND_PATH,
    follow_up_record,
)


class TestGmailContract(ConnectorContract):
    fault_path = SEND_PATH

    @pytest.fixture
    def sandbox(self, gmail_sandbox: SandboxServer) -> SandboxServer:
        return gmail_sandbox

    @pytest.fixture
    def connector(self, gmail_connector) -> Connector:
        return gmail_connector

    def make_record(self, **event_overrides) -> SyncRecord:
        return follow_up_record(**event_overrides)

    def make_invalid_record(self) -> tuple[SyncRecord, str]:
        return follow_up_record(email=None), "customer.match.email"

    def count_effects(self, sandbox: SandboxServer, record: SyncRecord) -> int:
        call_id = record.event["call_id"]
        return sum(
            1
            for m in state_of(sandbox.app).sent()
            if any(
                p.get_filename() == f"transcript-{call_id}.txt"
                for p in m.message.iter_attachments()
            )
        )

    def secret_values(self, connector: Connector) -> list[str]:
        return [CLIENT_SECRET, REFRESH_TOKEN]
