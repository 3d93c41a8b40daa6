"""The shared connector contract, run for the HubSpot connector against its sandbox."""

from __future__ import annotations

from typing import ClassVar

import pytest

from connectors.base.connector import Connector, SyncRecord
from connectors.base.contract import ConnectorContract
from connectors.base.sandbox import SandboxServer
from connectors.hubspot.sandbox import state_of
from tests.integration.hubspot.conftest import (
    TOKEN,
    add_contact,
    calls_with,
    enriched_event,
    record_of,
)


class TestHubSpotContract(ConnectorContract):
    # one upsert request per attempt; the association call comes after it
    requests_per_attempt: ClassVar[int] = 1
    fault_path: ClassVar[str | None] = "/crm/v3/objects/calls/batch/upsert"

    @pytest.fixture
    def sandbox(self, hubspot_sandbox: SandboxServer) -> SandboxServer:
        self._contact = add_contact(state_of(hubspot_sandbox.app), "+14155550123")
        return hubspot_sandbox

    @pytest.fixture
    def connector(self, hubspot_connector) -> Connector:
        return hubspot_connector

    def make_record(self, **event_overrides) -> SyncRecord:
        return record_of(enriched_event(contact_id=self._contact, **event_overrides))

    def make_invalid_record(self) -> tuple[SyncRecord, str]:
        event = enriched_event(contact_id=self._contact)
        del event["call_id"]
        return record_of(event), "call_id"

    def count_effects(self, sandbox: SandboxServer, record: SyncRecord) -> int:
        return len(calls_with(state_of(sandbox.app), record.event["call_id"]))

    def secret_values(self, connector: Connector) -> list[str]:
        return [TOKEN]
