"""The Microsoft identity platform's v2.0 token endpoint, as far as the Teams sandbox needs it:
the refresh-token grant of a delegated (user) consent.

``POST /{tenant}/oauth2/v2.0/token`` form ``grant_type=refresh_token``, ``client_id``,
``refresh_token``, ``scope`` (optional; must be within the consented scopes), and
``client_secret`` exactly when the app is a confidential client (a public client that sends
one is refused, as Entra does: AADSTS700025).  Success: ``{"token_type": "Bearer", "scope",
"expires_in", "ext_expires_in", "access_token", "refresh_token"}`` with a *new* refresh token
each time: the used one stops working (rotation).  Errors have Entra's body ``{"error",
"error_description": "AADSTSnnnn: ...", "error_codes", "timestamp", "trace_id",
"correlation_id"}``: unknown or used refresh token -> 400 ``invalid_grant`` (AADSTS70000),
wrong client -> 400 ``unauthorized_client`` (AADSTS700016), bad secret -> 401
``invalid_client`` (AADSTS7000215), unknown tenant -> 400 ``invalid_request`` (AADSTS90002).
"""

from __future__ import annotations

import secrets
import threading
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime

from aiohttp import web

DEFAULT_SCOPES = ("https://graph.microsoft.com/ChannelMessage.Send", "offline_access")


def entra_error(status: int, error: str, code: int, text: str) -> web.Response:
    return web.json_response(
        {
            "error": error,
            "error_description": f"AADSTS{code}: {text} Trace ID: {uuid.uuid4()}",
            "error_codes": [code],
            "timestamp": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%SZ"),
            "trace_id": str(uuid.uuid4()),
            "correlation_id": str(uuid.uuid4()),
        },
        status=status,
    )


class DelegatedConsent:
    """One user's consent to one app: the refresh tokens that are valid right now.
    ``issue_access_token`` is where new access tokens go (the Graph side accepts them)."""

    def __init__(
        self,
        refresh_tokens: Iterable[str],
        *,
        tenant: str = "sandbox-tenant",
        client_id: str = "teams-sandbox-app",
        client_secret: str | None = None,
        scopes: Iterable[str] = DEFAULT_SCOPES,
        expires_in_s: int = 3599,
    ) -> None:
        self.tenant = tenant
        self.client_id = client_id
        self.client_secret = client_secret
        self.scopes = frozenset(scopes)
        self.expires_in_s = expires_in_s
        self.refresh_tokens = set(refresh_tokens)
        self.refreshes = 0
        self._lock = threading.Lock()

    def revoke(self) -> int:
        """The user withdrew consent / reset the password: every refresh token dies."""
        with self._lock:
            count = len(self.refresh_tokens)
            self.refresh_tokens.clear()
            return count

    def refresh(self, form: dict[str, str], tenant: str) -> tuple[web.Response, str | None]:
        """(response, new access token or None)."""
        if tenant != self.tenant:
            return entra_error(400, "invalid_request", 90002, f"Tenant '{tenant}' not found."), None
        if form.get("grant_type") != "refresh_token":
            return entra_error(
                400, "unsupported_grant_type", 70003, "The app requested an unsupported grant type."
            ), None
        if form.get("client_id") != self.client_id:
            return entra_error(
                400, "unauthorized_client", 700016, "Application not found in the directory."
            ), None
        secret = form.get("client_secret")
        if self.client_secret is None and secret is not None:
            return entra_error(
                401,
                "invalid_client",
                700025,
                "Client is public so neither 'client_assertion' nor 'client_secret' should be "
                "presented.",
            ), None
        if self.client_secret is not None and secret != self.client_secret:
            return entra_error(
                401, "invalid_client", 7000215, "Invalid client secret provided."
            ), None
        scopes = set((form.get("scope") or " ".join(self.scopes)).split())
        if not scopes <= self.scopes:
            return entra_error(
                400, "invalid_grant", 65001, "The user or administrator has not consented."
            ), None
        with self._lock:
            used = form.get("refresh_token", "")
            if used not in self.refresh_tokens:
                return entra_error(
                    400, "invalid_grant", 70000, "Provided grant is invalid or malformed."
                ), None
            self.refresh_tokens.discard(used)
            rotated = "1.AR-sandbox." + secrets.token_urlsafe(24)
            self.refresh_tokens.add(rotated)
            self.refreshes += 1
        access = "eyJ0eXAiOiJKV1Qi." + secrets.token_urlsafe(24)
        body = {
            "token_type": "Bearer",
            "scope": " ".join(sorted(scopes - {"offline_access"})),
            "expires_in": self.expires_in_s,
            "ext_expires_in": self.expires_in_s,
            "access_token": access,
            "refresh_token": rotated,
        }
        return web.json_response(body), access
