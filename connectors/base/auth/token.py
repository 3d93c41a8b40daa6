"""An access token as the shared OAuth layer keeps it: secrets wrapped, expiry absolute.

Parsing goes through authlib's ``OAuth2Token`` (``expires_in`` -> ``expires_at``); vendors
that send no ``expires_in`` (Salesforce) get ``default_ttl_s`` so the token is still refreshed
ahead of a plausible session timeout, and a 401 refreshes it if the guess was too long.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from authlib.oauth2.rfc6749 import OAuth2Token
from pydantic import SecretStr

#: response fields that are secrets (never kept in ``extra``)
SECRET_FIELDS = frozenset({"access_token", "refresh_token", "id_token", "signature"})


@dataclass(frozen=True)
class AccessToken:
    access_token: SecretStr
    token_type: str = "Bearer"  # noqa: S105 - the scheme name, not a secret
    expires_at: float | None = None
    refresh_token: SecretStr | None = None
    #: non-secret response fields, e.g. Salesforce's ``instance_url`` and ``scope``
    extra: Mapping[str, Any] = field(default_factory=dict)

    def expires_within(self, seconds: float, now: float) -> bool:
        """True when the token expires in less than ``seconds`` (or has no known expiry
        and ``seconds`` is negative, which never happens: unknown expiry = still valid)."""
        return self.expires_at is not None and self.expires_at - seconds <= now

    @classmethod
    def from_response(
        cls,
        data: Mapping[str, Any],
        *,
        now: float | None = None,
        default_ttl_s: float | None = None,
    ) -> AccessToken:
        """From a token endpoint's JSON.  Raises ``KeyError`` without ``access_token``."""
        params = dict(data)
        access = params["access_token"]
        if not isinstance(access, str) or not access:
            raise KeyError("access_token")
        current = time.time() if now is None else now
        if params.get("expires_in") is None and params.get("expires_at") is None:
            if default_ttl_s is not None:
                params["expires_at"] = int(current + default_ttl_s)
        elif params.get("expires_in") is not None and now is not None:
            params["expires_at"] = int(current + float(params["expires_in"]))
        parsed = OAuth2Token(params)
        refresh = parsed.get("refresh_token")
        expires_at = parsed.get("expires_at")
        return cls(
            access_token=SecretStr(access),
            token_type=str(parsed.get("token_type") or "Bearer"),
            expires_at=float(expires_at) if isinstance(expires_at, int | float) else None,
            refresh_token=SecretStr(refresh) if isinstance(refresh, str) and refresh else None,
            extra={k: v for k, v in parsed.items() if k not in SECRET_FIELDS and k != "expires_at"},
        )

    def to_store(self) -> dict[str, Any]:
        """JSON for a ``CredentialStore`` (holds secrets: stores must protect the file)."""
        out: dict[str, Any] = {
            "access_token": self.access_token.get_secret_value(),
            "token_type": self.token_type,
            "expires_at": self.expires_at,
            "extra": dict(self.extra),
        }
        if self.refresh_token is not None:
            out["refresh_token"] = self.refresh_token.get_secret_value()
        return out

    @classmethod
    def from_store(cls, data: Mapping[str, Any]) -> AccessToken:
        refresh = data.get("refresh_token")
        expires_at = data.get("expires_at")
        return cls(
            access_token=SecretStr(str(data.get("access_token") or "")),
            token_type=str(data.get("token_type") or "Bearer"),
            expires_at=float(expires_at) if isinstance(expires_at, int | float) else None,
            refresh_token=SecretStr(refresh) if isinstance(refresh, str) and refresh else None,
            extra=dict(data.get("extra") or {}),
        )
