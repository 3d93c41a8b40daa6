"""The shared connector contract for ServiceNow, with basic auth and with OAuth (password
grant), against the sandbox.

One delivery attempt of an ``open_incident`` record makes: a correlation_id query on
``/api/now/table/incident``, the caller lookup on ``/api/now/table/sys_user`` and the create on
``/api/now/table/incident``.  Faults are injected on ``sys_user`` (``fault_path``): the one
path an attempt hits exactly once, which is what the contract's request counting needs.
"""

from __future__ import annotations

from typing import ClassVar

import pytest

from connectors.base.connector import Connector, SyncRecord
from connectors.base.contract import ConnectorContract
from connectors.base.sandbox import SandboxServer
from connectors.servicenow.config import AuthMode
from connectors.servicenow.sandbox import instance_of
from pipeline.sinks.delivery import Deliverer, OutcomeKind
from tests.integration.servicenow.conftest import (
    CLIENT_SECRET,
    PASSWORD,
    make_connector,
    record,
)


class _ServiceNowContract(ConnectorContract):
    requests_per_attempt: ClassVar[int] = 1
    fault_path: ClassVar[str | None] = "/api/now/table/sys_user"
    auth_mode: ClassVar[AuthMode] = AuthMode.BASIC

    @pytest.fixture
    def sandbox(self, sn_sandbox: SandboxServer) -> SandboxServer:
        return sn_sandbox

    @pytest.fixture
    async def connector(self, sandbox: SandboxServer):  # type: ignore[override]
        c = make_connector(sandbox.url, self.auth_mode)
        yield c
        await c.aclose()

    def make_record(self, **event_overrides) -> SyncRecord:
        return record(**event_overrides)

    def make_invalid_record(self) -> tuple[SyncRecord, str]:
        valid = record()
        event = {k: v for k, v in valid.event.items() if k != "call_id"}
        return SyncRecord(key=valid.key, event=event, operation="open_incident"), "call_id"

    def count_effects(self, sandbox: SandboxServer, record: SyncRecord) -> int:
        store = instance_of(sandbox.app).store
        return len(store.find("incident", correlation_id=record.event["call_id"]))

    def secret_values(self, connector: Connector) -> list[str]:
        return [PASSWORD, CLIENT_SECRET]

    # ServiceNow's 400 means "this data is unusable" (invalid field/query): the connector
    # classifies it as ``data`` (still dead-lettered, without retry), naming the message.
    async def test_client_error_is_dead_lettered_without_retry(
        self, deliverer: Deliverer, sandbox: SandboxServer
    ) -> None:
        rec = self.make_record()
        sandbox.controls.fail_next(1, status=400, path=self.fault_path)
        before = sandbox.controls.requests(self.fault_path)
        outcome = await deliverer.deliver_record(rec)
        assert outcome.kind is OutcomeKind.DEAD_LETTER
        assert outcome.error_class == "data"
        assert "sandbox injected HTTP 400" in (outcome.message or "")
        assert sandbox.controls.requests(self.fault_path) - before == self.requests_per_attempt
        assert self.count_effects(sandbox, rec) == 0


class TestServiceNowContractBasicAuth(_ServiceNowContract):
    auth_mode = AuthMode.BASIC


class TestServiceNowContractOAuthPassword(_ServiceNowContract):
    auth_mode = AuthMode.OAUTH_PASSWORD
