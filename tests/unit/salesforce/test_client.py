"""SalesforceClient against httpx.MockTransport: status handling the sandbox cannot provoke."""

from __future__ import annotations

import httpx
import pytest
from pydantic import SecretStr

from connectors.base.errors import RetryableError
from connectors.salesforce.client import SalesforceClient
from connectors.salesforce.config import AuthFlow, SalesforceSettings


def client(handler) -> SalesforceClient:
    settings = SalesforceSettings(
        auth_flow=AuthFlow.STATIC,
        access_token=SecretStr("00Dstatic!session"),
        instance_url="https://acme.my.salesforce.com",
    )
    return SalesforceClient(settings, transport=httpx.MockTransport(handler))


async def test_upsert_race_on_a_new_external_id_is_retryable() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            400,
            json=[{"message": "duplicate value found", "errorCode": "DUPLICATE_VALUE",
                   "fields": ["Voicebus_Phone__c"]}],
        )  # fmt: skip

    c = client(handler)
    with pytest.raises(RetryableError, match="DUPLICATE_VALUE"):
        await c.upsert("Lead", "Voicebus_Phone__c", "+1555", {"LastName": "x"})
    await c.aclose()


async def test_204_update_and_the_request_shape() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(204, headers={"Sforce-Limit-Info": "api-usage=7/100"})

    c = client(handler)
    result = await c.upsert("Task", "Voicebus_Call_Id__c", "call/1 x", {"Subject": "s"})
    assert result.id is None and result.created is False
    (request,) = seen
    assert request.method == "PATCH"
    assert (
        request.url.raw_path
        == b"/services/data/v60.0/sobjects/Task/Voicebus_Call_Id__c/call%2F1%20x"
    )
    assert request.headers["authorization"] == "Bearer 00Dstatic!session"
    assert c.api_usage == (7, 100)
    await c.aclose()


async def test_static_token_is_reloaded_from_the_environment_after_a_401(monkeypatch) -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["authorization"])
        if request.headers["authorization"].endswith("old"):
            return httpx.Response(401, json=[{"errorCode": "INVALID_SESSION_ID"}])
        return httpx.Response(201, json={"id": "00T5g0000000001EAA", "created": True})

    settings = SalesforceSettings(
        auth_flow=AuthFlow.STATIC,
        access_token=SecretStr("00D!old"),
        instance_url="https://acme.my.salesforce.com",
    )
    c = SalesforceClient(settings, transport=httpx.MockTransport(handler))
    from connectors.base.errors import AuthError

    with pytest.raises(AuthError):
        await c.upsert("Task", "Voicebus_Call_Id__c", "c1", {})
    monkeypatch.setenv("VOICEBUS_SALESFORCE_AUTH_FLOW", "static")
    monkeypatch.setenv("VOICEBUS_SALESFORCE_ACCESS_TOKEN", "00D!new")
    monkeypatch.setenv("VOICEBUS_SALESFORCE_INSTANCE_URL", "https://acme.my.salesforce.com")
    await c.auth.refresh_credentials()
    assert (await c.upsert("Task", "Voicebus_Call_Id__c", "c1", {})).created
    assert seen == ["Bearer 00D!old", "Bearer 00D!new"]
    await c.aclose()
