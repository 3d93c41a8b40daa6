"""The Teams connector against the sandbox: webhook envelope checks, 404/429, Graph errors
in Graph's shape, and secrets kept out of error messages."""

from __future__ import annotations

import httpx
import pytest
from pydantic import SecretStr

from connectors.base.errors import AuthError, PermanentError, ThrottledError
from connectors.teams.mapping import CARD_CONTENT_TYPE, build_card, webhook_body
from connectors.teams.sandbox import tenant_of
from connectors.teams.sink import TeamsConnector
from tests.integration.slack.conftest import enriched_event, record_of
from tests.integration.teams.conftest import GRAPH_TOKEN, HOOK_PATHS, make_sandbox, teams_settings

pytestmark = pytest.mark.integration


@pytest.fixture
def srv():
    with make_sandbox(webhook_rate_per_s=2) as server:
        yield server


def test_webhook_accepts_the_card_envelope_with_202(srv):
    card = build_card(enriched_event(), "post_summary")
    url = f"{srv.url}/webhook/{HOOK_PATHS['support']}"
    response = httpx.post(url, json=webhook_body(card))
    assert response.status_code == 202 and response.content == b""
    [stored] = tenant_of(srv.app).cards("support")
    assert stored.card["version"] == "1.4" and stored.card["type"] == "AdaptiveCard"


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda b: b.update(type="card"), "body.type"),
        (lambda b: b["attachments"][0].update(contentType="text/html"), "contentType"),
        (lambda b: b["attachments"][0]["content"].update(type="HeroCard"), "content.type"),
        (lambda b: b["attachments"][0]["content"].pop("version"), "content.version"),
        (lambda b: b["attachments"][0]["content"].update(body={}), "content.body"),
        (lambda b: b.update(attachments=[]), "attachments"),
    ],
)
def test_webhook_rejects_bad_envelopes(srv, mutate, reason):
    body = webhook_body(build_card(enriched_event(), "post_summary"))
    mutate(body)
    response = httpx.post(f"{srv.url}/webhook/{HOOK_PATHS['support']}", json=body)
    assert response.status_code == 400 and reason in response.text
    assert tenant_of(srv.app).cards() == []


async def test_unknown_webhook_is_permanent_and_the_url_path_stays_secret(srv):
    settings = teams_settings(srv.url)
    settings.webhooks["support"] = SecretStr(f"{srv.url}/webhook/deleted-flow-sig-XYZ")
    connector = TeamsConnector(settings)
    try:
        [operation] = connector.map_record(record_of(enriched_event(), channel="support"))
        with pytest.raises(PermanentError) as caught:
            await connector.deliver(operation)
    finally:
        await connector.aclose()
    assert caught.value.status_code == 404
    message = str(caught.value)
    assert "deleted-flow-sig-XYZ" not in message and "/webhook/" not in message
    assert "support" in message and "127.0.0.1" in message


async def test_over_the_webhook_rate_is_throttled_with_retry_after(srv):
    connector = TeamsConnector(teams_settings(srv.url))
    try:
        operations = [
            connector.map_record(record_of(enriched_event(), channel="alerts"))[0] for _ in range(3)
        ]
        await connector.deliver(operations[0])
        await connector.deliver(operations[1])
        with pytest.raises(ThrottledError) as caught:
            await connector.deliver(operations[2])
    finally:
        await connector.aclose()
    assert caught.value.retry_after == 1
    assert tenant_of(srv.app).rate_limited == 1


async def test_graph_posts_a_card_and_answers_graph_errors(srv):
    connector = TeamsConnector(teams_settings(srv.url, transport="graph"))
    try:
        [operation] = connector.map_record(record_of(enriched_event(), channel="#support"))
        result = await connector.deliver(operation)
        assert result.external_id
        [card] = tenant_of(srv.app).cards("support")
        assert card.via == "graph"
        base = f"{srv.url}/v1.0/teams/team-1/channels/19:abc@thread.tacv2/messages"
        body = {"body": {"contentType": "html", "content": "x"}, "attachments": []}
        unauth = httpx.post(base, json=body, headers={"Authorization": "Bearer nope"})
        assert unauth.status_code == 401
        error = unauth.json()["error"]
        assert error["code"] == "InvalidAuthenticationToken"
        assert {"date", "request-id", "client-request-id"} <= set(error["innerError"])
        missing = httpx.post(
            f"{srv.url}/v1.0/teams/team-9/channels/x/messages",
            json=body,
            headers={"Authorization": f"Bearer {GRAPH_TOKEN}"},
        )
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "NotFound"
        connector.client.graph_auth.token = SecretStr("expired-token")
        with pytest.raises(AuthError) as caught:
            await connector.deliver(operation)
        assert caught.value.vendor_code == "InvalidAuthenticationToken"
        assert "expired-token" not in str(caught.value)
    finally:
        await connector.aclose()


def test_graph_needs_card_attachments_as_json_strings(srv):
    card = build_card(enriched_event(), "post_summary")
    body = {
        "body": {"contentType": "html", "content": '<attachment id="a"></attachment>'},
        "attachments": [{"id": "a", "contentType": CARD_CONTENT_TYPE, "content": "{not json"}],
    }
    response = httpx.post(
        f"{srv.url}/v1.0/teams/team-1/channels/19:abc@thread.tacv2/messages",
        json=body,
        headers={"Authorization": f"Bearer {GRAPH_TOKEN}"},
    )
    assert response.status_code == 400 and response.json()["error"]["code"] == "BadRequest"
    assert card["type"] == "AdaptiveCard"
