"""The usual HTTP status -> error class mapping, for connectors' ``errors.py`` to build on.

Follows meltano's REST stream conventions: 429 throttled (honouring Retry-After), 408 and
5xx retryable, 401/403 auth, other 4xx permanent.  Connectors add their vendor's special
cases (e.g. 410 Gone, a 400 body that really means "rate limited") before falling back here.
Messages name the target, the operation and the status -- never the response body (it can
echo our payload, i.e. PII) nor the URL (it can carry tokens).
"""

from __future__ import annotations

import httpx

from connectors.base.errors import (
    AuthError,
    ConnectorError,
    PermanentError,
    RetryableError,
    ThrottledError,
)
from pipeline.resilience.http import parse_retry_after

DEFAULT_RETRY_AFTER_S = 1.0


def error_for_status(
    status: int,
    headers: httpx.Headers | None = None,
    *,
    target: str,
    operation: str,
    vendor_code: str | None = None,
) -> ConnectorError | None:
    """None for 1xx-3xx, else the classified error."""
    if status < 400:
        return None
    where = f"{target} {operation}: HTTP {status}"
    if status == 429:
        retry_after = parse_retry_after((headers or httpx.Headers()).get("retry-after"))
        return ThrottledError(
            f"{where} (rate limited; retrying after {retry_after or DEFAULT_RETRY_AFTER_S:g}s)",
            retry_after=retry_after if retry_after is not None else DEFAULT_RETRY_AFTER_S,
            status_code=status,
            vendor_code=vendor_code,
        )
    if status == 408 or status >= 500:
        return RetryableError(
            f"{where} (target unavailable or slow; will retry)",
            status_code=status,
            vendor_code=vendor_code,
        )
    if status in (401, 403):
        return AuthError(
            f"{where} (credentials rejected; check the {target} secrets/scopes)",
            status_code=status,
            vendor_code=vendor_code,
        )
    return PermanentError(
        f"{where} (request refused; fix the mapping or the target configuration, then replay)",
        status_code=status,
        vendor_code=vendor_code,
    )


def error_for_transport(
    exc: httpx.TransportError, *, target: str, operation: str
) -> RetryableError:
    """Connection refused, DNS, TLS, timeouts: the target may be back soon."""
    if isinstance(exc, httpx.TimeoutException):
        kind = f"timed out ({type(exc).__name__})"
    elif isinstance(exc, httpx.ConnectError):
        kind = "unreachable (connection failed; check the URL/host and that it is up)"
    else:
        kind = f"transport error ({type(exc).__name__})"
    return RetryableError(f"{target} {operation}: {kind}")
