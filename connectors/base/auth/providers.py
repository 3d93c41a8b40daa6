"""Token providers: one valid access token per connector, refreshed once for everyone.

``TokenProvider.token()`` returns the current token, fetching a new one when there is none or
it expires within ``skew_s`` (default 60 s): refresh *ahead* of expiry, so requests do not
race the deadline.  ``refresh(rejected=...)`` forces a new token after a 401, unless another
coroutine already replaced the rejected one.  Both run under one ``asyncio.Lock`` with a
re-check inside it, so 20 concurrent requests that find the token stale cause exactly one
token request (the others wait for it and reuse the result).  A revoked grant
(``CredentialsRevoked``) is remembered for ``revoked_backoff_s``: every caller gets the same
error at once instead of asking the token endpoint again.

Grants:

- ``ClientCredentialsProvider`` (RFC 6749 4.4): machine-to-machine, nothing to persist.
- ``RefreshTokenProvider`` (RFC 6749 6): a person authorised once; the refresh token is read
  from the ``CredentialStore`` (it wins over the configured one: it is the rotated, newer one)
  and every rotated refresh token is saved before the new access token is used.
- ``JWTBearerProvider`` (RFC 7523 2.1): an RS256 assertion ``iss``=client id, ``sub``=user,
  ``aud``=login URL, short ``exp``, signed with the private key (authlib / joserfc).  Salesforce
  server-to-server; Google service accounts use the same grant with ``scope`` in ``claims``.
"""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from typing import Any

from authlib.oauth2.rfc7523.assertion import sign_jwt_bearer_assertion
from joserfc.errors import JoseError
from joserfc.jwk import RSAKey
from pydantic import SecretStr

from connectors.base.auth.endpoint import JWT_BEARER_GRANT, TokenEndpoint
from connectors.base.auth.errors import CredentialsRevoked
from connectors.base.auth.store import CredentialStore, InMemoryCredentialStore
from connectors.base.auth.token import AccessToken

log = logging.getLogger(__name__)

DEFAULT_SKEW_S = 60.0
#: after ``CredentialsRevoked``, callers get the same error without a new token request
#: for this long (concurrent requests of a paused sink must not hammer the token endpoint)
DEFAULT_REVOKED_BACKOFF_S = 30.0


