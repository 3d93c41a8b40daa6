"""The HubSpot sandbox behaves like HubSpot (auth, spec validation, rate limits, search,
unique properties), and the connector's OAuth path works against it."""

from __future__ import annotations

import asyncio
import json
import stat

import httpx
import pytest

from connectors.base.sandbox import SandboxServer
from connectors.hubspot.sandbox import make_app, state_of
from connectors.hubspot.sink import HubSpotConnector
from pipeline.resilience.target import ResilienceSettings, TargetResilience
from pipeline.sinks.delivery import Deliverer, OutcomeKind
from pipeline.sinks.ledger import InMemoryLedger
from tests.integration.hubspot.conftest import (
    TOKEN,
    add_contact,
    calls_with,
    enriched_event,
    hubspot_settings,
    record_of,
)

UPSERT = "/crm/v3/objects/calls/batch/upsert"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def upsert_body(call_id: str, **props: object) -> dict:
    properties = {"hs_timestamp": "2026-11-24T20:00:00.000Z", **props}
    return {"inputs": [{"idProperty": "voicebus_call_id", "id": call_id, "properties": properties}]}


async def test_requests_without_valid_token_get_hubspots_401(hubspot_sandbox):
    async with httpx.AsyncClient(base_url=hubspot_sandbox.url) as http:
        missing = await http.post(UPSERT, json=upsert_body("c1"))
        wrong = await http.post(
            UPSERT, json=upsert_body("c1"), headers={"Authorization": "Bearer x"}
        )
    for response in (missing, wrong):
        assert response.status_code == 401
        body = response.json()
        assert body["category"] == "INVALID_AUTHENTICATION"
        assert body["message"].startswith("Authentication credentials not found")
        assert "X-HubSpot-RateLimit-Daily-Remaining" in response.headers


async def test_bodies_are_validated_against_the_published_spec(hubspot_sandbox, hubspot_state):
    async with httpx.AsyncClient(base_url=hubspot_sandbox.url, headers=AUTH) as http:
        not_a_string = await http.post(UPSERT, json=upsert_body("c1", hs_call_duration=5))
        no_inputs = await http.post(UPSERT, json={"records": []})
        unknown_prop = await http.post(UPSERT, json=upsert_body("c1", hs_call_mood="happy"))
        bad_option = await http.post(UPSERT, json=upsert_body("c1", hs_call_direction="SIDEWAYS"))
        no_route = await http.post("/crm/v3/objects/calls/batch/explode", json={})
        ok = await http.post(UPSERT, json=upsert_body("c1", hs_call_direction="INBOUND"))
    assert not_a_string.status_code == 400
    assert not_a_string.json()["category"] == "VALIDATION_ERROR"
    assert any("hs_call_duration" in e for e in not_a_string.json()["context"]["schemaErrors"])
    assert no_inputs.status_code == 400
    assert unknown_prop.status_code == 400
    assert unknown_prop.json()["context"]["propertyName"] == ["hs_call_mood"]
    assert bad_option.status_code == 400
    assert no_route.status_code == 404
    assert ok.status_code == 200
    assert ok.json()["results"][0]["new"] is True
    assert len(calls_with(hubspot_state, "c1")) == 1


async def test_upsert_is_idempotent_and_create_enforces_unique_values(
    hubspot_sandbox, hubspot_state
):
    task = {
        "properties": {
            "voicebus_task_id": "e1:0",
            "hs_task_subject": "x",
            "hs_timestamp": "2026-11-25T09:00:00.000Z",
        },
        "associations": [],
    }
    async with httpx.AsyncClient(base_url=hubspot_sandbox.url, headers=AUTH) as http:
        first = await http.post(UPSERT, json=upsert_body("c2", hs_call_title="a"))
        second = await http.post(UPSERT, json=upsert_body("c2", hs_call_title="b"))
        created = await http.post("/crm/v3/objects/tasks/batch/create", json={"inputs": [task]})
        again = await http.post("/crm/v3/objects/tasks/batch/create", json={"inputs": [task]})
    assert first.json()["results"][0]["id"] == second.json()["results"][0]["id"]
    assert second.json()["results"][0]["new"] is False
    (call,) = calls_with(hubspot_state, "c2")
    assert call["properties"]["hs_call_title"] == "b"
    assert created.status_code == 201
    assert again.status_code == 409
    assert again.json()["category"] == "CONFLICT"
    assert len(hubspot_state.store.all("tasks")) == 1


async def test_search_by_phone_or_mobile(hubspot_sandbox, hubspot_state):
    by_phone = add_contact(hubspot_state, "+14155550001")
    by_mobile = str(hubspot_state.store.create("contacts", {"mobilephone": "+14155550002"})["id"])
    add_contact(hubspot_state, "+14155550003")

    async def search(number: str) -> list[str]:
        body = {
            "filterGroups": [
                {"filters": [{"propertyName": p, "operator": "EQ", "value": number}]}
                for p in ("phone", "mobilephone")
            ],
            "properties": ["phone"],
            "sorts": [],
            "limit": 10,
            "after": "0",
        }
        async with httpx.AsyncClient(base_url=hubspot_sandbox.url, headers=AUTH) as http:
            response = await http.post("/crm/v3/objects/contacts/search", json=body)
        assert response.status_code == 200
        return [r["id"] for r in response.json()["results"]]

    assert await search("+14155550001") == [by_phone]
    assert await search("+14155550002") == [by_mobile]
    assert await search("+19999999999") == []


