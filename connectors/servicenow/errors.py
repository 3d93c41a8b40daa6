"""ServiceNow responses -> error classes.

ServiceNow answers errors as ``{"error": {"message": ..., "detail": ...}, "status": "failure"}``.

======== ================================================================================
2xx      success
400      ``DataError`` naming ServiceNow's ``error.message`` (invalid field, bad query ...)
401      ``AuthError`` (the OAuth flow refreshes once first; basic auth reloads settings)
403      ``PermanentError``: an ACL refuses the operation to the integration user
404      ``PermanentError``: table or record not there
429      ``ThrottledError`` with ``Retry-After`` (else ``X-RateLimit-Reset`` epoch), 1 s default
5xx, 408 ``RetryableError``; connect errors and timeouts too
======== ================================================================================

Messages carry the table, the operation, the status and ServiceNow's short ``message`` when it
repeats nothing we sent (it is clipped, the ``detail`` is never included: it can echo values);
never bodies, URLs (the query holds e-mail/phone) or credentials.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

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

TARGET = "servicenow"
MAX_MESSAGE_CHARS = 160


def vendor_message(response: httpx.Response, sent: Iterable[str] = ()) -> str | None:
    """ServiceNow's ``error.message``, unless it repeats one of the values we sent."""
    try:
        data = response.json()
    except ValueError:
        return None
    error = data.get("error") if isinstance(data, dict) else None
    message = error.get("message") if isinstance(error, dict) else None
    if not isinstance(message, str) or not message.strip():
        return None
    for value in sent:
        if value and len(value) > 2 and value in message:
            return None
    return message.strip()[:MAX_MESSAGE_CHARS]


def throttle_wait(headers: httpx.Headers, now: float | None = None) -> float:
    retry_after = parse_retry_after(headers.get("retry-after"))
    if retry_after is not None:
        return retry_after
    reset = headers.get("x-ratelimit-reset")
    try:
        epoch = float(reset) if reset is not None else None
    except ValueError:
        epoch = None
    if epoch is not None:
        return max(0.0, epoch - (time.time() if now is None else now))
    return DEFAULT_RETRY_AFTER_S


def classify_response(
    response: httpx.Response, *, operation: str, sent: Iterable[str] = ()
) -> ConnectorError | None:
    """None for 1xx-3xx, else the classified error."""
    status = response.status_code
    if status < 400:
        return None
    where = f"{TARGET} {operation}: HTTP {status}"
    message = vendor_message(response, sent)
    said = f" ({message!r})" if message else ""
    if status == 400:
        return DataError(
            f"{where}{said}: ServiceNow refused the data; fix the mapping or the event, then "
            "replay from the DLQ",
            status_code=status,
        )
    if status == 401:
        return AuthError(
            f"{where}{said}: credentials rejected; check VOICEBUS_SERVICENOW_* credentials",
            status_code=status,
        )
    if status == 403:
        return PermanentError(
            f"{where}{said}: an ACL refuses this to the integration user; grant it the role "
            "for this table (e.g. itil), then replay from the DLQ",
            status_code=status,
        )
    if status == 404:
        return PermanentError(
            f"{where}{said}: table or record not found; check the instance plugins/record",
            status_code=status,
        )
    if status == 429:
        wait = throttle_wait(response.headers)
        return ThrottledError(
            f"{where}: rate limited by the instance's REST rate-limit rule; retrying after "
            f"{wait:g}s",
            retry_after=wait,
            status_code=status,
        )
    error = error_for_status(status, response.headers, target=TARGET, operation=operation)
    assert error is not None
    if isinstance(error, AuthError):  # other statuses error_for_status calls auth
        return PermanentError(error.message, status_code=status)
    return error


def classify_transport(exc: httpx.TransportError, *, operation: str) -> RetryableError:
    return error_for_transport(exc, target=TARGET, operation=operation)
