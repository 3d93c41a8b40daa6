"""Teams webhook/Graph answers -> error classes, card envelope, settings validation."""

from __future__ import annotations

import json

import httpx
import pytest
from pydantic import SecretStr, ValidationError

from connectors.base.connector import SyncRecord
from connectors.base.errors import AuthError, PermanentError, RetryableError, ThrottledError
from connectors.teams.client import TeamsClient
from connectors.teams.config import TeamsSettings
from connectors.teams.mapping import CARD_CONTENT_TYPE, build_card, map_record
from tests.integration.slack.conftest import enriched_event

HOOK = (
    "https://prod-01.westus.logic.azure.com:443/workflows/abc/triggers/manual/invoke?sig=SIGSECRET"
)


def client_answering(status: int, text: str = "", headers: dict[str, str] | None = None):
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(status, text=text, headers=headers)

    return TeamsClient({"support": SecretStr(HOOK)}, transport=httpx.MockTransport(handler)), seen


@pytest.mark.parametrize(("status", "text"), [(202, ""), (200, "1")])
async def test_workflows_202_and_legacy_200_are_delivered(status, text):
    client, seen = client_answering(status, text)
    assert (
        await client.post_webhook("support", build_card(enriched_event(), "post_summary")) == status
    )
    await client.aclose()
    body = json.loads(seen[0].content)
    assert body["type"] == "message"
    attachment = body["attachments"][0]
    assert attachment["contentType"] == CARD_CONTENT_TYPE and attachment["contentUrl"] is None
    card = attachment["content"]
    assert card["$schema"] == "http://adaptivecards.io/schemas/adaptive-card.json"
    assert (card["type"], card["version"]) == ("AdaptiveCard", "1.4")


@pytest.mark.parametrize(
    ("status", "text", "headers", "cls"),
    [
        (429, "", {"Retry-After": "5"}, ThrottledError),
        (
            200,
            "Webhook message delivery failed with error: Microsoft Teams endpoint returned "
            "HTTP error 429",
            None,
            ThrottledError,
        ),
        (200, "Webhook message delivery failed with error: 500", None, RetryableError),
        (500, "", None, RetryableError),
        (503, "", None, RetryableError),
        (400, "Bad payload", None, PermanentError),
        (404, "", None, PermanentError),
        (401, "", None, AuthError),
    ],
)
async def test_failures_are_classified_without_the_url(status, text, headers, cls):
    client, _ = client_answering(status, text, headers)
    with pytest.raises(cls) as caught:
        await client.post_webhook("support", build_card(enriched_event(), "post_summary"))
    await client.aclose()
    message = str(caught.value)
    assert "SIGSECRET" not in message and "/workflows/" not in message
    assert "prod-01.westus.logic.azure.com" in message
    if status == 429:
        assert caught.value.retry_after == 5.0


def test_card_facts_and_optional_action():
    event = enriched_event()
    card = build_card(event, "post_summary", "https://app.example/calls/{call_id}")
    facts = {f["title"]: f["value"] for f in card["body"][2]["facts"]}
    assert facts == {
        "Sentiment": "NEGATIVE",
        "Intents": "login_issue, refund",
        "Duration": "3m 12s",
        "Customer": "J. D. (Acme Corp)",
    }
    assert card["actions"] == [
        {
            "type": "Action.OpenUrl",
            "title": "Open call",
            "url": f"https://app.example/calls/{event['call_id']}",
        }
    ]


def test_mapping_checks_channel_and_operation():
    event = enriched_event()
    rec = SyncRecord(key="k", event=event, operation="post_summary", hints={"channel": "#nope"})
    with pytest.raises(PermanentError, match="no configured webhook"):
        map_record(rec, default_channel=None, channels=["support"])
    ok = SyncRecord(key="k", event=event, operation=None, hints={"channel": "#support"})
    [op] = map_record(ok, default_channel=None, channels=["support"])
    assert op.idempotency_key == f"{event['event_id']}:post_summary@support"


def test_settings_validation_never_echoes_urls():
    with pytest.raises(ValidationError) as caught:
        TeamsSettings(webhooks={"support": SecretStr("ftp://x/SIGSECRET")})
    assert "SIGSECRET" not in str(caught.value)
    with pytest.raises(ValidationError, match="VOICEBUS_TEAMS_WEBHOOKS"):
        TeamsSettings()
    with pytest.raises(ValidationError, match="ChannelMessage.Send"):
        TeamsSettings(transport="graph")
    settings = TeamsSettings(webhooks={"support": SecretStr(HOOK)})
    assert "SIGSECRET" not in repr(settings)


def test_avro_uuid_event_ids_are_accepted():
    import uuid

    event = enriched_event()
    event["event_id"] = uuid.UUID(event["event_id"])
    rec = SyncRecord(key="k", event=event, operation=None, hints={"channel": "support"})
    [op] = map_record(rec, default_channel=None, channels=["support"])
    assert op.payload["event_id"] == str(event["event_id"])
