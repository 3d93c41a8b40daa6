"""Google API responses -> error classes.

Google's error body: ``{"error": {"code", "message", "status", "errors": [{"reason"}]}}``.

=============================================== ===========================================
2xx                                             delivered
409 on events.insert                            the event id exists: already done (success)
429, 403 rateLimitExceeded/userRateLimitExceeded throttled (Retry-After, else 1..64 s backoff)
401                                             auth (one shared token refresh, then pause)
400 invalidArgument / invalid / required         data (the event produced a bad message)
other 400, 403, 404, 410                        permanent -> DLQ
5xx, timeouts, connect errors                   retryable
=============================================== ===========================================

Messages hold the operation, the status and Google's ``reason`` / ``status`` codes, never the
response body or ``message`` (they can echo recipients or the e-mail text).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from connectors.base.errors import (
    AuthError,
    ConnectorError,
    DataError,
    PermanentError,
    RetryableError,
    ThrottledError,
)
from connectors.base.http import DEFAULT_RETRY_AFTER_S, error_for_status, error_for_transport
from pipeline.resilience.http import parse_retry_after

TARGET = "gmail"
THROTTLE_REASONS = frozenset({"rateLimitExceeded", "userRateLimitExceeded", "quotaExceeded"})
DATA_REASONS = frozenset({"invalidArgument", "invalid", "required", "invalidParameter"})


def google_error(response: httpx.Response) -> tuple[str | None, str | None]:
    """(first ``errors[].reason``, ``status``) of a Google error body, when present."""
    try:
        data: Any = response.json()
    except ValueError:
        return None, None
    error = data.get("error") if isinstance(data, Mapping) else None
    if not isinstance(error, Mapping):
        return None, None
    reason = None
    errors = error.get("errors")
    if isinstance(errors, list) and errors and isinstance(errors[0], Mapping):
        raw = errors[0].get("reason")
        reason = str(raw) if isinstance(raw, str) and raw.isascii() and len(raw) < 64 else None
    status = error.get("status")
    status_text = str(status) if isinstance(status, str) and status.isascii() else None
    return reason, status_text


MAX_BACKOFF_S = 64.0


def classify_response(
    response: httpx.Response, operation: str, *, throttle_streak: int = 0
) -> ConnectorError | None:
    """None for a 2xx, else the classified error.  Without Retry-After a throttle waits
    Google's truncated exponential backoff: 1, 2, 4 ... 64 s over ``throttle_streak``
    consecutive throttled answers."""
    status = response.status_code
    if 200 <= status < 300:
        return None
    reason, google_status = google_error(response)
    code = reason or google_status
    where = f"{TARGET} {operation}: HTTP {status}" + (f" {code}" if code else "")
    if status == 429 or (status == 403 and reason in THROTTLE_REASONS):
        retry_after = parse_retry_after(response.headers.get("retry-after"))
        backoff = min(MAX_BACKOFF_S, DEFAULT_RETRY_AFTER_S * 2 ** max(0, throttle_streak))
        wait = retry_after if retry_after is not None else backoff
        return ThrottledError(
            f"{where} (Google rate limit; retrying after {wait:g}s)",
            retry_after=wait,
            status_code=status,
            vendor_code=code,
        )
    if status == 401:
        return AuthError(
            f"{where} (access token rejected; check the OAuth client, refresh token or the "
            "service account's domain-wide delegation and scopes)",
            status_code=status,
            vendor_code=code,
        )
    if status == 400 and (reason in DATA_REASONS or google_status == "INVALID_ARGUMENT"):
        return DataError(
            f"{where} (Google refused the message built from this event, e.g. a bad address "
            "or field; fix the contact/template and replay from the DLQ)",
            status_code=status,
            vendor_code=code,
        )
    if status in (400, 403, 404, 410):
        hint = {
            403: "the account lacks permission (scopes, delegation, calendar access)",
            404: "the user, calendar or thread does not exist; check USER_ID / CALENDAR_ID",
        }.get(status, "request refused")
        return PermanentError(f"{where} ({hint})", status_code=status, vendor_code=code)
    error = error_for_status(
        status, response.headers, target=TARGET, operation=operation, vendor_code=code
    )
    if isinstance(error, AuthError):  # other 4xx mapped to auth by the base: permanent here
        return PermanentError(error.message, status_code=status, vendor_code=code)
    return error or RetryableError(f"{where} (unexpected)", status_code=status)


def classify_transport(exc: httpx.TransportError, operation: str) -> RetryableError:
    return error_for_transport(exc, target=TARGET, operation=operation)
