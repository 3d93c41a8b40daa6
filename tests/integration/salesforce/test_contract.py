"""The shared connector contract, run through the real Deliverer against the sandbox."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from connectors.base.connector import SyncRecord
from connectors.base.contract import ConnectorContract
from connectors.base.sandbox import SandboxServer
from connectors.salesforce.sandbox import SalesforceSandbox, org_of
from connectors.salesforce.sink import SalesforceConnector

from .helpers import enriched_event, record_of, settings_for


class TestSalesforceContract(ConnectorContract):
    # one PATCH per attempt; the token endpoint lives on the separate login server (as at
    # Salesforce: login host vs instance host), so faults hit only API calls
    requests_per_attempt = 1
    fault_path = None
    auth_failure_status = 401

    @pytest.fixture
    def salesforce(self) -> Iterator[SalesforceSandbox]:
        with SalesforceSandbox() as sf:
            yield sf

    @pytest.fixture
    def sandbox(self, salesforce: SalesforceSandbox) -> SandboxServer:
        return salesforce.instance

    @pytest.fixture
    async def connector(self, salesforce: SalesforceSandbox) -> AsyncIterator[SalesforceConnector]:
        connector = SalesforceConnector(settings_for(salesforce, lookup_unmatched_callers=False))
        await connector.client.data_url()  # log in before the test counts requests
        yield connector
        await connector.aclose()

    def make_record(self, **event_overrides: Any) -> SyncRecord:
        event = enriched_event(f"call-{uuid.uuid4().hex[:12]}")
        event.update(event_overrides)
        return record_of(event)

    def make_invalid_record(self) -> tuple[SyncRecord, str]:
        event = enriched_event("ignored")
        del event["call_id"]
        return SyncRecord(key="k", event=event, operation="log_call"), "call_id"

    def count_effects(self, sandbox: SandboxServer, record: SyncRecord) -> int:
        org = org_of(sandbox.app)
        return len(org.find_by("Task", "Voicebus_Call_Id__c", record.event["call_id"]))

    def secret_values(self, connector: Any) -> list[str]:
        settings = connector.settings
        return [settings.client_secret.get_secret_value()]
