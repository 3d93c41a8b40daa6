"""Shared OAuth 2.0 layer against an in-process token endpoint (httpx.MockTransport)."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import stat
from urllib.parse import parse_qs

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey
from pydantic import SecretStr

from connectors.base.auth import (
    JWT_BEARER_GRANT,
    ClientCredentialsProvider,
    CredentialsRevoked,
    FileCredentialStore,
    InMemoryCredentialStore,
    JWTBearerProvider,
    OAuth2Auth,
    RefreshTokenProvider,
    StaticTokenAuth,
    TokenEndpoint,
    TokenRejected,
)
from connectors.base.errors import AuthError, RetryableError

TOKEN_URL = "https://login.example.test/oauth/token"
API_URL = "https://api.example.test/v1/things"
CLIENT_SECRET = "cs-SUPERSECRET-7f3a"  # distinctive: must never leak
REFRESH_SECRET = "rt-TOPSECRET-91bc"


class FakeAuthServer:
    """Token endpoint + API in one MockTransport handler."""

    def __init__(self, *, expires_in: int | None = 3600, rotate: bool = False) -> None:
        self.expires_in = expires_in
        self.rotate = rotate
        self.token_requests: list[dict[str, list[str]]] = []
        self.token_headers: list[httpx.Headers] = []
        self.api_requests: list[str | None] = []
        self.valid: set[str] = set()
        self.refresh_tokens = {REFRESH_SECRET}
        self.revoked = False
        self.reject_all = False
        self.counter = 0

    async def handler(self, request: httpx.Request) -> httpx.Response:
        if str(request.url) == TOKEN_URL:
            await asyncio.sleep(0.01)  # let concurrent callers pile up
            form = parse_qs(request.content.decode())
            self.token_requests.append(form)
            self.token_headers.append(request.headers)
            grant = form["grant_type"][0]
            if grant == "refresh_token":
                presented = form["refresh_token"][0]
                if self.revoked or presented not in self.refresh_tokens:
                    return httpx.Response(
                        400,
                        json={
                            "error": "invalid_grant",
                            "error_description": f"expired access/refresh token {presented}",
                        },
                    )
            self.counter += 1
            access = f"at-{self.counter}"
            self.valid.add(access)
            body: dict[str, object] = {"access_token": access, "token_type": "Bearer"}
            if self.expires_in is not None:
                body["expires_in"] = self.expires_in
            if grant == "refresh_token" and self.rotate:
                new_rt = f"rt-rotated-{self.counter}"
                self.refresh_tokens = {new_rt}
                body["refresh_token"] = new_rt
            return httpx.Response(200, json=body)
        auth = request.headers.get("authorization")
        self.api_requests.append(auth)
        token = (auth or "").removeprefix("Bearer ")
        if self.reject_all or token not in self.valid:
            return httpx.Response(401, json=[{"errorCode": "INVALID_SESSION_ID"}])
        return httpx.Response(200, json={"ok": True})


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def make(
    server: FakeAuthServer, clock: Clock | None = None
) -> tuple[httpx.AsyncClient, TokenEndpoint]:
    transport = httpx.MockTransport(server.handler)
    http = httpx.AsyncClient(transport=transport)
    endpoint = TokenEndpoint(
        TOKEN_URL,
        http,
        target="acme",
        client_id="client-1",
        client_secret=SecretStr(CLIENT_SECRET),
        reauthorise_hint="re-authorise with `voicebus auth acme`",
        clock=clock or Clock(),
    )
    return http, endpoint


async def test_client_credentials_twenty_concurrent_requests_share_one_token_request() -> None:
    server = FakeAuthServer()
    http, endpoint = make(server)
    auth = OAuth2Auth(ClientCredentialsProvider(endpoint, scope="api"))
    api = httpx.AsyncClient(transport=httpx.MockTransport(server.handler), auth=auth)
    responses = await asyncio.gather(*(api.get(API_URL) for _ in range(20)))
    assert [r.status_code for r in responses] == [200] * 20
    assert len(server.token_requests) == 1
    form = server.token_requests[0]
    assert form["grant_type"] == ["client_credentials"] and form["scope"] == ["api"]
    assert form["client_secret"] == [CLIENT_SECRET]  # client_secret_post by default
    assert set(server.api_requests) == {"Bearer at-1"}
    await api.aclose()
    await http.aclose()


async def test_client_secret_basic_puts_credentials_in_the_header() -> None:
    server = FakeAuthServer()
    http, endpoint = make(server)
    endpoint.auth_method = "client_secret_basic"
    await ClientCredentialsProvider(endpoint).token()
    assert "client_secret" not in server.token_requests[0]
    assert server.token_headers[0]["authorization"].startswith("Basic ")
    await http.aclose()


async def test_token_is_refreshed_ahead_of_expiry_by_the_skew() -> None:
    server = FakeAuthServer(expires_in=600)
    clock = Clock()
    http, endpoint = make(server, clock)
    provider = ClientCredentialsProvider(endpoint, skew_s=60, clock=clock)
    first = await provider.token()
    clock.now += 600 - 61  # still 61 s left: kept
    assert await provider.token() is first
    clock.now += 2  # 59 s left: inside the skew, refreshed before it expires
    second = await provider.token()
    assert second is not first and len(server.token_requests) == 2
    await http.aclose()


async def test_401_refreshes_once_and_retries_then_token_rejected() -> None:
    server = FakeAuthServer()
    http, endpoint = make(server)
    auth = OAuth2Auth(ClientCredentialsProvider(endpoint))
    api = httpx.AsyncClient(transport=httpx.MockTransport(server.handler), auth=auth)
    assert (await api.get(API_URL)).status_code == 200
    server.valid.clear()  # the server forgets every session (expired early)
    assert (await api.get(API_URL)).status_code == 200
    assert len(server.token_requests) == 2 and auth.refreshes_on_401 == 1
    server.reject_all = True
    with pytest.raises(TokenRejected) as info:
        await api.get(API_URL)
    assert len(server.token_requests) == 3  # exactly one more refresh, then give up
    assert "rejected a freshly issued access token" in str(info.value)
    with pytest.raises(TokenRejected):  # the runtime's refresh hook does not loop again
        await auth.refresh_credentials()
    assert len(server.token_requests) == 3
    await api.aclose()
    await http.aclose()


async def test_concurrent_401s_cause_one_refresh() -> None:
    server = FakeAuthServer()
    http, endpoint = make(server)
    auth = OAuth2Auth(ClientCredentialsProvider(endpoint))
    api = httpx.AsyncClient(transport=httpx.MockTransport(server.handler), auth=auth)
    await api.get(API_URL)
    server.valid.clear()
    responses = await asyncio.gather(*(api.get(API_URL) for _ in range(20)))
    assert all(r.status_code == 200 for r in responses)
    assert len(server.token_requests) == 2
    await api.aclose()
    await http.aclose()


async def test_refresh_token_rotation_is_persisted_atomically_and_survives_restart(
    tmp_path,
) -> None:
    server = FakeAuthServer(rotate=True)
    http, endpoint = make(server)
    path = tmp_path / "creds" / "acme.json"
    store = FileCredentialStore(path)
    provider = RefreshTokenProvider(
        endpoint, refresh_token=SecretStr(REFRESH_SECRET), store=store, store_key="acme"
    )
    await provider.token()
    assert json.loads(path.read_text())["acme"]["refresh_token"] == "rt-rotated-1"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".")]  # no temp left
    # restart: the environment still holds the original (now dead) refresh token
    restarted = RefreshTokenProvider(
        endpoint,
        refresh_token=SecretStr(REFRESH_SECRET),
        store=FileCredentialStore(path),
        store_key="acme",
    )
    await restarted.token()
    assert server.token_requests[-1]["refresh_token"] == ["rt-rotated-1"]
    assert json.loads(path.read_text())["acme"]["refresh_token"] == "rt-rotated-2"
    await http.aclose()


async def test_revoked_refresh_token_raises_credentials_revoked_without_leaking(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    server = FakeAuthServer()
    server.revoked = True
    http, endpoint = make(server)
    auth = OAuth2Auth(
        RefreshTokenProvider(
            endpoint, refresh_token=SecretStr(REFRESH_SECRET), store=InMemoryCredentialStore()
        )
    )
    api = httpx.AsyncClient(transport=httpx.MockTransport(server.handler), auth=auth)
    with pytest.raises(CredentialsRevoked) as info:
        await api.get(API_URL)
    message = str(info.value)
    assert isinstance(info.value, AuthError)
    assert "refresh token revoked or expired for acme" in message
    assert "re-authorise with `voicebus auth acme`" in message
    assert "invalid_grant" in message
    with pytest.raises(CredentialsRevoked):
        await auth.refresh_credentials()
    for text in (message, caplog.text, repr(info.value.__dict__)):
        assert REFRESH_SECRET not in text and CLIENT_SECRET not in text
    assert server.api_requests == []  # nothing was sent without a token
    await api.aclose()
    await http.aclose()


async def test_missing_refresh_token_is_a_clear_auth_error() -> None:
    server = FakeAuthServer()
    http, endpoint = make(server)
    provider = RefreshTokenProvider(endpoint, store=InMemoryCredentialStore())
    with pytest.raises(CredentialsRevoked, match="no refresh token for acme"):
        await provider.token()
    assert server.token_requests == []
    await http.aclose()


async def test_token_endpoint_5xx_is_retryable_and_invalid_client_is_auth() -> None:
    async def handler(request: httpx.Request) -> httpx.Response:
        if "fail" in request.headers.get("x-mode", ""):
            return httpx.Response(503)
        return httpx.Response(401, json={"error": "invalid_client"})

    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    endpoint = TokenEndpoint(
        TOKEN_URL, http, target="acme", client_id="c", client_secret=SecretStr(CLIENT_SECRET)
    )
    with pytest.raises(AuthError) as info:
        await ClientCredentialsProvider(endpoint).token()
    assert not isinstance(info.value, CredentialsRevoked)
    assert "invalid_client" in str(info.value) and CLIENT_SECRET not in str(info.value)
    http.headers["x-mode"] = "fail"
    with pytest.raises(RetryableError):
        await ClientCredentialsProvider(endpoint).token()
    await http.aclose()


async def test_jwt_bearer_assertion_is_rs256_with_the_salesforce_claims() -> None:
    key = RSAKey.generate_key(2048)
    pem = key.as_pem(private=True).decode()
    server = FakeAuthServer()
    clock = Clock(1_700_000_000)
    http, endpoint = make(server, clock)
    endpoint.client_id = None  # jwt-bearer authenticates with the assertion only
    endpoint.auth_method = "none"
    provider = JWTBearerProvider(
        endpoint,
        issuer="3MVG9-consumer-key",
        subject="integration@example.com",
        audience="https://login.salesforce.com",
        private_key=SecretStr(pem),
        clock=clock,
    )
    await provider.token()
    form = server.token_requests[0]
    assert form["grant_type"] == [JWT_BEARER_GRANT]
    assert "client_secret" not in form
    public = RSAKey.import_key(key.as_pem(private=False))
    decoded = jwt.decode(form["assertion"][0], public, algorithms=["RS256"])
    assert decoded.header["alg"] == "RS256"
    claims = decoded.claims
    assert claims["iss"] == "3MVG9-consumer-key"
    assert claims["sub"] == "integration@example.com"
    assert claims["aud"] == "https://login.salesforce.com"
    assert claims["exp"] == 1_700_000_000 + 180
    other = RSAKey.generate_key(2048)
    with pytest.raises(Exception):
        jwt.decode(form["assertion"][0], other, algorithms=["RS256"])
    await http.aclose()


def test_jwt_bearer_rejects_a_key_that_is_not_a_private_rsa_pem() -> None:
    endpoint = TokenEndpoint(TOKEN_URL, httpx.AsyncClient(), target="acme")
    with pytest.raises(ValueError, match="not an RSA private key in PEM") as info:
        JWTBearerProvider(
            endpoint,
            issuer="i",
            audience="a",
            private_key=SecretStr("not-a-key-SECRETPEM"),
        )
    assert "SECRETPEM" not in str(info.value)


async def test_static_token_auth_sets_the_header_and_reloads() -> None:
    seen: list[str | None] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("x-api-key"))
        return httpx.Response(200)

    auth = StaticTokenAuth(
        SecretStr("key-1"), header="X-Api-Key", scheme=None, reload=lambda: SecretStr("key-2")
    )
    api = httpx.AsyncClient(transport=httpx.MockTransport(handler), auth=auth)
    await api.get(API_URL)
    await auth.refresh_credentials()
    await api.get(API_URL)
    assert seen == ["key-1", "key-2"]
    no_reload = StaticTokenAuth(SecretStr("k"))
    with pytest.raises(AuthError, match="cannot be reloaded"):
        await no_reload.refresh_credentials()
    await api.aclose()


def test_tokens_never_show_in_repr() -> None:
    from connectors.base.auth import AccessToken

    token = AccessToken.from_response(
        {"access_token": "AT-SECRET", "refresh_token": "RT-SECRET", "instance_url": "https://x"}
    )
    text = repr(token) + str(token)
    assert "AT-SECRET" not in text and "RT-SECRET" not in text
    assert token.extra == {"instance_url": "https://x"}


async def test_revoked_grant_is_not_hammered_by_concurrent_requests_and_store_is_reread() -> None:
    server = FakeAuthServer()
    server.revoked = True
    clock = Clock()
    http, endpoint = make(server, clock)
    store = InMemoryCredentialStore()
    provider = RefreshTokenProvider(
        endpoint,
        refresh_token=SecretStr(REFRESH_SECRET),
        store=store,
        clock=clock,
        revoked_backoff_s=30,
    )
    auth = OAuth2Auth(provider)
    api = httpx.AsyncClient(transport=httpx.MockTransport(server.handler), auth=auth)
    results = await asyncio.gather(*(api.get(API_URL) for _ in range(10)), return_exceptions=True)
    assert all(isinstance(r, CredentialsRevoked) for r in results)
    assert len(server.token_requests) == 1
    # an operator re-authorises: a new refresh token lands in the store
    server.revoked = False
    server.refresh_tokens = {"rt-new-grant"}
    await store.save("acme", {"refresh_token": "rt-new-grant"})
    with pytest.raises(CredentialsRevoked):  # still inside the back-off window: no request
        await api.get(API_URL)
    assert len(server.token_requests) == 1
    clock.now += 31
    assert (await api.get(API_URL)).status_code == 200
    assert server.token_requests[-1]["refresh_token"] == ["rt-new-grant"]
    await api.aclose()
    await http.aclose()


async def test_file_store_reports_a_corrupt_file_by_path_without_contents(tmp_path) -> None:
    from connectors.base.auth import CredentialStoreError

    path = tmp_path / "store.json"
    path.write_text('{"acme": {"refresh_token": "rt-LEAKME"')  # truncated write by hand
    with pytest.raises(CredentialStoreError) as info:
        await FileCredentialStore(path).load("acme")
    assert str(path) in str(info.value) and "LEAKME" not in str(info.value)
    store = FileCredentialStore(tmp_path / "other.json", mode=0o640)
    await store.save("a", {"x": 1})
    await store.save("b", {"y": 2})
    assert await store.load("a") == {"x": 1} and await store.load("b") == {"y": 2}
    assert stat.S_IMODE(os.stat(tmp_path / "other.json").st_mode) == 0o640
