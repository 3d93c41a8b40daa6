"""Salesforce REST responses -> error classes.

Salesforce error bodies are ``[{"message", "errorCode", "fields"}]`` (sObject Collections
items: ``{"statusCode", "message", "fields"}``).  The class comes from ``errorCode`` first,
then the HTTP status:

=============================================== =========================================
``REQUEST_LIMIT_EXCEEDED`` (403), 429             throttled (Retry-After, else the setting)
``UNABLE_TO_LOCK_ROW``, ``SERVER_UNAVAILABLE``,   retryable
5xx, timeouts
``INVALID_SESSION_ID`` (401)                      auth (the OAuth flow already refreshed once)
field / validation codes (``REQUIRED_FIELD_       data -> DLQ
MISSING``, ``INVALID_FIELD``, ``FIELD_CUSTOM_
VALIDATION_EXCEPTION``, ``MALFORMED_ID`` ...)
300 Multiple Choices (external id not unique)     data, naming the duplicate record ids
412 Precondition Failed                           conflict (the connector reads the record)
other 4xx                                         permanent -> DLQ
=============================================== =========================================

Messages carry the operation, status, ``errorCode`` and ``fields`` -- never the vendor's
message text (validation rule messages can quote field values) nor the body.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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
from connectors.base.http import error_for_status, error_for_transport
from pipeline.resilience.http import parse_retry_after

TARGET = "salesforce"

THROTTLE_CODES = frozenset({"REQUEST_LIMIT_EXCEEDED", "TOO_MANY_REQUESTS"})
RETRY_CODES = frozenset({"UNABLE_TO_LOCK_ROW", "SERVER_UNAVAILABLE", "UNKNOWN_EXCEPTION"})
AUTH_CODES = frozenset({"INVALID_SESSION_ID", "API_DISABLED_FOR_ORG", "API_CURRENTLY_DISABLED"})
DATA_CODES = frozenset(
    {
        "REQUIRED_FIELD_MISSING",
        "INVALID_FIELD",
        "INVALID_FIELD_FOR_INSERT_UPDATE",
        "FIELD_CUSTOM_VALIDATION_EXCEPTION",
        "FIELD_INTEGRITY_EXCEPTION",
        "MALFORMED_ID",
        "MALFORMED_QUERY",
        "INVALID_TYPE_ON_FIELD_IN_RECORD",
        "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
        "STRING_TOO_LONG",
        "INVALID_CROSS_REFERENCE_KEY",
        "INVALID_ID_FIELD",
        "DUPLICATE_VALUE",
        "DUPLICATE_EXTERNAL_ID",
        "DUPLICATES_DETECTED",
        "JSON_PARSER_ERROR",
        "NUMBER_OUTSIDE_VALID_RANGE",
        "INVALID_EMAIL_ADDRESS",
    }
)


def first_error(body: Any) -> tuple[str | None, list[str]]:
    """(errorCode, fields) of the first entry of a Salesforce error body."""
    entry: Any = body[0] if isinstance(body, list) and body else body
    if not isinstance(entry, Mapping):
        return None, []
    code = entry.get("errorCode") or entry.get("statusCode")
    fields = entry.get("fields") or []
    return (
        str(code) if isinstance(code, str) and code.isascii() and len(code) < 80 else None,
        [str(f) for f in fields if isinstance(f, str)][:10],
    )


def classify(
    status: int,
    code: str | None,
    fields: Sequence[str],
    *,
    operation: str,
    headers: httpx.Headers | None = None,
    limit_retry_after_s: float = 5.0,
) -> ConnectorError:
    """The error for a failed call (``status`` >= 400) or a failed collection item."""
    where = f"{TARGET} {operation}: HTTP {status}" + (f" {code}" if code else "")
    if fields:
        where += f" (fields: {', '.join(fields)})"
    kwargs: dict[str, Any] = {"status_code": status, "vendor_code": code}
    if code in THROTTLE_CODES or status == 429:
        retry_after = parse_retry_after((headers or httpx.Headers()).get("retry-after"))
        wait = retry_after if retry_after is not None else limit_retry_after_s
        return ThrottledError(
            f"{where}: API limit reached; waiting {wait:g}s", retry_after=wait, **kwargs
        )
    if code in RETRY_CODES:
        return RetryableError(f"{where}: transient, will retry", **kwargs)
    if code in AUTH_CODES:
        return AuthError(
            f"{where}: session or API access refused; check the integration user and the "
            "connected app",
            **kwargs,
        )
    if code in DATA_CODES:
        return DataError(
            f"{where}: Salesforce rejected the record's values; fix the field mapping "
            "(VOICEBUS_SALESFORCE_*_FIELD) or the org's validation rules, then replay",
            **kwargs,
        )
    if status == 404:
        return PermanentError(
            f"{where}: the record, object or external id field does not exist in this org; "
            "create the field (see connectors/salesforce/README.md) or fix the record id",
            **kwargs,
        )
    error = error_for_status(status, headers, target=TARGET, operation=operation, vendor_code=code)
    if error is None or (isinstance(error, AuthError) and status == 403):
        return PermanentError(
            f"{where}: refused; check the integration user's object and field permissions",
            **kwargs,
        )
    # keep error_for_status's hint, but with our errorCode + fields prefix
    hint = error.message.split(f"HTTP {status}", 1)[-1].strip()
    error.message = f"{where} {hint}".rstrip()
    error.args = (error.message,)
    return error


def classify_response(
    response: httpx.Response, *, operation: str, limit_retry_after_s: float = 5.0
) -> ConnectorError:
    try:
        body = response.json()
    except ValueError:
        body = None
    code, fields = first_error(body)
    return classify(
        response.status_code,
        code,
        fields,
        operation=operation,
        headers=response.headers,
        limit_retry_after_s=limit_retry_after_s,
    )


def multiple_choices(response: httpx.Response, *, operation: str) -> DataError:
    """300: the external id matched several records; the body lists their URLs."""
    try:
        body = response.json()
    except ValueError:
        body = []
    ids = [str(url).rstrip("/").rsplit("/", 1)[-1] for url in body if isinstance(url, str)]
    return DataError(
        f"{TARGET} {operation}: HTTP 300, the external id matches {len(ids)} records "
        f"({', '.join(ids[:10]) or 'ids not listed'}); merge or delete the duplicates in "
        "Salesforce, then replay",
        status_code=300,
        vendor_code="MULTIPLE_CHOICES",
    )


def classify_transport(exc: httpx.TransportError, *, operation: str) -> RetryableError:
    return error_for_transport(exc, target=TARGET, operation=operation)
