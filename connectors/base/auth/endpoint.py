"""One OAuth 2.0 token endpoint: POST a grant, get an ``AccessToken`` or a classified error.

Request bodies are built with authlib (``prepare_token_request``) and client authentication
with authlib's ``ClientAuth`` (``client_secret_basic`` / ``client_secret_post`` / ``none``:
a public client, which sends its ``client_id`` and no secret);
the HTTP call goes through the connector's own ``httpx.AsyncClient`` (timeouts, limits).

Errors (RFC 6749 section 5.2):

=========================== =================================================
``invalid_grant``            ``CredentialsRevoked``: re-authorise, nothing to retry
other 400/401 errors         ``AuthError`` (bad client id/secret, scope ...)
429                          ``ThrottledError`` (Retry-After honoured)
5xx, timeouts, connect       ``RetryableError``
=========================== =================================================

Messages hold the target, the grant type, the OAuth ``error`` code and, when it repeats none
of our secrets, the ``error_description``; never the body, the URL query or a token.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import httpx
from authlib.oauth2.auth import ClientAuth
from authlib.oauth2.rfc6749.parameters import prepare_token_request
from pydantic import SecretStr

from connectors.base.auth.errors import CredentialsRevoked
from connectors.base.auth.token import AccessToken
from connectors.base.errors import AuthError, ConnectorError, RetryableError, ThrottledError
from connectors.base.http import error_for_status, error_for_transport

log = logging.getLogger(__name__)

JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
MAX_DESCRIPTION_CHARS = 200


class TokenEndpoint:
    """``token_url`` of one authorisation server, used by every grant of one connector."""

    def __init__(
        self,
        token_url: str,
        http: httpx.AsyncClient,
        *,
        target: str,
        client_id: str | None = None,
        client_secret: SecretStr | None = None,
        auth_method: str = "client_secret_post",
        reauthorise_hint: str = "re-authorise the integration and store the new refresh token",
        default_ttl_s: float | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.token_url = token_url
        self.http = http
        self.target = target
        self.client_id = client_id
        self.client_secret = client_secret
        self.auth_method = auth_method if client_id else "none"
        self.reauthorise_hint = reauthorise_hint
        self.default_ttl_s = default_ttl_s
        self.clock = clock
        self.requests = 0

    async def grant(
        self, grant_type: str, *, secrets: Iterable[SecretStr | None] = (), **params: Any
    ) -> AccessToken:
        """POST ``grant_type`` with ``params``; ``secrets`` are values to scrub from any
        vendor text that ends up in an error message (the grant's own secrets)."""
        body = prepare_token_request(grant_type, **params)
        headers: dict[str, str] = {
            "Content-Type": "application/x-www-form-urlencoded",
            "Accept": "application/json",
        }
        if self.client_id:  # "none" (a public client, RFC 6749 3.2.1): client_id in the body
            secret = self.client_secret.get_secret_value() if self.client_secret else ""
            _, headers, body = ClientAuth(self.client_id, secret, self.auth_method).prepare(
                "POST", self.token_url, headers, body
            )
        where = f"{self.target} token endpoint ({_grant_name(grant_type)} grant)"
        self.requests += 1
        try:
            response = await self.http.post(self.token_url, content=body, headers=headers)
        except httpx.TransportError as exc:
            raise error_for_transport(exc, target=self.target, operation=where) from None
        scrub = [s for s in (*secrets, self.client_secret) if s is not None]
        if response.status_code != 200:
            raise self._error(response, grant_type, where, scrub)
        try:
            data = response.json()
            token = AccessToken.from_response(
                data, now=self.clock(), default_ttl_s=self.default_ttl_s
            )
        except (ValueError, KeyError, TypeError):
            raise RetryableError(
                f"{where}: HTTP 200 without a usable access_token (not JSON or field missing)"
            ) from None
        log.info(
            "%s: new access token (%s grant, expires in %s)",
            self.target,
            _grant_name(grant_type),
            f"{token.expires_at - self.clock():.0f}s" if token.expires_at else "unknown",
        )
        return token

    def _error(
        self,
        response: httpx.Response,
        grant_type: str,
        where: str,
        scrub: list[SecretStr],
    ) -> ConnectorError:
        status = response.status_code
        code, description = _oauth_error(response)
        if status in (400, 401) and code:
            detail = _safe(description, scrub)
            text = f"{where}: {code}" + (f" ({detail})" if detail else "")
            if code == "invalid_grant":
                what = (
                    "refresh token revoked or expired"
                    if grant_type == "refresh_token"
                    else "grant refused"
                )
                return CredentialsRevoked(
                    f"{what} for {self.target}: {text}; {self.reauthorise_hint}",
                    status_code=status,
                    vendor_code=code,
                )
            return AuthError(
                f"{text}; check the {self.target} client id/secret and the connected app's "
                "OAuth settings",
                status_code=status,
                vendor_code=code,
            )
        error = error_for_status(
            status, response.headers, target=self.target, operation=where, vendor_code=code
        )
        if error is None:
            error = AuthError(f"{where}: unexpected HTTP {status}", status_code=status)
        if isinstance(error, ThrottledError | RetryableError):
            return error
        if not isinstance(error, AuthError):  # other 4xx of a token endpoint: not a data issue
            return AuthError(error.message, status_code=status, vendor_code=code)
        return error


def _grant_name(grant_type: str) -> str:
    return "jwt-bearer" if grant_type == JWT_BEARER_GRANT else grant_type


def _oauth_error(response: httpx.Response) -> tuple[str | None, str | None]:
    try:
        data = response.json()
    except ValueError:
        return None, None
    if not isinstance(data, Mapping):
        return None, None
    code = data.get("error")
    description = data.get("error_description")
    return (
        str(code) if isinstance(code, str) and code.isascii() and len(code) < 64 else None,
        str(description) if isinstance(description, str) else None,
    )


def _safe(description: str | None, secrets: list[SecretStr]) -> str | None:
    """The vendor's description, unless it repeats one of our secrets (then dropped)."""
    if not description:
        return None
    for secret in secrets:
        value = secret.get_secret_value()
        if value and value in description:
            return None
    return description[:MAX_DESCRIPTION_CHARS]
