"""``python -m connectors.servicenow.sandbox`` as its own process, driven over HTTP."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from connectors.base.connector import SyncRecord
from connectors.base.sandbox import SandboxAdmin
from connectors.servicenow.config import AuthMode
from pipeline.broker import free_port
from pipeline.sinks.delivery import OutcomeKind
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
    port = free_port()
    log_path = tmp_path / "sandbox.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "connectors.servicenow.sandbox",
                "--port",
                str(port),
                "--user",
                f"{USER}:{PASSWORD}",
                "--client",
                f"{CLIENT_ID}:{CLIENT_SECRET}:{USER}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 20
            while True:
                try:
                    httpx.get(url + "/_sandbox/stats", timeout=1).raise_for_status()
                    break
                except httpx.HTTPError:
                    assert proc.poll() is None, log_path.read_text()
                    assert time.monotonic() < deadline, "sandbox did not start"
                    time.sleep(0.05)
            yield url
        finally:
            proc.terminate()
            proc.wait(10)


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
