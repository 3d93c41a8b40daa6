"""Webhook responses -> error classes.

========================= =======================================================
2xx                       delivered
410 Gone                  ``EndpointGoneError`` (permanent); the endpoint is disabled
                          for the life of the process, no further calls are made
429                       throttled, waits ``Retry-After`` (1 s when absent)
408, 5xx, connect errors, retryable
timeouts
401, 403                  auth (one secret reload, then the sink pauses)
other 4xx                 permanent -> DLQ
========================= =======================================================

Messages carry the status and the endpoint's number and origin (scheme://host:port), never
the response body or the URL path/query (receivers often embed tokens there).
"""

from __future__ import annotations

import httpx

from connectors.base.errors import ConnectorError, PermanentError, RetryableError
from connectors.base.http import error_for_status, error_for_transport

TARGET = "webhook"


class EndpointGoneError(PermanentError):
    """The receiver answered 410 Gone: it asked us to stop sending."""


def describe(position: int, origin: str) -> str:
    return f"POST to endpoint #{position} ({origin})"


def classify_response(
    response: httpx.Response, *, position: int, origin: str
) -> ConnectorError | None:
    """None for a 2xx, else the classified error."""
    status = response.status_code
    operation = describe(position, origin)
    if 200 <= status < 300:
        return None
    if status == 410:
        return EndpointGoneError(
            f"{TARGET} {operation}: HTTP 410 Gone; the receiver unsubscribed, the endpoint is "
            "disabled; remove it from VOICEBUS_WEBHOOK_URLS (or fix the receiver) and restart",
            status_code=status,
        )
    if status < 400:  # 1xx/3xx: redirects are not followed, signed requests stay put
        return PermanentError(
            f"{TARGET} {operation}: HTTP {status} (redirects are not followed; configure the "
            "final URL in VOICEBUS_WEBHOOK_URLS)",
            status_code=status,
        )
    error = error_for_status(status, response.headers, target=TARGET, operation=operation)
    assert error is not None
    return error


def classify_transport(exc: httpx.TransportError, *, position: int, origin: str) -> RetryableError:
    return error_for_transport(exc, target=TARGET, operation=describe(position, origin))
