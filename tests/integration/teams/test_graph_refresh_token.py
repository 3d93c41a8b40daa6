"""Teams over Graph with the delegated refresh-token grant, against the sandbox's identity
endpoint: expired access tokens are refreshed once and the card goes out; every rotated
refresh token is persisted (a restart with the stale environment value still works); a
revoked consent pauses the sink with an auth error that names the fix and no secret; a
public client sends no secret."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from connectors.base.auth import OAuth2Auth
from connectors.teams.sandbox import tenant_of
from connectors.teams.sink import TeamsConnector
from pipeline.resilience.target import ResilienceSettings, TargetResilience
from pipeline.sinks.delivery import Deliverer, DeliveryOutcome, OutcomeKind
from pipeline.sinks.ledger import InMemoryLedger
from tests.integration.slack.conftest import enriched_event, record_of
from tests.integration.teams.conftest import (
    GRAPH_CLIENT_SECRET,
    REFRESH_TOKEN,
    make_consent_sandbox,
    refresh_token_settings,
)

pytestmark = pytest.mark.integration
FAST = ResilienceSettings(rate_per_s=0, max_attempts=2, initial_backoff_s=0.01, jitter_s=0)
GRAPH_PATH = "/v1.0/teams/team-1/channels/19:abc@thread.tacv2/messages"
TOKEN_PATH = "/contoso-tenant/oauth2/v2.0/token"


async def post_card(connector: TeamsConnector) -> tuple[DeliveryOutcome, str]:
    event = enriched_event()
    deliverer = Deliverer(
        connector, InMemoryLedger(), TargetResilience.from_settings("teams", FAST)
    )
    return await deliverer.deliver_record(record_of(event, channel="#support")), event["event_id"]


def stored_refresh_token(path: Path) -> str:
    return str(json.loads(path.read_text())["teams-graph"]["refresh_token"])


async def test_expired_token_is_refreshed_once_and_rotation_is_persisted(tmp_path: Path) -> None:
    store = tmp_path / "teams-credentials.json"
    server, consent = make_consent_sandbox()
    with server as srv:
        connector = TeamsConnector(refresh_token_settings(srv.url, graph_credentials_path=store))
        try:
            first, _ = await post_card(connector)
            assert first.kind is OutcomeKind.DELIVERED, first.message
            after_first = stored_refresh_token(store)
            assert after_first != REFRESH_TOKEN and after_first in consent.refresh_tokens
            srv.controls.mutate("expire_graph_tokens")  # an hour later
            before = srv.controls.counts()
            second, event_id = await post_card(connector)
        finally:
            await connector.aclose()
        counts = srv.controls.counts()
    assert second.kind is OutcomeKind.DELIVERED, second.message
    assert second.attempts == 1  # the auth flow refreshed inside the attempt
    assert counts[GRAPH_PATH] - before[GRAPH_PATH] == 2  # 401, then the resend
    assert counts[TOKEN_PATH] - before[TOKEN_PATH] == 1  # one refresh
    assert consent.refreshes == 2
    assert stored_refresh_token(store) not in (after_first, REFRESH_TOKEN)  # rotated again
    assert [c.via for c in tenant_of(srv.app).cards() if c.contains(event_id)] == ["graph"]


async def test_restart_with_stale_env_token_uses_the_persisted_one(tmp_path: Path) -> None:
    store = tmp_path / "teams-credentials.json"
    server, _consent = make_consent_sandbox()
    with server as srv:
        for _ in range(2):  # the second connector still has REFRESH_TOKEN (now dead) in env
            connector = TeamsConnector(
                refresh_token_settings(srv.url, graph_credentials_path=store)
            )
            try:
                outcome, _ = await post_card(connector)
            finally:
                await connector.aclose()
            assert outcome.kind is OutcomeKind.DELIVERED, outcome.message


async def test_revoked_consent_pauses_with_a_safe_auth_error(tmp_path: Path) -> None:
    server, _consent = make_consent_sandbox()
    with server as srv:
        srv.controls.mutate("revoke_consent")
        connector = TeamsConnector(refresh_token_settings(srv.url))
        try:
            outcome, event_id = await post_card(connector)
        finally:
            await connector.aclose()
        cards = tenant_of(srv.app).cards()
    assert outcome.kind is OutcomeKind.PAUSE_AUTH
    assert outcome.error_class == "auth"
    message = outcome.message or ""
    assert "invalid_grant" in message and "consent again" in message
    for secret in (REFRESH_TOKEN, GRAPH_CLIENT_SECRET):
        assert secret not in message
    assert not any(c.contains(event_id) for c in cards)


async def test_public_client_refreshes_without_a_secret() -> None:
    server, consent = make_consent_sandbox(confidential=False)
    with server as srv:
        public = TeamsConnector(refresh_token_settings(srv.url, graph_client_secret=None))
        confidential = TeamsConnector(refresh_token_settings(srv.url))
        try:
            ok, _ = await post_card(public)
            refused, _ = await post_card(confidential)  # a secret sent for a public client
        finally:
            await public.aclose()
            await confidential.aclose()
    assert ok.kind is OutcomeKind.DELIVERED, ok.message
    assert isinstance(public.client.graph_auth, OAuth2Auth)
    assert refused.kind is OutcomeKind.PAUSE_AUTH
    assert "invalid_client" in (refused.message or "")
    assert consent.refreshes == 1
