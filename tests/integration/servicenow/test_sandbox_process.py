"""``python -m connectors.servicenow.sandbox`` as its own process, driven over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from connectors.base.connector import SyncRecord
from connectors.base.sandbox import SandboxAdmin
from connectors.servicenow.config import AuthMode
from pipeline.sinks.delivery import OutcomeKind
from tests.helpers.sandbox_process import sandbox_process
from tests.integration.servicenow.conftest import (
    CLIENT_ID,
    CLIENT_SECRET,
    PASSWORD,
    USER,
    enriched_event,
    make_connector,
)
from tests.integration.servicenow.test_incidents import deliverer_for


@pytest.fixture
def sandbox_url(tmp_path: Path) -> Iterator[str]:
    with sandbox_process(
        "connectors.servicenow.sandbox",
        ["--user", f"{USER}:{PASSWORD}", "--client", f"{CLIENT_ID}:{CLIENT_SECRET}:{USER}"],
        tmp_path / "sandbox.log",
    ) as url:
        yield url


async def test_subprocess_sandbox_with_client_credentials(sandbox_url: str) -> None:
    admin = SandboxAdmin(sandbox_url)
    connector = make_connector(sandbox_url, AuthMode.OAUTH_CLIENT_CREDENTIALS)
    try:
        admin.fail_next(1, status=503, path="/api/now/table/incident")
        outcome = await deliverer_for(connector).deliver_record(
            SyncRecord("call-sp", enriched_event("call-sp"), "open_incident")
        )
        assert outcome.kind is OutcomeKind.DELIVERED and outcome.attempts == 2
        sys_id = str(outcome.results[0].external_id)
        admin.mutate("set_state", sys_id=sys_id, state="6")
        rows = httpx.get(sandbox_url + "/_sandbox/records/incident").json()["result"]
        assert [(r["correlation_id"], r["state"]) for r in rows] == [("call-sp", "6")]
        assert rows[0]["resolved_at"] != ""
        assert admin.stats()["requests"]["/oauth_token.do"] == 1
    finally:
        await connector.aclose()
        admin.close()
