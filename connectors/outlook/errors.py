"""Microsoft Graph responses -> error classes.

Graph's error body: ``{"error": {"code", "message", "innerError": {...}}}``.

================================================ =========================================
2xx                                              delivered
429; 503/504 with Retry-After                    throttled (waits Retry-After)
401 (InvalidAuthenticationToken ...)             auth (one shared token refresh, then pause)
400 ErrorInvalidRecipients and other data codes  data (the event produced a bad message)
other 400, 403 (ErrorAccessDenied), 404          permanent -> DLQ
(ErrorItemNotFound), 409, 413
5xx without Retry-After, timeouts, connect       retryable
================================================ =========================================

Messages hold the operation, the status and Graph's ``code``, never ``message`` or the body
(they can echo recipients or mail text).
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
from connectors.base.http import DEFAULT_RETRY_AFTER_S, error_for_transport
from pipeline.resilience.http import parse_retry_after

TARGET = "outlook"
DATA_CODES = frozenset(
    {
        "ErrorInvalidRecipients",
        "ErrorInvalidArgument",
        "ErrorInvalidProperty",
        "ErrorInvalidIdMalformed",
        "ErrorMessageSizeExceeded",
        "ErrorInvalidRequest",
        "RequestBodyRead",
        "InvalidRecipients",
    }
)


def graph_code(response: httpx.Response) -> str | None:
    try:
        data: Any = response.json()
    except ValueError:
        return None
    error = data.get("error") if isinstance(data, Mapping) else None
    code = error.get("code") if isinstance(error, Mapping) else None
    return str(code) if isinstance(code, str) and code.isascii() and len(code) < 80 else None


def classify_response(response: httpx.Response, operation: str) -> ConnectorError | None:
    status = response.status_code
    if 200 <= status < 300:
        return None
    code = graph_code(response)
    where = f"{TARGET} {operation}: HTTP {status}" + (f" {code}" if code else "")
    retry_after = parse_retry_after(response.headers.get("retry-after"))
    if status == 429 or (status in (503, 504) and retry_after is not None):
        wait = retry_after if retry_after is not None else DEFAULT_RETRY_AFTER_S
        return ThrottledError(
            f"{where} (Graph throttling; retrying after {wait:g}s)",
            retry_after=wait,
            status_code=status,
            vendor_code=code,
        )
    if status == 408 or status >= 500:
        return RetryableError(
            f"{where} (Graph unavailable; will retry)", status_code=status, vendor_code=code
        )
    if status == 401:
        return AuthError(
            f"{where} (access token rejected; check the tenant, client id/secret)",
            status_code=status,
            vendor_code=code,
        )
    if status == 400 and code in DATA_CODES:
        return DataError(
            f"{where} (Graph refused the message built from this event, e.g. a bad recipient; "
            "fix the contact/template and replay from the DLQ)",
            status_code=status,
            vendor_code=code,
        )
    hint = {
        403: "the app lacks Mail.Send/Mail.ReadWrite/Calendars.ReadWrite or an access policy "
        "excludes the mailbox",
        404: "the mailbox or message does not exist; check VOICEBUS_OUTLOOK_USER_ID",
    }.get(status, "request refused; fix the mapping or configuration, then replay")
    return PermanentError(f"{where} ({hint})", status_code=status, vendor_code=code)


def classify_transport(exc: httpx.TransportError, operation: str) -> RetryableError:
    return error_for_transport(exc, target=TARGET, operation=operation)
