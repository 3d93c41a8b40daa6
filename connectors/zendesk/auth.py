"""Zendesk authentication: API token (basic ``{email}/token:{api_token}``) or an OAuth access
token (``Authorization: Bearer``, via ``connectors.base.auth.StaticTokenAuth``).

Both re-read their secret from the environment on ``refresh_credentials`` (the runtime calls
it once after a 401): an operator may have rotated the token.  Secrets stay ``SecretStr`` and
never appear in messages.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Generator

import httpx
from pydantic import SecretStr

from connectors.base.auth import StaticTokenAuth
from connectors.base.errors import AuthError
from connectors.base.settings import reload_settings
from connectors.zendesk.config import ZendeskSettings

TARGET = "zendesk"


def basic_token_header(email: str, api_token: SecretStr) -> str:
    """``Basic base64("{email}/token:{api_token}")`` as Zendesk's API token auth wants."""
    raw = f"{email}/token:{api_token.get_secret_value()}".encode()
    return "Basic " + base64.b64encode(raw).decode()


class ApiTokenAuth(httpx.Auth):
    """Basic auth with ``{email}/token`` as user name and the API token as password."""

    def __init__(self, email: str, api_token: SecretStr) -> None:
        if not api_token.get_secret_value():
            raise ValueError("zendesk: the API token is empty")
        self._header = basic_token_header(email, api_token)

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response]:
        request.headers["Authorization"] = self._header
        yield request

    def load(self, email: str, api_token: SecretStr) -> None:
        self._header = basic_token_header(email, api_token)


class ZendeskAuth(httpx.Auth):
    """The configured scheme, swappable on refresh without rebuilding the HTTP client."""

    def __init__(
        self, settings: ZendeskSettings, reload_settings: Callable[[], ZendeskSettings]
    ) -> None:
        self._reload = reload_settings
        self._inner: httpx.Auth = self._build(settings)

    @staticmethod
    def _build(settings: ZendeskSettings) -> httpx.Auth:
        if settings.oauth_token is not None:
            return StaticTokenAuth(settings.oauth_token, target=TARGET)
        assert settings.email is not None and settings.api_token is not None
        return ApiTokenAuth(settings.email, settings.api_token)

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response]:
        yield from self._inner.auth_flow(request)

    @property
    def scheme(self) -> str:
        return "oauth" if isinstance(self._inner, StaticTokenAuth) else "api_token"

    async def refresh_credentials(self) -> None:
        fresh = reload_settings(self._reload, "zendesk")
        try:
            self._inner = self._build(fresh)
        except ValueError as exc:
            raise AuthError(f"zendesk credentials unusable: {exc}") from None
