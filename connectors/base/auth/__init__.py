"""Shared OAuth 2.0 / API-key auth for every connector (see each module's doc).

Typical use (a connector's ``auth.py``)::

    http = make_http_client(settings.http)
    endpoint = TokenEndpoint(token_url, http, target="acme", client_id=..., client_secret=...)
    provider = RefreshTokenProvider(endpoint, refresh_token=..., store=FileCredentialStore(p))
    auth = OAuth2Auth(provider)
    api = make_http_client(settings.http, auth=auth)
    ...
    async def refresh_credentials(self): await auth.refresh_credentials()
"""

from connectors.base.auth.endpoint import JWT_BEARER_GRANT, TokenEndpoint
from connectors.base.auth.errors import CredentialsRevoked, TokenRejected
from connectors.base.auth.flow import OAuth2Auth, StaticTokenAuth
from connectors.base.auth.providers import (
    DEFAULT_REVOKED_BACKOFF_S,
    DEFAULT_SKEW_S,
    ClientCredentialsProvider,
    JWTBearerProvider,
    RefreshTokenProvider,
    TokenProvider,
)
from connectors.base.auth.store import (
    CredentialStore,
    CredentialStoreError,
    FileCredentialStore,
    InMemoryCredentialStore,
)
from connectors.base.auth.token import AccessToken

__all__ = [
    "DEFAULT_REVOKED_BACKOFF_S",
    "DEFAULT_SKEW_S",
    "JWT_BEARER_GRANT",
    "AccessToken",
    "ClientCredentialsProvider",
    "CredentialStore",
    "CredentialStoreError",
    "CredentialsRevoked",
    "FileCredentialStore",
    "InMemoryCredentialStore",
    "JWTBearerProvider",
    "OAuth2Auth",
    "RefreshTokenProvider",
    "StaticTokenAuth",
    "TokenEndpoint",
    "TokenProvider",
    "TokenRejected",
]
