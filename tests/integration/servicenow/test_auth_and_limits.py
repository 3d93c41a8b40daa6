"""OAuth grants against the sandbox's /oauth_token.do, basic auth failures, and 429s that
slow the shared token bucket."""

from __future__ import annotations

import pytest

from connectors.base.connector import SyncRecord
from connectors.base.contract import RecordingClock
from connectors.base.sandbox import SandboxServer
from connectors.servicenow.config import AuthMode
from connectors.servicenow.sandbox import instance_of
from pipeline.resilience.target import ResilienceSettings
from pipeline.sinks.delivery import OutcomeKind, make_deliverer
from pipeline.sinks.ledger import InMemoryLedger
from tests.integration.servicenow.conftest import (
    CLIENT_SECRET,
    PASSWORD,
    enriched_event,
    make_connector,
)
from tests.integration.servicenow.test_incidents import deliverer_for


def rec(call_id: str) -> SyncRecord:
    return SyncRecord(call_id, enriched_event(call_id), "open_incident")


async def test_client_credentials_grant_creates_as_the_oauth_user(
    sn_sandbox: SandboxServer,
) -> None:
    c = make_connector(
        sn_sandbox.url, AuthMode.OAUTH_CLIENT_CREDENTIALS, username=None, password=None
    )
    try:
        assert (await deliverer_for(c).deliver_record(rec("call-cc"))).kind is OutcomeKind.DELIVERED
        inst = instance_of(sn_sandbox.app)
        assert inst.token_grants == ["client_credentials"]
        [incident] = inst.store.find("incident", correlation_id="call-cc")
        assert c.learned_user == incident["sys_created_by"]  # identity learned for conflicts
    finally:
        await c.aclose()


async def test_password_grant_refreshes_expired_token_then_logs_in_again_when_revoked(
    sn_sandbox: SandboxServer,
) -> None:
    inst = instance_of(sn_sandbox.app)
    c = make_connector(sn_sandbox.url, AuthMode.OAUTH_PASSWORD)
    try:
        d = deliverer_for(c)
        assert (await d.deliver_record(rec("call-p1"))).kind is OutcomeKind.DELIVERED
        sn_sandbox.controls.mutate("expire_tokens")
        assert (await d.deliver_record(rec("call-p2"))).kind is OutcomeKind.DELIVERED
        inst.refresh_tokens.clear()  # the refresh token expired on the instance
        sn_sandbox.controls.mutate("expire_tokens")
        assert (await d.deliver_record(rec("call-p3"))).kind is OutcomeKind.DELIVERED
        assert inst.token_grants == ["password", "refresh_token", "refresh_token", "password"]
        assert len(inst.store.find("incident", correlation_display="voicebus")) == 3
    finally:
        await c.aclose()


@pytest.mark.parametrize("mode", [AuthMode.BASIC, AuthMode.OAUTH_PASSWORD])
async def test_wrong_secret_pauses_without_dead_letter_or_leak(
    sn_sandbox: SandboxServer, mode: AuthMode
) -> None:
    wrong = "wr0ng-s3cret-value-123"
    field = "password" if mode is AuthMode.BASIC else "client_secret"
    c = make_connector(sn_sandbox.url, mode, **{field: wrong})
    try:
        outcome = await deliverer_for(c).deliver_record(rec("call-bad"))
        assert outcome.kind is OutcomeKind.PAUSE_AUTH
        for secret in (wrong, PASSWORD, CLIENT_SECRET):
            assert secret not in (outcome.message or "")
        assert instance_of(sn_sandbox.app).store.find("incident") == []
    finally:
        await c.aclose()


async def test_429_headers_pause_the_shared_bucket_and_the_record_is_delivered(
    sn_sandbox: SandboxServer,
) -> None:
    c = make_connector(sn_sandbox.url)
    clock = RecordingClock()
    try:
        d = make_deliverer(
            c,
            InMemoryLedger(),
            settings=ResilienceSettings(rate_per_s=100, burst=10, jitter_s=0, max_attempts=3),
            sleep=clock.sleep,
            clock=clock,
        )
        sn_sandbox.controls.throttle_next(1, retry_after=3, path="/api/now/table/incident")
        outcome = await d.deliver_record(rec("call-429"))
        assert outcome.kind is OutcomeKind.DELIVERED, outcome.message
        assert clock.sleeps and max(clock.sleeps) >= 3.0
        assert c.client.observe_headers is not None  # bound to the bucket by make_deliverer
        assert (
            len(instance_of(sn_sandbox.app).store.find("incident", correlation_id="call-429")) == 1
        )
    finally:
        await c.aclose()


async def test_rate_limited_instance_answers_servicenow_429_headers(
    sn_sandbox: SandboxServer,
) -> None:
    import httpx

    sn_sandbox.controls.limit_rate(1, retry_after=2)
    async with httpx.AsyncClient(base_url=sn_sandbox.url, auth=("x", "y")) as http:
        await http.get("/api/now/table/incident")
        second = await http.get("/api/now/table/incident")
    assert second.status_code == 429
    assert second.headers["Retry-After"] == "2"
    assert second.headers["X-RateLimit-Remaining"] == "0"
    assert int(second.headers["X-RateLimit-Reset"]) > 1_700_000_000
    assert second.json()["status"] == "failure"
