"""The HubSpot sandbox as a separate process (how the demo and SREs run it), driven over its
admin HTTP API while the connector talks to it."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from connectors.base.sandbox import SandboxAdmin
from connectors.hubspot.sink import HubSpotConnector
from pipeline.resilience.target import ResilienceSettings, TargetResilience
from pipeline.sinks.delivery import Deliverer, OutcomeKind
from pipeline.sinks.ledger import InMemoryLedger
from tests.helpers.sandbox_process import sandbox_process as sandbox_process_at
from tests.integration.hubspot.conftest import TOKEN, enriched_event, hubspot_settings, record_of


@pytest.fixture
def sandbox_process(tmp_path: Path) -> Iterator[str]:
    with sandbox_process_at(
        "connectors.hubspot.sandbox", ["--token", TOKEN], tmp_path / "hubspot-sandbox.log"
    ) as url:
        yield url


async def test_subprocess_sandbox_with_contact_added_over_admin_http(sandbox_process):
    url = sandbox_process
    admin = SandboxAdmin(url)
    contact = admin.mutate(
        "add_object", object_type="contacts", properties={"phone": "+14155550142"}
    )
    admin.fail_next(1, status=502, path="/crm/v3/objects/calls/batch/upsert")
    settings = hubspot_settings(url)
    connector = HubSpotConnector(settings, reload_settings=lambda: settings)
    resilience = ResilienceSettings(rate_per_s=0, initial_backoff_s=0.01, jitter_s=0)
    try:
        outcome = await Deliverer(
            connector, InMemoryLedger(), TargetResilience.from_settings("hubspot", resilience)
        ).deliver_record(record_of(enriched_event("proc-1", phone="+14155550142")))
    finally:
        await connector.aclose()
    assert outcome.kind is OutcomeKind.DELIVERED and outcome.attempts == 2
    calls = httpx.get(
        f"{url}/_sandbox/objects/calls", params={"property": "voicebus_call_id", "value": "proc-1"}
    ).json()
    (call,) = calls["results"]
    assert call["associations"]["contacts"] == [contact]  # found by the caller's number
    stats = admin.stats()["requests"]
    assert stats["/crm/v3/objects/calls/batch/upsert"] == 2
    assert stats["/crm/v3/objects/contacts/search"] == 1
    admin.close()


def test_sandbox_refuses_to_start_without_a_token():
    result = subprocess.run(
        [sys.executable, "-m", "connectors.hubspot.sandbox", "--port", "0"],
        capture_output=True,
        text=True,
        timeout=30,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert result.returncode != 0
    assert "--token" in result.stderr
