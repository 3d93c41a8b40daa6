"""Google OAuth 2.0 on the shared auth layer (``connectors.base.auth``).

Token endpoint ``https://oauth2.googleapis.com/token``:

- refresh-token grant (a user authorised the app once; Google may rotate nothing, but a
  ``FileCredentialStore`` keeps whatever it returns);
- service accounts: JWT bearer grant (RFC 7523) with ``iss`` = the service account,
  ``sub`` = the Workspace user to impersonate (domain-wide delegation), ``aud`` = the token
  URL and the scopes in a ``scope`` claim, signed RS256 with the account's private key.
"""

from __future__ import annotations

import httpx

from connectors.base.auth import (
    FileCredentialStore,
    JWTBearerProvider,
    OAuth2Auth,
    RefreshTokenProvider,
    TokenEndpoint,
    TokenProvider,
)
from connectors.gmail.config import GmailSettings, GoogleAuthFlow
from connectors.gmail.errors import TARGET

REAUTHORISE_HINT = (
    "re-run the Google consent flow and set VOICEBUS_GMAIL_REFRESH_TOKEN (or check the "
    "service account's domain-wide delegation for the configured scopes), then resume the sink"
)


def make_provider(settings: GmailSettings, http: httpx.AsyncClient) -> TokenProvider:
    """The token provider of the configured flow (raises ``ValueError`` on a bad key)."""
    if settings.auth_flow is GoogleAuthFlow.SERVICE_ACCOUNT:
        endpoint = TokenEndpoint(
            settings.token_url, http, target=TARGET, reauthorise_hint=REAUTHORISE_HINT
        )
        assert settings.private_key is not None and settings.service_account_email
        return JWTBearerProvider(
            endpoint,
            issuer=settings.service_account_email,
            audience=settings.token_url,
            private_key=settings.private_key,
            subject=settings.subject,
            claims={"scope": settings.scopes},
        )
    endpoint = TokenEndpoint(
        settings.token_url,
        http,
        target=TARGET,
        client_id=settings.client_id,
        client_secret=settings.client_secret,
        reauthorise_hint=REAUTHORISE_HINT,
    )
    store = FileCredentialStore(settings.credentials_path) if settings.credentials_path else None
    return RefreshTokenProvider(
        endpoint, refresh_token=settings.refresh_token, store=store, store_key=TARGET
    )


def make_auth(settings: GmailSettings, http: httpx.AsyncClient) -> OAuth2Auth:
    return OAuth2Auth(make_provider(settings, http))
