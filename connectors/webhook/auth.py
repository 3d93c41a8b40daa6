"""Standard Webhooks signatures (https://www.standardwebhooks.com, the scheme Svix uses).

Every request carries ``webhook-id`` (stable across retries: receivers dedupe on it),
``webhook-timestamp`` (unix seconds, fresh per attempt) and ``webhook-signature``: one
``v1,<base64 HMAC-SHA256>`` per active secret, space-separated, over
``f"{id}.{timestamp}.{body}"``.  Several secrets let an operator rotate: add the new secret,
let receivers switch, then drop the old one.

Secrets are ``whsec_`` + base64 of 24-64 random bytes; the key is the decoded bytes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from collections.abc import Callable, Mapping, Sequence

from pydantic import SecretStr

SECRET_PREFIX = "whsec_"  # noqa: S105 - a format prefix, not a secret
MIN_SECRET_BYTES = 24
MAX_SECRET_BYTES = 64
DEFAULT_TOLERANCE_S = 300

HEADER_ID = "webhook-id"
HEADER_TIMESTAMP = "webhook-timestamp"
HEADER_SIGNATURE = "webhook-signature"

GENERATE_HINT = (
    'generate one with: python -c "import base64,os;'
    " print('whsec_' + base64.b64encode(os.urandom(32)).decode())\""
)


class SecretFormatError(ValueError):
    """A configured secret is not a Standard Webhooks secret (message never holds it)."""


def decode_secret(secret: str, *, position: int | None = None) -> bytes:
    """The HMAC key of a ``whsec_...`` secret; a precise error (without the secret) if not."""
    where = f"secret #{position + 1}" if position is not None else "secret"
    text = secret.strip()
    if not text.startswith(SECRET_PREFIX):
        raise SecretFormatError(
            f"{where} does not start with '{SECRET_PREFIX}': Standard Webhooks secrets look "
            f"like 'whsec_<base64>'; {GENERATE_HINT}"
        )
    try:
        key = base64.b64decode(text[len(SECRET_PREFIX) :], validate=True)
    except (binascii.Error, ValueError):
        raise SecretFormatError(
            f"{where}: the part after '{SECRET_PREFIX}' is not valid base64; {GENERATE_HINT}"
        ) from None
    if not MIN_SECRET_BYTES <= len(key) <= MAX_SECRET_BYTES:
        raise SecretFormatError(
            f"{where} decodes to {len(key)} bytes; Standard Webhooks secrets must hold "
            f"{MIN_SECRET_BYTES}-{MAX_SECRET_BYTES} random bytes; {GENERATE_HINT}"
        )
    return key


def sign_one(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    """``v1,<base64 signature>`` of one message under one key."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


class WebhookSigner:
    """Signs outgoing requests with every active secret."""

    def __init__(
        self, secrets: Sequence[SecretStr], *, clock: Callable[[], float] = time.time
    ) -> None:
        self._clock = clock
        self._keys: list[bytes] = []
        self.load(secrets)

    def load(self, secrets: Sequence[SecretStr]) -> None:
        """Replace the active secrets (rotation); validates all before switching."""
        if not secrets:
            raise SecretFormatError(
                "no webhook signing secret configured: set VOICEBUS_WEBHOOK_SECRETS; "
                + GENERATE_HINT
            )
        self._keys = [
            decode_secret(s.get_secret_value(), position=i) for i, s in enumerate(secrets)
        ]

    @property
    def secret_count(self) -> int:
        return len(self._keys)

    def headers(self, msg_id: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
        ts = int(self._clock()) if timestamp is None else timestamp
        signatures = " ".join(sign_one(key, msg_id, ts, body) for key in self._keys)
        return {HEADER_ID: msg_id, HEADER_TIMESTAMP: str(ts), HEADER_SIGNATURE: signatures}


class SignatureError(ValueError):
    """A received webhook failed verification (receiver side: the sandbox)."""


def verify(
    keys: Sequence[bytes],
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: float | None = None,
    tolerance_s: int = DEFAULT_TOLERANCE_S,
) -> str:
    """Receiver-side check, as the Standard Webhooks libraries do it: the timestamp is within
    ``tolerance_s`` and at least one ``v1`` signature matches one of ``keys``.  Returns the
    ``webhook-id``."""
    lowered = {k.lower(): v for k, v in headers.items()}
    msg_id = lowered.get(HEADER_ID)
    raw_ts = lowered.get(HEADER_TIMESTAMP)
    raw_sigs = lowered.get(HEADER_SIGNATURE)
    if not msg_id or not raw_ts or not raw_sigs:
        raise SignatureError("missing webhook-id, webhook-timestamp or webhook-signature header")
    try:
        timestamp = int(raw_ts)
    except ValueError:
        raise SignatureError("webhook-timestamp is not an integer") from None
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_s:
        raise SignatureError("webhook-timestamp outside the tolerance window")
    expected = [sign_one(key, msg_id, timestamp, body) for key in keys]
    for candidate in raw_sigs.split(" "):
        if candidate.startswith("v1,") and any(hmac.compare_digest(candidate, e) for e in expected):
            return msg_id
    raise SignatureError("no matching v1 signature")
