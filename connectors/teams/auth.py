"""Teams credentials.

Webhooks: the URL *is* the credential (Workflows URLs carry a ``sig`` query parameter);
``webhook_origin`` gives the only part of it that may be shown (scheme://host).

Graph: a *delegated* token (``ChannelMessage.Send``).  Microsoft Graph has no application
permission for posting channel messages except ``Teamwork.Migrate.All`` (migration only),
so a daemon cannot post as an app: a user consents once (README) and the refresh token from
that consent keeps the sink going.  ``make_graph_auth`` builds the refresh-token grant against
the Microsoft identity platform v2.0 endpoint ``{authority}/{tenant}/oauth2/v2.0/token``
(``grant_type=refresh_token``, ``client_id``, the secret only for a confidential client,
``scope``) on the shared OAuth layer: access tokens are renewed ahead of expiry, a 401 gets one
shared refresh and a resend, and every rotated refresh token (Entra returns a new one on each
refresh) is saved in the credential store *before* it is used.  ``invalid_grant`` (revoked,
expired after 90 days idle, password reset, consent withdrawn) -> ``CredentialsRevoked``: the
sink pauses until someone consents again.  Without a refresh token configured, a fixed
``GRAPH_TOKEN`` is sent as is (``GraphBearerAuth``) and re-read from the environment after a
401.
"""

from __future__ import annotations

from collections.abc import Generator
from urllib.parse import urlsplit

import httpx
from pydantic import SecretStr

from connectors.base.auth import (
    FileCredentialStore,
    OAuth2Auth,
    RefreshTokenProvider,
    TokenEndpoint,
)
from connectors.teams.config import TeamsSettings
from connectors.teams.errors import TARGET

GRAPH_STORE_KEY = "teams-graph"
REAUTHORISE_HINT = (
    "consent again as the posting user (connectors/teams/README.md, 'One-time consent') and "
    "set VOICEBUS_TEAMS_GRAPH_REFRESH_TOKEN (or update the credentials file), then resume"
)


def webhook_origin(url: SecretStr) -> str:
    parts = urlsplit(url.get_secret_value())
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname}{port}"


class GraphBearerAuth(httpx.Auth):
    """A fixed delegated access token (no refresh)."""

    def __init__(self, token: SecretStr) -> None:
        self.token = token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self.token.get_secret_value()}"
        yield request


def make_graph_auth(settings: TeamsSettings, http: httpx.AsyncClient) -> OAuth2Auth:
    """The refresh-token grant for Graph; ``http`` has no auth (it calls the token endpoint)."""
    endpoint = TokenEndpoint(
        settings.graph_token_url,
        http,
        target=TARGET,
        client_id=settings.graph_client_id,
        client_secret=settings.graph_client_secret,
        auth_method="client_secret_post" if settings.graph_client_secret else "none",
        reauthorise_hint=REAUTHORISE_HINT,
    )
    path = settings.graph_credentials_path
    provider = RefreshTokenProvider(
        endpoint,
        refresh_token=settings.graph_refresh_token,
        store=FileCredentialStore(path) if path is not None else None,
        store_key=GRAPH_STORE_KEY,
        scope=settings.graph_scope,
    )
    return OAuth2Auth(provider)
