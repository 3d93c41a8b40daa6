"""HubSpot credentials as ``httpx.Auth`` flows, built on the shared layer
(``connectors.base.auth``).

- Private app: ``StaticTokenAuth`` (``Authorization: Bearer pat-...``); after a 401 the
  runtime's one ``refresh_credentials`` re-reads ``VOICEBUS_HUBSPOT_ACCESS_TOKEN`` (an
  operator may have rotated it).
- OAuth app: ``OAuth2Auth`` over a ``RefreshTokenProvider``: refresh-token grant against
  ``POST /oauth/v1/token``, ahead of ``expires_in`` (HubSpot: a 401 is not the signal to
  refresh; the flow still refreshes once on a 401 as a safety net), one refresh shared by
  concurrent requests, rotated refresh tokens persisted to ``VOICEBUS_HUBSPOT_CREDENTIAL_STORE``
  (a 0600 file).

HubSpot's token endpoint does not answer RFC 6749 error codes: a dead refresh token is
``400 {"status": "BAD_REFRESH_TOKEN", ...}``.  ``HubSpotTokenEndpoint`` maps that to
``CredentialsRevoked`` so the sink pauses with "re-authorise" instead of retrying.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx
from pydantic import SecretStr

from connectors.base.auth import (
    CredentialsRevoked,
    CredentialStore,
    FileCredentialStore,
    InMemoryCredentialStore,
    OAuth2Auth,
    RefreshTokenProvider,
    StaticTokenAuth,
    TokenEndpoint,
)
from connectors.base.errors import ConnectorError
from connectors.hubspot.config import HubSpotSettings

TARGET = "hubspot"
REAUTHORISE = (
    "re-install the HubSpot app for this portal and set the new refresh token in "
    "VOICEBUS_HUBSPOT_REFRESH_TOKEN (or delete the credential store entry)"
)
REVOKED_STATUSES = ("BAD_REFRESH_TOKEN", "BAD_AUTH_CODE")


class HubSpotTokenEndpoint(TokenEndpoint):
    """``TokenEndpoint`` that also understands HubSpot's ``{"status": "BAD_REFRESH_TOKEN"}``."""

    def _error(
        self,
        response: httpx.Response,
        grant_type: str,
        where: str,
        scrub: list[SecretStr],
    ) -> ConnectorError:
        try:
            data = response.json()
        except ValueError:
            data = None
        status = data.get("status") if isinstance(data, dict) else None
        if response.status_code == 400 and status in REVOKED_STATUSES:
            return CredentialsRevoked(
                f"refresh token revoked or unknown for {TARGET}: {where}: {status}; "
                f"{self.reauthorise_hint}",
                status_code=400,
                vendor_code=str(status),
            )
        return super()._error(response, grant_type, where, scrub)


def build_auth(
    settings: HubSpotSettings,
    token_http: httpx.AsyncClient,
    *,
    reload_token: Callable[[], SecretStr] | None = None,
    store: CredentialStore | None = None,
) -> httpx.Auth:
    """The auth flow for the configured credentials; ``token_http`` is the (auth-less)
    client used for the token endpoint."""
    if settings.access_token is not None:
        return StaticTokenAuth(settings.access_token, reload=reload_token, target=TARGET)
    assert settings.client_id and settings.client_secret and settings.refresh_token
    endpoint = HubSpotTokenEndpoint(
        settings.base_url + settings.token_path,
        token_http,
        target=TARGET,
        client_id=settings.client_id,
        client_secret=settings.client_secret,
        auth_method="client_secret_post",
        reauthorise_hint=REAUTHORISE,
    )
    if store is None:
        store = (
            FileCredentialStore(settings.credential_store)
            if settings.credential_store
            else InMemoryCredentialStore()
        )
    provider = RefreshTokenProvider(
        endpoint, refresh_token=settings.refresh_token, store=store, store_key=TARGET
    )
    return OAuth2Auth(provider)
