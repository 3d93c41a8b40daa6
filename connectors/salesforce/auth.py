"""Salesforce credentials on the shared OAuth layer (``connectors.base.auth``).

Token endpoint: ``{login_url}/services/oauth2/token``.  Salesforce answers without
``expires_in`` (sessions end after the org's timeout), so tokens are assumed valid for
``session_ttl_s`` and refreshed ``token_skew_s`` before that; an earlier expiry shows up as
401 ``INVALID_SESSION_ID``, which the flow answers with one shared refresh.
"""

from __future__ import annotations

from pathlib import Path

import httpx
from pydantic import SecretStr

from connectors.base.auth import (
    ClientCredentialsProvider,
    FileCredentialStore,
    JWTBearerProvider,
    OAuth2Auth,
    RefreshTokenProvider,
    StaticTokenAuth,
    TokenEndpoint,
    TokenProvider,
)
from connectors.base.auth.store import CredentialStore
from connectors.salesforce.config import AuthFlow, SalesforceSettings
from connectors.salesforce.errors import TARGET
from pipeline.config import Settings

REAUTHORISE_HINT = (
    "re-authorise with the connected app's web-server flow and set "
    "VOICEBUS_SALESFORCE_REFRESH_TOKEN (or, for jwt_bearer, pre-authorise the user for the "
    "connected app), then resume the sink"
)

SalesforceAuth = OAuth2Auth | StaticTokenAuth


def _reload_access_token() -> SecretStr:
    """``static`` flow: an operator may have put a fresh session id in the environment."""
    token = SalesforceSettings().access_token
    if token is None:
        raise ValueError("VOICEBUS_SALESFORCE_ACCESS_TOKEN is not set")
    return token


def default_store_path() -> Path:
    """``<VOICEBUS_STATE_DIR>/credentials/salesforce.json``: rotated refresh tokens must
    survive restarts, so the default is a file, never memory."""
    return Path(Settings().state_dir) / "credentials" / f"{TARGET}.json"


def make_provider(
    settings: SalesforceSettings, http: httpx.AsyncClient, store: CredentialStore | None = None
) -> TokenProvider:
    endpoint = TokenEndpoint(
        settings.token_url,
        http,
        target=TARGET,
        client_id=settings.client_id if settings.auth_flow is not AuthFlow.JWT_BEARER else None,
        client_secret=settings.client_secret,
        auth_method="client_secret_post",
        reauthorise_hint=REAUTHORISE_HINT,
        default_ttl_s=settings.session_ttl_s,
    )
    if settings.auth_flow is AuthFlow.CLIENT_CREDENTIALS:
        return ClientCredentialsProvider(endpoint, skew_s=settings.token_skew_s)
    if settings.auth_flow is AuthFlow.REFRESH_TOKEN:
        if store is None:
            store = FileCredentialStore(settings.credential_store_path or default_store_path())
        return RefreshTokenProvider(
            endpoint,
            refresh_token=settings.refresh_token,
            store=store,
            store_key=f"{TARGET}:{settings.client_id}",
            skew_s=settings.token_skew_s,
        )
    if settings.auth_flow is AuthFlow.JWT_BEARER:
        assert settings.client_id and settings.username
        return JWTBearerProvider(
            endpoint,
            issuer=settings.client_id,
            subject=settings.username,
            audience=settings.login_url,
            private_key=settings.private_key_pem(),
            skew_s=settings.token_skew_s,
        )
    raise ValueError(f"auth flow {settings.auth_flow.value} has no token provider")


def make_auth(
    settings: SalesforceSettings,
    http: httpx.AsyncClient,
    *,
    store: CredentialStore | None = None,
) -> SalesforceAuth:
    if settings.auth_flow is AuthFlow.STATIC:
        assert settings.access_token is not None
        return StaticTokenAuth(settings.access_token, target=TARGET, reload=_reload_access_token)
    return OAuth2Auth(make_provider(settings, http, store))
