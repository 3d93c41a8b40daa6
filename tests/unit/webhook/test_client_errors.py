"""Error classification of the webhook client (httpx.MockTransport: a unit test of the HTTP
client only; the sandbox covers real HTTP)."""

from __future__ import annotations

import json

import httpx
import pytest

from connectors.base.connector import SyncRecord
from connectors.base.errors import (
    AuthError,
    DataError,
    PermanentError,
    RetryableError,
    ThrottledError,
)
from connectors.webhook.auth import decode_secret, verify
from connectors.webhook.config import WebhookSettings
from connectors.webhook.errors import EndpointGoneError
from connectors.webhook.sink import WebhookConnector

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
URL = "https://hooks.example/in/tok3n?sig=xyz"


def connector(handler, urls=(URL,)):
    settings = WebhookSettings(urls=list(urls), secrets=[SECRET])
    return WebhookConnector(settings, transport=httpx.MockTransport(handler))


def rec(**event):
    base = {
        "event_id": "ev-1",
        "call_id": "call-1",
        "event_type": "call_ended",
        "occurred_at": 1_700_000_000_000,
    }
    return SyncRecord(key="call-1", event={**base, **event})


async def test_posts_signed_json_envelope():
    seen = {}

    def handler(request: httpx.Request) -> httpx.Response:
        seen["headers"] = dict(request.headers)
        seen["body"] = request.content
        return httpx.Response(200)

    c = connector(handler)
    [op] = c.map_record(rec())
    result = await c.deliver(op)
    assert result.detail["status"] == 200
    assert verify([decode_secret(SECRET)], seen["headers"], seen["body"]) == "ev-1"
    body = json.loads(seen["body"])
    assert body["type"] == "call.call_ended"
    assert body["timestamp"].startswith("2023-11-14T22:13:20")
    assert body["data"]["call_id"] == "call-1"
    assert seen["headers"]["content-type"] == "application/json"


@pytest.mark.parametrize(
    ("status", "headers", "error_type"),
    [
        (429, {"Retry-After": "7"}, ThrottledError),
        (408, {}, RetryableError),
        (500, {}, RetryableError),
        (503, {}, RetryableError),
        (401, {}, AuthError),
        (403, {}, AuthError),
        (400, {}, PermanentError),
        (422, {}, PermanentError),
        (302, {"Location": "https://elsewhere.example"}, PermanentError),
    ],
)
async def test_status_classification_never_includes_body_or_url_secrets(
    status, headers, error_type
):
    c = connector(
        lambda r: httpx.Response(status, headers=headers, text="customer phone +15551234567")
    )
    [op] = c.map_record(rec())
    with pytest.raises(error_type) as info:
        await c.deliver(op)
    assert type(info.value) is error_type
    assert info.value.status_code == status
    message = info.value.message
    assert f"HTTP {status}" in message and "endpoint #1 (https://hooks.example)" in message
    assert "+15551234567" not in message and "tok3n" not in message and "sig=" not in message
    if error_type is ThrottledError:
        assert info.value.retry_after == 7


async def test_429_without_retry_after_waits_a_default():
    c = connector(lambda r: httpx.Response(429))
    [op] = c.map_record(rec())
    with pytest.raises(ThrottledError) as info:
        await c.deliver(op)
    assert info.value.retry_after == 1.0


async def test_410_disables_the_endpoint():
    calls = []

    def handler(request):
        calls.append(request.url.host)
        return httpx.Response(410)

    c = connector(handler)
    [op] = c.map_record(rec())
    with pytest.raises(EndpointGoneError, match="410 Gone"):
        await c.deliver(op)
    [op2] = c.map_record(rec(event_id="ev-2"))
    with pytest.raises(EndpointGoneError, match="disabled"):
        await c.deliver(op2)
    assert calls == ["hooks.example"]


@pytest.mark.parametrize(
    ("exc", "text"),
    [(httpx.ConnectError("refused"), "unreachable"), (httpx.ReadTimeout("slow"), "timed out")],
)
async def test_transport_errors_are_retryable_with_clear_message(exc, text):
    def handler(request):
        raise exc

    c = connector(handler)
    [op] = c.map_record(rec())
    with pytest.raises(RetryableError) as info:
        await c.deliver(op)
    assert text in info.value.message and "tok3n" not in info.value.message


def test_one_operation_per_endpoint_keyed_by_event_id():
    c = connector(lambda r: httpx.Response(200), urls=(URL, "https://b.example/x"))
    ops = c.map_record(rec())
    assert len(ops) == 2
    assert all(op.payload["webhook_id"] == "ev-1" for op in ops)
    assert all(op.idempotency_key.startswith("ev-1@") for op in ops)
    assert len({op.idempotency_key for op in ops}) == 2
    again = c.map_record(rec())
    assert [o.idempotency_key for o in again] == [o.idempotency_key for o in ops]


@pytest.mark.parametrize("field", ["event_id", "call_id"])
def test_missing_required_field_is_a_data_error_naming_it(field):
    c = connector(lambda r: httpx.Response(200))
    event = {"event_id": "ev-1", "call_id": "c"}
    del event[field]
    with pytest.raises(DataError, match=f"no '{field}'"):
        c.map_record(SyncRecord(key="k", event=event))


def test_unencodable_value_is_a_data_error():
    c = connector(lambda r: httpx.Response(200))
    with pytest.raises(DataError, match="cannot be encoded as JSON"):
        c.map_record(rec(extra=object()))


async def test_refresh_reloads_secrets_from_the_environment(monkeypatch):
    new = "whsec_QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWY="
    seen = []
    c = connector(lambda r: seen.append(dict(r.headers)) or httpx.Response(200))
    monkeypatch.setenv("VOICEBUS_WEBHOOK_URLS", URL)
    monkeypatch.setenv("VOICEBUS_WEBHOOK_SECRETS", new)
    await c.refresh_credentials()
    [op] = c.map_record(rec())
    await c.deliver(op)
    assert (
        verify(
            [decode_secret(new)],
            seen[0],
            json.dumps(json.loads(op.payload["body"]), separators=(",", ":")).encode(),
        )
        == "ev-1"
    )
    monkeypatch.setenv("VOICEBUS_WEBHOOK_SECRETS", "whsec_bad")
    with pytest.raises(AuthError, match="VOICEBUS_WEBHOOK_SECRETS"):
        await c.refresh_credentials()


async def test_make_deliverer_wires_rate_limit_headers_into_the_bucket():
    from pipeline.sinks.delivery import OutcomeKind, make_deliverer
    from pipeline.sinks.ledger import InMemoryLedger

    c = connector(
        lambda r: httpx.Response(
            200, headers={"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "5"}
        )
    )
    deliverer = make_deliverer(c, InMemoryLedger())
    assert deliverer.resilience.policy.max_attempts == c.settings.resilience.max_attempts
    outcome = await deliverer.deliver_record(rec())
    assert outcome.kind is OutcomeKind.DELIVERED
    assert 4.5 < deliverer.resilience.bucket.paused_for <= 5
