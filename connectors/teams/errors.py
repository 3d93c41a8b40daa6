"""Teams answers -> error classes.

Webhooks (Workflows answer 202 Accepted, legacy Office 365 connectors 200 with body ``1``):

=================== =====================================================================
200 / 202           delivered
429                 throttled, waits ``Retry-After`` (1 s when absent)
408, 5xx, transport retryable
401, 403            auth: the URL's signature was rejected; URLs are re-read once, then the
                    sink pauses
404, 410            permanent: the webhook / workflow was deleted
other 4xx           permanent (the card was refused)
=================== =====================================================================

Graph channel messages: 201 delivered; same status mapping, the Graph ``error.code``
(e.g. ``InvalidAuthenticationToken``) kept as ``vendor_code``.

Messages name the channel and the webhook's host only: never the URL path/query (it holds
the signature), the token or the response body.
"""

from __future__ import annotations

import httpx

from connectors.base.errors import ConnectorError, PermanentError, RetryableError, ThrottledError
from connectors.base.http import DEFAULT_RETRY_AFTER_S, error_for_status, error_for_transport

TARGET = "teams"
LEGACY_FAILURE = "Webhook message delivery failed"


def graph_code(response: httpx.Response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    error = body.get("error") if isinstance(body, dict) else None
    code = error.get("code") if isinstance(error, dict) else None
    return str(code) if code else None


def classify_response(
    response: httpx.Response, *, where: str, graph: bool
) -> ConnectorError | None:
    status = response.status_code
    if 200 <= status < 300:
        if not graph and response.text.startswith(LEGACY_FAILURE):
            # legacy connectors answer 200 with an error text, e.g. "... HTTP error 429"
            if "429" in response.text:
                return ThrottledError(
                    f"{TARGET} {where}: legacy connector reported throttling; retrying after 1s",
                    retry_after=DEFAULT_RETRY_AFTER_S,
                    status_code=status,
                )
            return RetryableError(
                f"{TARGET} {where}: legacy connector reported a failed delivery; will retry",
                status_code=status,
            )
        return None
    code = graph_code(response) if graph else None
    if 300 <= status < 400:
        return PermanentError(
            f"{TARGET} {where}: HTTP {status} (redirects are not followed; configure the final "
            "URL)",
            status_code=status,
        )
    error = error_for_status(
        status, response.headers, target=TARGET, operation=where, vendor_code=code
    )
    assert error is not None  # status >= 400
    return error


def classify_transport(exc: httpx.TransportError, *, where: str) -> RetryableError:
    return error_for_transport(exc, target=TARGET, operation=where)
