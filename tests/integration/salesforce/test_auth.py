"""OAuth against the sandbox: expiry mid-run, revoked grants, rotation across restarts, JWT
bearer, and no secret in logs or outcomes."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest
from joserfc.jwk import RSAKey
from pydantic import SecretStr

from connectors.base.auth import CredentialsRevoked
from connectors.salesforce.config import AuthFlow
from connectors.salesforce.sandbox import SalesforceSandbox
from connectors.salesforce.sandbox_state import Credentials, SalesforceOrg
from connectors.salesforce.sink import SalesforceConnector
from pipeline.sinks.delivery import OutcomeKind

from .conftest import make_deliverer
from .helpers import enriched_event, record_of, settings_for

REFRESH_TOKEN = "5Aep861-INITIAL-REFRESH-TOKEN-e3b0c442"


async def test_token_expiry_mid_run_refreshes_exactly_once_and_loses_nothing(
    sf: SalesforceSandbox, connector: SalesforceConnector
) -> None:
    deliverer = make_deliverer(connector)
    first = [record_of(enriched_event(f"exp-{i:03d}")) for i in range(50)]
    second = [record_of(enriched_event(f"exp-{i:03d}")) for i in range(50, 100)]
    outcomes = await asyncio.gather(*(deliverer.deliver_record(r) for r in first))
    assert {o.kind for o in outcomes} == {OutcomeKind.DELIVERED}
    grants_before = sf.org.token_requests["client_credentials"]
    assert sf.org.expire_tokens() >= 1  # the session ends under the running sink
    outcomes = await asyncio.gather(*(deliverer.deliver_record(r) for r in second))
    assert {o.kind for o in outcomes} == {OutcomeKind.DELIVERED}
    assert sf.org.token_requests["client_credentials"] - grants_before == 1
    ids = sorted(t["Voicebus_Call_Id__c"] for t in sf.org.all("Task"))
    assert ids == [f"exp-{i:03d}" for i in range(100)]  # none lost, none twice


@pytest.fixture
def sf_refresh() -> SalesforceSandbox:
    org = SalesforceOrg(Credentials(refresh_tokens={REFRESH_TOKEN}), rotate_refresh_tokens=True)
    with SalesforceSandbox(org) as sandbox:
        yield sandbox


def refresh_settings(sf: SalesforceSandbox, store_path):
    return settings_for(
        sf,
        auth_flow=AuthFlow.REFRESH_TOKEN,
        refresh_token=SecretStr(REFRESH_TOKEN),
        credential_store_path=store_path,
    )


async def test_revoked_refresh_token_pauses_with_a_clear_error_and_no_dead_letter(
    sf_refresh: SalesforceSandbox, caplog: pytest.LogCaptureFixture, tmp_path
) -> None:
    caplog.set_level(logging.DEBUG)
    sf = sf_refresh
    connector = SalesforceConnector(refresh_settings(sf, tmp_path / "creds.json"))
    deliverer = make_deliverer(connector)
    ok = await deliverer.deliver_record(record_of(enriched_event("rv-1")))
    assert ok.kind is OutcomeKind.DELIVERED
    sf.org.revoke_refresh_tokens()  # an admin revoked the app's access
    records = [record_of(enriched_event(f"rv-{i}")) for i in range(2, 6)]
    outcomes = await asyncio.gather(*(deliverer.deliver_record(r) for r in records))
    assert {o.kind for o in outcomes} == {OutcomeKind.PAUSE_AUTH}
    assert all(o.error_class == "auth" for o in outcomes)
    assert not any(o.kind is OutcomeKind.DEAD_LETTER for o in outcomes)
    message = outcomes[0].message or ""
    assert "refresh token revoked or expired for salesforce" in message
    assert "invalid_grant" in message and "re-authorise" in message
    assert isinstance(connector.client.auth.last_failure, CredentialsRevoked)
    assert [t["Voicebus_Call_Id__c"] for t in sf.org.all("Task")] == ["rv-1"]
    # a revoked grant is not hammered: the sink pauses after the one refresh attempt
    assert sf.org.token_failures["refresh_token"] == 1
    secrets = [REFRESH_TOKEN, sf.org.credentials.client_secret, *sf.org.credentials.refresh_tokens]
    texts = [caplog.text, *(o.message or "" for o in outcomes)]
    for secret in secrets:
        assert all(secret not in text for text in texts), "a secret leaked"
    await connector.aclose()


async def test_rotated_refresh_token_survives_a_restart(
    sf_refresh: SalesforceSandbox, tmp_path
) -> None:
    sf = sf_refresh
    store = tmp_path / "salesforce-credentials.json"
    first = SalesforceConnector(refresh_settings(sf, store))
    await make_deliverer(first).deliver_record(record_of(enriched_event("rot-1")))
    await first.aclose()
    (rotated,) = sf.org.credentials.refresh_tokens
    assert rotated != REFRESH_TOKEN
    assert REFRESH_TOKEN not in store.read_text()
    assert rotated in json.dumps(json.loads(store.read_text()))
    assert oct(store.stat().st_mode & 0o777) == "0o600"
    # restart with the original (now dead) token still in the environment
    second = SalesforceConnector(refresh_settings(sf, store))
    outcome = await make_deliverer(second).deliver_record(record_of(enriched_event("rot-2")))
    assert outcome.kind is OutcomeKind.DELIVERED, outcome.message
    assert sf.org.token_failures["refresh_token"] == 0
    await second.aclose()


async def test_jwt_bearer_flow_logs_in_with_a_signed_assertion() -> None:
    key = RSAKey.generate_key(2048)
    creds = Credentials(jwt_public_key_pem=key.as_pem(private=False).decode())
    with SalesforceSandbox(SalesforceOrg(creds)) as sf:
        settings = settings_for(
            sf,
            auth_flow=AuthFlow.JWT_BEARER,
            client_secret=None,
            username=creds.username,
            private_key=SecretStr(key.as_pem(private=True).decode()),
        )
        connector = SalesforceConnector(settings)
        outcome = await make_deliverer(connector).deliver_record(record_of(enriched_event("jwt-1")))
        assert outcome.kind is OutcomeKind.DELIVERED, outcome.message
        assert sf.org.token_requests["urn:ietf:params:oauth:grant-type:jwt-bearer"] == 1
        await connector.aclose()

        # a key the connected app does not know is refused: auth pause, not a dead letter
        other = RSAKey.generate_key(2048)
        wrong = SalesforceConnector(
            settings.model_copy(
                update={"private_key": SecretStr(other.as_pem(private=True).decode())}
            )
        )
        outcome = await make_deliverer(wrong).deliver_record(record_of(enriched_event("jwt-2")))
        assert outcome.kind is OutcomeKind.PAUSE_AUTH
        assert "invalid assertion" in (outcome.message or "")
        assert len(sf.org.all("Task")) == 1
        await wrong.aclose()


async def test_wrong_client_secret_pauses_and_never_echoes_the_secret(
    sf: SalesforceSandbox, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    secret = "WRONG-SECRET-d41d8cd98f00"
    connector = SalesforceConnector(settings_for(sf, client_secret=SecretStr(secret)))
    outcome = await make_deliverer(connector).deliver_record(record_of(enriched_event("bad-1")))
    assert outcome.kind is OutcomeKind.PAUSE_AUTH
    assert "invalid_client" in (outcome.message or "")
    assert secret not in (outcome.message or "") and secret not in caplog.text
    assert secret not in repr(connector.settings)
    await connector.aclose()