async def test_over_the_secondly_limit_answers_429_with_policy_name():
    with SandboxServer(make_app(private_tokens=[TOKEN], secondly=2, daily=None)) as srv:
        async with httpx.AsyncClient(base_url=srv.url, headers=AUTH) as http:
            answers = [await http.get("/crm/v3/objects/calls/1") for _ in range(3)]
    assert [a.status_code for a in answers] == [404, 404, 429]
    assert answers[1].headers["X-HubSpot-RateLimit-Secondly-Remaining"] == "0"
    body = answers[2].json()
    assert body["errorType"] == "RATE_LIMIT"
    assert body["policyName"] == "SECONDLY"
    assert body["message"] == "You have reached your secondly limit."


async def test_daily_limit_throttles_until_reset_without_dead_lettering():
    with SandboxServer(make_app(private_tokens=[TOKEN], daily=0)) as srv:
        settings = hubspot_settings(srv.url)
        connector = HubSpotConnector(settings, reload_settings=lambda: settings)
        waits: list[float] = []

        async def sleep(seconds: float) -> None:
            waits.append(seconds)

        resilience = TargetResilience.from_settings(
            "hubspot", ResilienceSettings(rate_per_s=0, throttle_max_elapsed_s=60), sleep=sleep
        )
        try:
            outcome = await Deliverer(connector, InMemoryLedger(), resilience).deliver_record(
                record_of(enriched_event("daily-1"))
            )
        finally:
            await connector.aclose()
    assert outcome.kind is OutcomeKind.RETRY_LATER  # to the retry topic, never the DLQ
    assert outcome.error_class == "throttled"
    assert "DAILY" in (outcome.message or "")


def oauth_settings(url: str, store_path: str) -> dict:
    return {
        "base_url": url,
        "access_token": None,
        "client_id": "cid",
        "client_secret": "csecret-123",
        "refresh_token": "rt-initial",
        "credential_store": store_path,
        "requests_per_s": 0,
        "search_requests_per_s": 0,
    }


async def test_oauth_refreshes_once_for_concurrent_calls_and_persists_rotation(tmp_path):
    app = make_app(private_tokens=[], oauth_clients={"cid": ("csecret-123", "rt-initial")})
    with SandboxServer(app) as srv:
        state = state_of(srv.app)
        contact = add_contact(state, "+14155550100")
        store_file = tmp_path / "hubspot-credentials.json"
        settings = hubspot_settings(srv.url, **oauth_settings(srv.url, str(store_file)))
        connector = HubSpotConnector(settings, reload_settings=lambda: settings)
        fast = ResilienceSettings(rate_per_s=0, jitter_s=0, initial_backoff_s=0.01)
        deliverer = Deliverer(
            connector, InMemoryLedger(), TargetResilience.from_settings("hubspot", fast)
        )
        try:
            records = [record_of(enriched_event(f"o-{n}", contact_id=contact)) for n in range(20)]
            outcomes = await asyncio.gather(*(deliverer.deliver_record(r) for r in records))
            assert {o.kind for o in outcomes} == {OutcomeKind.DELIVERED}
            assert state.tokens.grants == 1  # one refresh shared by 20 concurrent deliveries
            saved = json.loads(store_file.read_text())["hubspot"]["refresh_token"]
            assert saved != "rt-initial"  # rotated and persisted
            assert stat.S_IMODE(store_file.stat().st_mode) == 0o600

            # HubSpot expires the access token early: 401 -> one refresh -> delivered
            srv.controls.mutate("expire_tokens")
            again = await deliverer.deliver_record(
                record_of(enriched_event("o-x", contact_id=contact))
            )
            assert again.kind is OutcomeKind.DELIVERED, again.message
            assert state.tokens.grants == 2

            # the app is uninstalled: refresh token dead -> pause, nothing dead-lettered
            srv.controls.mutate("revoke_tokens")
            srv.controls.mutate("expire_tokens")
            revoked = await deliverer.deliver_record(
                record_of(enriched_event("o-y", contact_id=contact))
            )
        finally:
            await connector.aclose()
        assert revoked.kind is OutcomeKind.PAUSE_AUTH
        assert "BAD_REFRESH_TOKEN" in (revoked.message or "")
        for secret in ("csecret-123", "rt-initial", saved):
            assert secret not in (revoked.message or "")
        assert len(calls_with(state, "o-y")) == 0


@pytest.mark.parametrize("status", [403, 404])
async def test_scope_and_missing_object_errors_are_dead_lettered(
    hubspot_sandbox, hubspot_connector, status
):
    hubspot_sandbox.controls.fail_next(1, status=status, path=UPSERT)
    deliverer = Deliverer(
        hubspot_connector,
        InMemoryLedger(),
        TargetResilience.from_settings("hubspot", ResilienceSettings(rate_per_s=0)),
    )
    outcome = await deliverer.deliver_record(record_of(enriched_event()))
    assert outcome.kind is OutcomeKind.DEAD_LETTER
    assert outcome.error_class == "permanent"
    assert str(status) in (outcome.message or "")


async def test_records_can_be_changed_behind_our_back(hubspot_sandbox, hubspot_state):
    contact = add_contact(hubspot_state, "+14155550777")
    hubspot_sandbox.controls.mutate(
        "set_property", object_type="contacts", object_id=contact, name="phone", value="+1999"
    )
    async with httpx.AsyncClient(base_url=hubspot_sandbox.url, headers=AUTH) as http:
        got = await http.get(f"/crm/v3/objects/contacts/{contact}")
        gone = await http.get("/crm/v3/objects/contacts/424242")
    assert got.status_code == 200
    assert got.json()["properties"]["phone"] == "+1999"
    assert got.json()["updatedAt"] >= got.json()["createdAt"]
    assert gone.status_code == 404
    assert gone.json()["category"] == "OBJECT_NOT_FOUND"