class TokenProvider(ABC):
    """Holds the current token of one connector; subclasses implement ``_fetch``."""

    def __init__(
        self,
        endpoint: TokenEndpoint,
        *,
        skew_s: float = DEFAULT_SKEW_S,
        revoked_backoff_s: float = DEFAULT_REVOKED_BACKOFF_S,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.target = endpoint.target
        self.skew_s = skew_s
        self.revoked_backoff_s = revoked_backoff_s
        self.clock = clock or endpoint.clock
        self._token: AccessToken | None = None
        self._lock = asyncio.Lock()
        self._revoked: CredentialsRevoked | None = None
        self._revoked_until = 0.0
        self.fetches = 0

    @property
    def current(self) -> AccessToken | None:
        return self._token

    async def token(self) -> AccessToken:
        """A token valid for at least ``skew_s`` more seconds (as far as we know)."""
        token = self._token
        if token is not None and not token.expires_within(self.skew_s, self.clock()):
            return token
        async with self._lock:
            token = self._token  # someone else may have refreshed while we waited
            if token is None or token.expires_within(self.skew_s, self.clock()):
                token = await self._renew()
            return token

    async def refresh(self, *, rejected: AccessToken | None = None) -> AccessToken:
        """A new token.  With ``rejected`` (the token a 401 refused), no new request is
        made when the current token is already a different one."""
        async with self._lock:
            current = self._token
            if rejected is not None and current is not None and current is not rejected:
                return current
            return await self._renew()

    async def _renew(self) -> AccessToken:
        if self._revoked is not None and self.clock() < self._revoked_until:
            raise self._revoked  # known dead grant: do not hammer the token endpoint
        self.fetches += 1
        try:
            self._token = await self._fetch()
        except CredentialsRevoked as exc:
            self._revoked, self._revoked_until = exc, self.clock() + self.revoked_backoff_s
            self._token = None
            self._on_revoked()
            raise
        self._revoked = None
        return self._token

    def _on_revoked(self) -> None:  # noqa: B027 - optional hook, most grants keep nothing
        """Hook: forget cached grant material so the next try re-reads it (re-authorised)."""

    @abstractmethod
    async def _fetch(self) -> AccessToken:
        """Ask the token endpoint for a new token (called under the lock)."""


class ClientCredentialsProvider(TokenProvider):
    def __init__(
        self,
        endpoint: TokenEndpoint,
        *,
        scope: str | None = None,
        extra_params: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(endpoint, **kwargs)
        if not endpoint.client_id or endpoint.client_secret is None:
            raise ValueError(
                f"{endpoint.target}: the client_credentials grant needs a client id and secret"
            )
        self.scope = scope
        self.extra_params = dict(extra_params or {})

    async def _fetch(self) -> AccessToken:
        params: dict[str, Any] = dict(self.extra_params)
        if self.scope:
            params["scope"] = self.scope
        return await self.endpoint.grant("client_credentials", **params)


class RefreshTokenProvider(TokenProvider):
    """``store_key`` names this grant's entry in ``store`` (e.g. ``"salesforce"``)."""

    def __init__(
        self,
        endpoint: TokenEndpoint,
        *,
        refresh_token: SecretStr | None = None,
        store: CredentialStore | None = None,
        store_key: str | None = None,
        scope: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(endpoint, **kwargs)
        self.store: CredentialStore = store if store is not None else InMemoryCredentialStore()
        self.store_key = store_key or endpoint.target
        self._configured = refresh_token
        self._refresh_token: SecretStr | None = None
        self._loaded = False
        self.scope = scope
        self.rotations = 0
        self._persisted = False

    async def current_refresh_token(self) -> SecretStr:
        if not self._loaded:
            stored = await self.store.load(self.store_key)
            value = (stored or {}).get("refresh_token")
            self._refresh_token = SecretStr(value) if isinstance(value, str) and value else None
            if self._refresh_token is None:
                self._refresh_token = self._configured
            self._loaded = True
        if self._refresh_token is None:
            raise CredentialsRevoked(
                f"no refresh token for {self.target}: none configured and none in the "
                f"credential store; {self.endpoint.reauthorise_hint}"
            )
        return self._refresh_token

    def _on_revoked(self) -> None:
        self._loaded = False  # an operator may re-authorise by updating the store

    async def _fetch(self) -> AccessToken:
        refresh_token = await self.current_refresh_token()
        params: dict[str, Any] = {"refresh_token": refresh_token.get_secret_value()}
        if self.scope:
            params["scope"] = self.scope
        token = await self.endpoint.grant("refresh_token", secrets=[refresh_token], **params)
        if token.refresh_token is not None and (
            token.refresh_token.get_secret_value() != refresh_token.get_secret_value()
        ):
            # rotation: the old refresh token is dead from now on; persist the new one first
            await self.store.save(
                self.store_key, {"refresh_token": token.refresh_token.get_secret_value()}
            )
            self._refresh_token = token.refresh_token
            self.rotations += 1
            log.info("%s: refresh token rotated and persisted", self.target)
        elif not self._persisted:
            await self._persist_if_new(refresh_token)
        self._persisted = True
        return token

    async def _persist_if_new(self, refresh_token: SecretStr) -> None:
        """Store the configured refresh token the first time it works, so a later restart
        with a stale environment still finds the current one."""
        stored = await self.store.load(self.store_key)
        if (stored or {}).get("refresh_token") != refresh_token.get_secret_value():
            await self.store.save(
                self.store_key, {"refresh_token": refresh_token.get_secret_value()}
            )


class JWTBearerProvider(TokenProvider):
    """``private_key``: PEM of an RSA private key (PKCS#1 or PKCS#8)."""

    def __init__(
        self,
        endpoint: TokenEndpoint,
        *,
        issuer: str,
        audience: str,
        private_key: SecretStr,
        subject: str | None = None,
        claims: Mapping[str, Any] | None = None,
        assertion_ttl_s: int = 180,
        alg: str = "RS256",
        **kwargs: Any,
    ) -> None:
        super().__init__(endpoint, **kwargs)
        try:
            self._key = RSAKey.import_key(private_key.get_secret_value())
        except (JoseError, ValueError, TypeError):
            raise ValueError(
                f"{endpoint.target}: the JWT bearer private key is not an RSA private key in "
                "PEM format (-----BEGIN PRIVATE KEY----- ...)"
            ) from None
        if not self._key.is_private:
            raise ValueError(f"{endpoint.target}: the JWT bearer key must be a private key")
        self._private_key = private_key
        self.issuer = issuer
        self.audience = audience
        self.subject = subject
        self.claims = dict(claims or {})
        self.assertion_ttl_s = assertion_ttl_s
        self.alg = alg

    def assertion(self) -> str:
        issued_at = int(self.clock())
        signed = sign_jwt_bearer_assertion(
            self._key,
            issuer=self.issuer,
            audience=self.audience,
            subject=self.subject,
            issued_at=issued_at,
            expires_at=issued_at + self.assertion_ttl_s,
            claims=dict(self.claims),
            alg=self.alg,
        )
        return signed.decode() if isinstance(signed, bytes) else str(signed)

    async def _fetch(self) -> AccessToken:
        assertion = SecretStr(self.assertion())
        return await self.endpoint.grant(
            JWT_BEARER_GRANT, secrets=[assertion], assertion=assertion.get_secret_value()
        )
