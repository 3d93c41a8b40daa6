"""Slack credentials: the bot token on outgoing Web API calls, and the signing-secret check
of incoming requests (slash commands).

Outgoing: ``Authorization: Bearer xoxb-...`` (never in the URL or the body, so it cannot end
up in access logs).  Incoming: Slack signs every request with
``v0=hex(HMAC-SHA256(signing_secret, "v0:" + X-Slack-Request-Timestamp + ":" + raw_body))``
in ``X-Slack-Signature``; a request older than 5 minutes is a possible replay and refused.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Generator, Mapping

import httpx
from pydantic import SecretStr

HEADER_SIGNATURE = "x-slack-signature"
HEADER_TIMESTAMP = "x-slack-request-timestamp"
VERSION = "v0"
DEFAULT_TOLERANCE_S = 300


class BearerAuth(httpx.Auth):
    """Adds the bot token; ``token`` can be swapped after a credentials refresh."""

    def __init__(self, token: SecretStr) -> None:
        self.token = token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self.token.get_secret_value()}"
        yield request


class SignatureError(ValueError):
    """An incoming request is not provably from Slack (message never holds secrets)."""


def sign(signing_secret: SecretStr, timestamp: int | str, body: bytes) -> str:
    """The ``X-Slack-Signature`` value Slack would send for this body and timestamp."""
    base = f"{VERSION}:{timestamp}:".encode() + body
    digest = hmac.new(signing_secret.get_secret_value().encode(), base, hashlib.sha256)
    return f"{VERSION}={digest.hexdigest()}"


def verify_request(
    signing_secret: SecretStr,
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: float | None = None,
    tolerance_s: int = DEFAULT_TOLERANCE_S,
) -> None:
    """Raise ``SignatureError`` unless the request carries a fresh, valid Slack signature.
    The comparison is constant-time (``hmac.compare_digest``)."""
    lowered = {k.lower(): v for k, v in headers.items()}
    raw_ts = lowered.get(HEADER_TIMESTAMP)
    signature = lowered.get(HEADER_SIGNATURE)
    if not raw_ts or not signature:
        raise SignatureError("missing X-Slack-Request-Timestamp or X-Slack-Signature header")
    try:
        timestamp = int(raw_ts)
    except ValueError:
        raise SignatureError("X-Slack-Request-Timestamp is not an integer") from None
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_s:
        raise SignatureError(
            f"X-Slack-Request-Timestamp is more than {tolerance_s}s from now (stale or replayed "
            "request, or the server clock is off)"
        )
    expected = sign(signing_secret, timestamp, body)
    if not hmac.compare_digest(expected.encode(), signature.encode()):
        raise SignatureError("X-Slack-Signature does not match (wrong signing secret?)")
