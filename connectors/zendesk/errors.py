"""Zendesk responses -> error classes.

=================================== ==================================================
2xx                                 success
400/422 ``RecordInvalid``           ``DataError`` naming the invalid fields (``details``)
other 400 (``IdempotentRequestError``, bad request)  ``PermanentError``
401                                 auth (one credentials reload, then the sink pauses)
403                                 ``PermanentError`` (the token lacks the permission)
404 ``RecordNotFound``              ``PermanentError``
409 ``UpdateConflict``              raised by the client as ``ConflictError`` (needs the
                                    ticket's current values, so not built here)
429                                 throttled, waits ``Retry-After``
408, 5xx, transport errors          retryable
=================================== ==================================================

Messages carry the operation, status, Zendesk's error code and field names; never bodies,
field values or URLs with queries.
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
)
from connectors.base.http import error_for_status, error_for_transport

TARGET = "zendesk"
CONFLICT_CODE = "UpdateConflict"
INVALID_CODE = "RecordInvalid"


def error_code(body: Any) -> str | None:
    """Zendesk's ``error`` member: a string, or ``{"title": ...}`` on some endpoints."""
    if not isinstance(body, Mapping):
        return None
    code = body.get("error")
    if isinstance(code, Mapping):
        code = code.get("title") or code.get("message")
    return str(code) if isinstance(code, str) and len(code) <= 80 else None


def invalid_fields(details: Any) -> list[str]:
    """Field names of a ``details`` object (``{"requester": [{"description": ...}]}``)."""
    if isinstance(details, Mapping):
        return sorted(str(k) for k in details)
    return []


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def classify_body(
    status: int, body: Any, headers: httpx.Headers | None, *, operation: str
) -> ConnectorError | None:
    """None for 2xx; else the classified error (409 UpdateConflict -> RetryableError only if
    the caller does not handle it: see ``client``)."""
    if status < 300:
        return None
    code = error_code(body)
    where = f"{TARGET} {operation}: HTTP {status}" + (f" {code}" if code else "")
    if status in (400, 422) and (code == INVALID_CODE or status == 422):
        fields = invalid_fields(body.get("details") if isinstance(body, Mapping) else None)
        named = ", ".join(fields) if fields else "unknown fields"
        return DataError(
            f"{where}: Zendesk rejected the ticket data (invalid: {named}); fix the event or "
            "the connector mapping (custom_fields, requester), then replay from the DLQ",
            status_code=status,
            vendor_code=code,
        )
    if status == 401:
        return AuthError(
            f"{where}: credentials rejected; check VOICEBUS_ZENDESK_EMAIL/API_TOKEN or "
            "VOICEBUS_ZENDESK_OAUTH_TOKEN",
            status_code=status,
            vendor_code=code,
        )
    if status == 403:
        return PermanentError(
            f"{where}: forbidden; the Zendesk user/token lacks the permission for this "
            "operation (an agent role is needed), fix it and replay",
            status_code=status,
            vendor_code=code,
        )
    if status == 404:
        return PermanentError(
            f"{where}: the ticket/user does not exist (deleted or wrong id); replay after "
            "fixing the reference",
            status_code=status,
            vendor_code=code,
        )
    if status == 409:
        return RetryableError(
            f"{where}: conflicting concurrent update; will retry",
            status_code=status,
            vendor_code=code,
        )
    if status == 400:
        fields = invalid_fields(body.get("details") if isinstance(body, Mapping) else None)
        named = f" (fields: {', '.join(fields)})" if fields else ""
        return PermanentError(
            f"{where}: request refused{named}; fix the connector mapping, then replay",
            status_code=status,
            vendor_code=code,
        )
    return error_for_status(status, headers, target=TARGET, operation=operation, vendor_code=code)


def classify_response(response: httpx.Response, *, operation: str) -> ConnectorError | None:
    if response.status_code < 300:
        return None
    return classify_body(
        response.status_code, _json(response), response.headers, operation=operation
    )


def classify_transport(exc: httpx.TransportError, *, operation: str) -> RetryableError:
    return error_for_transport(exc, target=TARGET, operation=operation)


def job_item_error(item: Mapping[str, Any], *, operation: str) -> ConnectorError:
    """A failed item of a job status (``{"index", "error", "details"}``) as a ``DataError``:
    Zendesk validated the item and refused it; retrying it unchanged cannot help."""
    code = item.get("error")
    code_text = str(code) if isinstance(code, str) and len(code) <= 80 else "ItemFailed"
    details = item.get("details")
    fields = invalid_fields(details)
    reason = f"invalid: {', '.join(fields)}" if fields else "see the job status details"
    if isinstance(details, str) and len(details) <= 200 and "@" not in details:
        reason = details
    return DataError(
        f"{TARGET} {operation}: item #{item.get('index')} failed with {code_text} ({reason}); "
        "fix the event or mapping, then replay from the DLQ",
        vendor_code=code_text,
    )
