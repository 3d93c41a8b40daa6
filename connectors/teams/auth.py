"""Teams credentials.

Webhooks: the URL *is* the credential (Workflows URLs carry a ``sig`` query parameter);
``webhook_origin`` gives the only part of it that may be shown (scheme://host).
Graph: a delegated bearer token (ChannelMessage.Send).  Microsoft Graph has no application
permission for posting channel messages except ``Teamwork.Migrate.All`` (migration only),
so a daemon cannot post as an app; the token is supplied by configuration.
"""

from __future__ import annotations

from collections.abc import Generator
from urllib.parse import urlsplit

import httpx
from pydantic import SecretStr


def webhook_origin(url: SecretStr) -> str:
    parts = urlsplit(url.get_secret_value())
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname}{port}"


class GraphBearerAuth(httpx.Auth):
    def __init__(self, token: SecretStr) -> None:
        self.token = token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self.token.get_secret_value()}"
        yield request
