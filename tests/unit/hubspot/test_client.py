"""The client's rate-limit feedback and the writer's 207/409 handling (httpx.MockTransport:
unit tests of the HTTP client only; integration tests use the sandbox)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from connectors.base.connector import DeliveryResult
from connectors.base.errors import ConnectorError, DataError, ThrottledError
from connectors.hubspot.config import HubSpotSettings
from connectors.hubspot.mapping import map_record
from connectors.hubspot.sink import HubSpotConnector
from tests.unit.hubspot.helpers import record, settings

LIMIT_HEADERS = {
    "X-HubSpot-RateLimit-Daily": "500000",
    "X-HubSpot-RateLimit-Daily-Remaining": "499000",
    "X-HubSpot-RateLimit-Interval-Milliseconds": "10000",
    "X-HubSpot-RateLimit-Max": "100",
    "X-HubSpot-RateLimit-Remaining": "42",
}


def connector(handler, **overrides: Any) -> HubSpotConnector:
    s = settings(requests_per_s=50, search_requests_per_s=0, **overrides)
    return HubSpotConnector(s, transport=httpx.MockTransport(handler), reload_settings=lambda: s)


def batch(results: list[dict], errors: list[dict] | None = None, status: int | None = None):
    body: dict[str, Any] = {
        "status": "COMPLETE",
        "results": results,
        "startedAt": "t",
        "completedAt": "t",
    }
    if errors:
        body["errors"] = errors
    return httpx.Response(status or (207 if errors else 200), json=body, headers=LIMIT_HEADERS)


def call_result(call_id: str, hs_id: str) -> dict:
    return {
        "id": hs_id,
        "properties": {"voicebus_call_id": call_id},
        "createdAt": "t",
        "updatedAt": "t",
        "archived": False,
        "new": True,
    }


async def test_headers_lower_the_rate_to_the_portals_and_pause_when_used_up():
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.headers["authorization"] == "Bearer pat-unit-secret"
        body = json.loads(request.content)
        if request.url.path.endswith("/search"):
            return httpx.Response(200, json={"total": 0, "results": []}, headers=LIMIT_HEADERS)
        ids = [i["id"] for i in body["inputs"]]
        return batch([call_result(c, "9") for c in ids])

    c = connector(handler)
    try:
        await c.deliver(map_record(record(), c.settings)[0])
        assert c.client.bucket.rate_per_s == pytest.approx(10.0)  # 100 per 10 s
        assert c.client.bucket.paused_for == 0
        c.client.observer.observe(
            httpx.Headers({**LIMIT_HEADERS, "X-HubSpot-RateLimit-Remaining": "0"})
        )
        assert 0 < c.client.bucket.paused_for <= 1.0
        c.client.observer.observe(
            httpx.Headers({**LIMIT_HEADERS, "X-HubSpot-RateLimit-Daily-Remaining": "0"})
        )
        assert c.client.observer.daily_blocked_for > 1.0
        requests_before = c.client.requests_sent
        with pytest.raises(ThrottledError, match="daily API quota") as caught:
            await c.deliver(map_record(record(), c.settings)[0])
        assert caught.value.retry_after > 1.0
        assert c.client.requests_sent == requests_before  # nothing sent while blocked
    finally:
        await c.aclose()


async def test_207_fails_only_the_inputs_its_errors_name():
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        body = json.loads(request.content)
        if request.url.path.endswith("/batch/upsert"):
            ids = [i["id"] for i in body["inputs"]]
            error = {
                "status": "error",
                "category": "VALIDATION_ERROR",
                "message": "secret text",
                "context": {"ids": ["call-b"]},
            }
            return batch([call_result(c, f"hs-{c}") for c in ids if c != "call-b"], [error])
        return batch([])

    c = connector(handler)
    try:
        ops = [
            map_record(record(call_id=cid, event_id=cid), c.settings)[0]
            for cid in ("call-a", "call-b", "call-c")
        ]
        outcomes = await c.deliver_batch(ops)
    finally:
        await c.aclose()
    assert isinstance(outcomes[0], DeliveryResult) and outcomes[0].external_id == "hs-call-a"
    assert isinstance(outcomes[1], DataError) and "secret text" not in outcomes[1].message
    assert isinstance(outcomes[2], DeliveryResult)
    assert seen == ["/crm/v3/objects/contacts/search", "/crm/v3/objects/calls/batch/upsert"]


async def test_unnamed_batch_errors_fail_every_input_without_a_result():
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/search"):
            return httpx.Response(200, json={"total": 0, "results": []})
        return batch([call_result("call-a", "1")], [{"status": "error", "category": "X"}])

    c = connector(handler)
    try:
        ops = [
            map_record(record(call_id=cid, event_id=cid), c.settings)[0]
            for cid in ("call-a", "call-b")
        ]
        outcomes = await c.deliver_batch(ops)
    finally:
        await c.aclose()
    assert isinstance(outcomes[0], DeliveryResult)
    assert isinstance(outcomes[1], ConnectorError)  # HubSpot named no input: all unanswered


async def test_task_conflict_adopts_existing_tasks_and_creates_the_rest():
    creates: list[list[str]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        path = request.url.path
        if path == "/crm/v3/objects/contacts/search":
            return httpx.Response(200, json={"total": 0, "results": []})
        if path == "/crm/v3/objects/tasks/search":
            assert body["filterGroups"][0]["filters"][0]["operator"] == "IN"
            return httpx.Response(
                200,
                json={
                    "total": 1,
                    "results": [{"id": "700", "properties": {"voicebus_task_id": "e-1:0"}}],
                },
            )
        if path == "/crm/v3/objects/tasks/batch/create":
            keys = [i["properties"]["voicebus_task_id"] for i in body["inputs"]]
            creates.append(keys)
            if "e-1:0" in keys:
                return httpx.Response(
                    409,
                    json={
                        "status": "error",
                        "category": "CONFLICT",
                        "message": "exists",
                        "correlationId": "c",
                    },
                )
            return httpx.Response(
                201,
                json={
                    "status": "COMPLETE",
                    "startedAt": "t",
                    "completedAt": "t",
                    "results": [{"id": "701", "properties": {"voicebus_task_id": k}} for k in keys],
                },
            )
        raise AssertionError(path)

    items = [{"description": "a"}, {"description": "b"}]
    rec = record("call_summary", payload={"summary": "s", "action_items": items})
    c = connector(handler, sentiment_property=None, intents_property=None)
    try:
        tasks = [o for o in map_record(rec, c.settings) if o.kind == "task.create"]
        outcomes = await c.deliver_batch(tasks)
    finally:
        await c.aclose()
    assert creates == [["e-1:0", "e-1:1"], ["e-1:1"]]
    assert [o.external_id for o in outcomes if isinstance(o, DeliveryResult)] == ["700", "701"]
    assert outcomes[0].detail == {"existing": True}


def test_settings_name_the_missing_credentials_and_never_echo_values(monkeypatch):
    for var in ("ACCESS_TOKEN", "CLIENT_ID", "CLIENT_SECRET", "REFRESH_TOKEN"):
        monkeypatch.delenv(f"VOICEBUS_HUBSPOT_{var}", raising=False)
    with pytest.raises(ValidationError) as caught:
        HubSpotSettings(client_secret="shh-very-secret")
    text = str(caught.value)
    assert "VOICEBUS_HUBSPOT_ACCESS_TOKEN" in text
    assert "shh-very-secret" not in text
