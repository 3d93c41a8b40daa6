"""``httpx.Auth`` flows that put a token on every request.

``OAuth2Auth`` (bearer token from a ``TokenProvider``): on a 401 it refreshes once -- shared
with every other request that saw the same token rejected -- and resends; a second 401 raises
``TokenRejected``.  Token endpoint failures surface as the endpoint classified them
(``CredentialsRevoked`` for ``invalid_grant``, ``RetryableError`` for a 5xx ...).

``refresh_credentials()`` is what a connector's ``Connector.refresh_credentials`` delegates
to: the runtime calls it once after an ``AuthError``.  If this flow already refreshed for that
failure (or the grant is revoked) refreshing again cannot help, so it re-raises at once and the
runtime pauses the connector without another round of requests.

``StaticTokenAuth``: API keys / private-app tokens per environment, no refresh; a 401 passes
through (the connector classifies it) and ``refresh_credentials`` re-reads the key via
``reload`` (an operator may have rotated it).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Callable, Generator

import httpx
from pydantic import SecretStr

from connectors.base.auth.errors import CredentialsRevoked, TokenRejected
from connectors.base.auth.providers import TokenProvider
from connectors.base.auth.token import AccessToken
from connectors.base.errors import AuthError

log = logging.getLogger(__name__)

IsRejected = Callable[[httpx.Response], bool]


def _is_401(response: httpx.Response) -> bool:
    return response.status_code == 401


class OAuth2Auth(httpx.Auth):
    def __init__(
        self,
        provider: TokenProvider,
        *,
        is_rejected: IsRejected = _is_401,
        header: str = "Authorization",
    ) -> None:
        self.provider = provider
        self.target = provider.target
        self.is_rejected = is_rejected
        self.header = header
        #: the last AuthError this flow raised after its own refresh (cleared on success)
        self.last_failure: AuthError | None = None
        self.refreshes_on_401 = 0

    def _apply(self, request: httpx.Request, token: AccessToken) -> None:
        request.headers[self.header] = f"Bearer {token.access_token.get_secret_value()}"

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response]:
        raise RuntimeError("OAuth2Auth refreshes asynchronously; use httpx.AsyncClient")

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        try:
            token = await self.provider.token()
        except AuthError as exc:
            self.last_failure = exc
            raise
        self._apply(request, token)
        response = yield request
        if not self.is_rejected(response):
            self.last_failure = None
            return
        await response.aread()
        log.info("%s answered 401 for the current access token; refreshing it once", self.target)
        self.refreshes_on_401 += 1
        try:
            fresh = await self.provider.refresh(rejected=token)
        except AuthError as exc:
            self.last_failure = exc
            raise
        self._apply(request, fresh)
        response = yield request
        if self.is_rejected(response):
            await response.aread()
            failure = TokenRejected(
                f"{self.target} rejected a freshly issued access token (HTTP "
                f"{response.status_code}); check the integration user's permissions and the "
                "connected app's OAuth policies",
                status_code=response.status_code,
                vendor_code="token_rejected",
            )
            self.last_failure = failure
            raise failure
        self.last_failure = None

    async def refresh_credentials(self) -> None:
        """The runtime's one refresh after an ``AuthError`` (see the module doc)."""
        failure = self.last_failure
        if isinstance(failure, TokenRejected | CredentialsRevoked):
            raise failure
        try:
            await self.provider.refresh()
        except AuthError as exc:
            self.last_failure = exc
            raise
        self.last_failure = None


class StaticTokenAuth(httpx.Auth):
    """A fixed API key, as ``Authorization: Bearer <key>`` (or ``header``/``scheme`` of the
    vendor's choosing, e.g. ``header="X-Api-Key", scheme=None``)."""

    def __init__(
        self,
        token: SecretStr,
        *,
        header: str = "Authorization",
        scheme: str | None = "Bearer",
        reload: Callable[[], SecretStr] | None = None,
        target: str = "target",
    ) -> None:
        if not token.get_secret_value():
            raise ValueError(f"{target}: the API token is empty")
        self._token = token
        self.header = header
        self.scheme = scheme
        self._reload = reload
        self.target = target

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response]:
        value = self._token.get_secret_value()
        request.headers[self.header] = f"{self.scheme} {value}" if self.scheme else value
        yield request

    async def refresh_credentials(self) -> None:
        if self._reload is None:
            raise AuthError(
                f"{self.target} rejected the configured API token and it cannot be reloaded; "
                "set a valid token and restart the sink"
            )
        try:
            fresh = self._reload()
        except Exception as exc:
            raise AuthError(
                f"{self.target} API token could not be reloaded ({type(exc).__name__}); check "
                "its environment variable"
            ) from None
        if not fresh.get_secret_value():
            raise AuthError(f"{self.target}: the reloaded API token is empty")
        self._token = fresh
