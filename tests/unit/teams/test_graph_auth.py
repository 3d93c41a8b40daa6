"""Teams Graph auth (httpx.MockTransport): the refresh-token grant's request to the Microsoft
identity platform v2.0 endpoint (confidential and public clients), the bearer it puts on the
channel message, one refresh on a 401, and the settings that select it."""

from __future__ import annotations

from urllib.parse import parse_qs

import httpx
import pytest
from pydantic import SecretStr, ValidationError

from connectors.base.auth import TokenRejected
from connectors.teams.config import GRAPH_DELEGATED_SCOPE, TeamsSettings
from connectors.teams.sink import TeamsConnector
from tests.integration.slack.conftest import enriched_event, record_of

GRAPH = "https://graph.test"
CHANNEL_PATH = "/v1.0/teams/team-1/channels/19:abc/messages"


class FakeEntra:
    """Token endpoint + Graph; Graph answers ``graph_statuses`` in turn (then 201)."""

    def __init__(self, graph_statuses: list[int] | None = None) -> None:
        self.graph_statuses = list(graph_statuses or [])
        self.token_forms: list[dict[str, list[str]]] = []
        self.token_urls: list[str] = []
        self.bearers: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/oauth2/v2.0/token"):
            self.token_urls.append(str(request.url))
            self.token_forms.append(parse_qs(request.content.decode()))
            n = len(self.token_forms)
            return httpx.Response(
                200,
                json={
                    "token_type": "Bearer",
                    "expires_in": 3599,
                    "access_token": f"access-{n}",
                    "refresh_token": f"refresh-{n}",
                },
            )
        self.bearers.append(request.headers["Authorization"])
        status = self.graph_statuses.pop(0) if self.graph_statuses else 201
        body = {"id": "m1"} if status == 201 else {"error": {"code": "InvalidAuthenticationToken"}}
        return httpx.Response(status, json=body)


def settings(**overrides: object) -> TeamsSettings:
    values: dict[str, object] = {
        "transport": "graph",
        "graph_base_url": f"{GRAPH}/v1.0",
        "graph_channels": {"support": "team-1/19:abc"},
        "authority_url": "https://login.test",
        "graph_tenant_id": "tenant-1",
        "graph_client_id": "app-1",
        "graph_refresh_token": SecretStr("refresh-0"),
    }
    values.update(overrides)
    return TeamsSettings(**values)


async def post(fake: FakeEntra, teams_settings: TeamsSettings) -> str:
    connector = TeamsConnector(teams_settings, transport=httpx.MockTransport(fake))
    try:
        [operation] = connector.map_record(record_of(enriched_event(), channel="#support"))
        result = await connector.deliver(operation)
    finally:
        await connector.aclose()
    return str(result.external_id)


async def test_public_client_refresh_grant_then_bearer_on_the_message() -> None:
    fake = FakeEntra()
    assert await post(fake, settings()) == "m1"
    assert fake.token_urls == ["https://login.test/tenant-1/oauth2/v2.0/token"]
    [form] = fake.token_forms
    assert form == {
        "grant_type": ["refresh_token"],
        "refresh_token": ["refresh-0"],
        "scope": [GRAPH_DELEGATED_SCOPE],
        "client_id": ["app-1"],
    }
    assert fake.bearers == ["Bearer access-1"]


async def test_confidential_client_sends_its_secret() -> None:
    fake = FakeEntra()
    await post(fake, settings(graph_client_secret=SecretStr("s3cret")))
    [form] = fake.token_forms
    assert form["client_secret"] == ["s3cret"] and form["client_id"] == ["app-1"]


async def test_a_401_refreshes_once_with_the_rotated_refresh_token() -> None:
    fake = FakeEntra(graph_statuses=[401])
    assert await post(fake, settings()) == "m1"
    assert [f["refresh_token"] for f in fake.token_forms] == [["refresh-0"], ["refresh-1"]]
    assert fake.bearers == ["Bearer access-1", "Bearer access-2"]


async def test_a_second_401_is_an_auth_error_without_secrets() -> None:
    fake = FakeEntra(graph_statuses=[401, 401])
    with pytest.raises(TokenRejected) as caught:
        await post(fake, settings())
    assert len(fake.token_forms) == 2 and len(fake.bearers) == 2
    assert "access-" not in str(caught.value) and "refresh-" not in str(caught.value)


def test_settings_name_what_the_refresh_grant_lacks() -> None:
    with pytest.raises(ValidationError, match="VOICEBUS_TEAMS_GRAPH_TENANT_ID") as caught:
        TeamsSettings(
            transport="graph",
            graph_channels={"support": "team-1/19:abc"},
            graph_client_id="app-1",
            graph_refresh_token=SecretStr("refresh-0-secret"),
        )
    assert "refresh-0-secret" not in str(caught.value)
    with pytest.raises(ValidationError, match="GRAPH_REFRESH_TOKEN"):
        TeamsSettings(transport="graph", graph_channels={"support": "team-1/19:abc"})
    fixed = TeamsSettings(
        transport="graph",
        graph_channels={"support": "team-1/19:abc"},
        graph_token=SecretStr("t"),
    )
    assert not fixed.graph_refreshes and settings().graph_refreshes
