"""Authentication to a ServiceNow instance.

- ``basic``: HTTP basic auth of an integration user; after a 401 the runtime's one
  ``refresh_credentials`` re-reads the settings (an operator may have rotated the password).
- ``oauth_password``: ServiceNow's OAuth password grant on ``/oauth_token.do`` (client id and
  secret of the Application Registry entry + the user's name and password).  The access token
  (30 min by default) is refreshed ahead of expiry with the refresh token the grant returned;
  when that is refused (``invalid_grant``) the password grant runs again.
- ``oauth_client_credentials``: the client-credentials grant (Washington DC and later; runs as
  the OAuth application's user).
- ``oauth_refresh_token``: a refresh token obtained once by a person (authorisation code).

The OAuth flows are the shared ``connectors.base.auth`` ones (authlib; 401 -> refresh once).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import httpx
from pydantic import SecretStr

from connectors.base.auth import (
    ClientCredentialsProvider,
    CredentialsRevoked,
    OAuth2Auth,
    RefreshTokenProvider,
    TokenEndpoint,
    TokenProvider,
)
from connectors.base.auth.token import AccessToken
from connectors.base.errors import AuthError
from connectors.servicenow.config import AuthMode, ServiceNowSettings
from connectors.servicenow.errors import TARGET


class RefreshableAuth(Protocol):
    async def refresh_credentials(self) -> None: ...


class PasswordGrantProvider(TokenProvider):
    """OAuth password grant (RFC 6749 4.3), then refresh-token grants while they work."""

    def __init__(
        self, endpoint: TokenEndpoint, *, username: str, password: SecretStr, **kwargs: Any
    ) -> None:
        super().__init__(endpoint, **kwargs)
        if not endpoint.client_id or endpoint.client_secret is None:
            raise ValueError(f"{endpoint.target}: the password grant needs a client id/secret")
        self.username = username
        self.password = password
        self.password_grants = 0
        #: kept across refreshes: a refresh response without one leaves the old one valid
        self._refresh_token: SecretStr | None = None

    async def _fetch(self) -> AccessToken:
        token: AccessToken | None = None
        if self._refresh_token is not None:
            try:
                token = await self.endpoint.grant(
                    "refresh_token",
                    secrets=[self._refresh_token],
                    refresh_token=self._refresh_token.get_secret_value(),
                )
            except CredentialsRevoked:
                self._refresh_token = None  # expired (default lifetime 100 days): log in again
        if token is None:
            self.password_grants += 1
            token = await self.endpoint.grant(
                "password",
                secrets=[self.password],
                username=self.username,
                password=self.password.get_secret_value(),
            )
        if token.refresh_token is not None:
            self._refresh_token = token.refresh_token
        return token


class BasicAuthReloading(httpx.BasicAuth):
    """Basic auth whose credentials can be reloaded after a 401."""

    def __init__(
        self, settings: ServiceNowSettings, reload: Callable[[], ServiceNowSettings]
    ) -> None:
        self._reload = reload
        self._set(settings)

    def _set(self, settings: ServiceNowSettings) -> None:
        if settings.username is None or settings.password is None:
            raise AuthError(f"{TARGET}: basic auth needs a username and password")
        super().__init__(settings.username, settings.password.get_secret_value())

    async def refresh_credentials(self) -> None:
        try:
            fresh = self._reload()
        except Exception as exc:
            raise AuthError(
                f"{TARGET}: settings could not be reloaded ({type(exc).__name__}); check the "
                "VOICEBUS_SERVICENOW_* variables"
            ) from None
        self._set(fresh)


def make_auth(
    settings: ServiceNowSettings,
    token_http: httpx.AsyncClient,
    reload: Callable[[], ServiceNowSettings],
) -> tuple[httpx.Auth, RefreshableAuth]:
    """The ``httpx.Auth`` for API calls and the object whose ``refresh_credentials`` the
    connector delegates to (the same object)."""
    if settings.auth is AuthMode.BASIC:
        basic = BasicAuthReloading(settings, reload)
        return basic, basic
    endpoint = TokenEndpoint(
        settings.token_url,
        token_http,
        target=TARGET,
        client_id=settings.client_id,
        client_secret=settings.client_secret,
        auth_method="client_secret_post",
        reauthorise_hint="re-authorise the integration in ServiceNow's Application Registry",
    )
    provider: TokenProvider
    if settings.auth is AuthMode.OAUTH_PASSWORD:
        assert settings.username is not None and settings.password is not None
        provider = PasswordGrantProvider(
            endpoint, username=settings.username, password=settings.password
        )
    elif settings.auth is AuthMode.OAUTH_CLIENT_CREDENTIALS:
        provider = ClientCredentialsProvider(endpoint)
    else:
        provider = RefreshTokenProvider(
            endpoint, refresh_token=settings.refresh_token, store_key=TARGET
        )
    oauth = OAuth2Auth(provider)
    return oauth, oauth
