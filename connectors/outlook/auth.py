"""Graph app-only auth: OAuth 2.0 client credentials against Entra ID.

Token endpoint ``https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token`` with
``scope=https://graph.microsoft.com/.default`` (the app's granted application permissions).
Nothing to persist: a new token is fetched ahead of expiry and after a 401.
"""

from __future__ import annotations

import httpx

from connectors.base.auth import ClientCredentialsProvider, OAuth2Auth, TokenEndpoint
from connectors.outlook.config import OutlookSettings
from connectors.outlook.errors import TARGET


def make_auth(settings: OutlookSettings, http: httpx.AsyncClient) -> OAuth2Auth:
    endpoint = TokenEndpoint(
        settings.token_url,
        http,
        target=TARGET,
        client_id=settings.client_id,
        client_secret=settings.client_secret,
        reauthorise_hint="check the Entra app's client secret (it may have expired) and its "
        "admin-consented Graph application permissions",
    )
    return OAuth2Auth(ClientCredentialsProvider(endpoint, scope=settings.scope))
