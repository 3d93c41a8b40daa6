"""HubSpot responses -> error classes.

====================================== ==============================================
2xx (207 Multi-Status: per input)      delivered / per-input errors mapped below
429 ``policyName`` SECONDLY,           throttled; waits ``Retry-After`` when sent, else 1 s
TEN_SECONDLY_ROLLING                   (the window frees continuously)
429 ``policyName`` DAILY               throttled until the daily reset (midnight in
                                       ``daily_reset_tz``): the runtime's throttle budget then
                                       sends the record to the retry topic instead of blocking
400 VALIDATION_ERROR (and subcategories data -> DLQ: the event produced values HubSpot
PROPERTY_DOESNT_EXIST, INVALID_EMAIL...) refuses (or a property is missing in the portal)
other 400                              permanent -> DLQ
401                                    auth (one credentials refresh, then the sink pauses)
403 (MISSING_SCOPES etc.)              permanent: the app lacks a scope; add it, then replay
404                                    permanent, or data when a referenced record is gone
409 CONFLICT                           ``UniqueValueConflict``: the client looks the
                                       existing record up and treats it as delivered
408, 5xx, transport errors             retryable
====================================== ==============================================

Messages carry the operation, status, category and sub-category (and property/scope names
from the error context), never HubSpot's message text or the body: both can echo our values.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
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

TARGET = "hubspot"
DATA_CATEGORIES = frozenset(
    {
        "VALIDATION_ERROR",
        "PROPERTY_DOESNT_EXIST",
        "INVALID_EMAIL",
        "INVALID_INTEGER",
        "INVALID_LONG",
        "INVALID_DATE",
        "INVALID_OPTION",
        "INVALID_PROPERTY_VALUE",
    }
)
#: context keys whose values are names (safe to log), never values
SAFE_CONTEXT_KEYS = ("propertyName", "properties", "missingScopes", "requiredScopes")
THROTTLE_DEFAULT_S = 1.0


class UniqueValueConflict(PermanentError):
    """409: a record already holds the unique property value we tried to create."""


def seconds_until_daily_reset(tz: str = "UTC", now: Callable[[], datetime] | None = None) -> float:
    """HubSpot resets the daily limit at midnight in the portal's time zone."""
    zone = zoneinfo.ZoneInfo(tz)
    current = now() if now is not None else datetime.now(zone)
    current = current.astimezone(zone)
    midnight = (current + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return max(1.0, (midnight - current).total_seconds())


def _body(response: httpx.Response) -> Mapping[str, Any]:
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def describe_context(error: Mapping[str, Any]) -> str:
    """``category/subCategory`` plus property or scope names from the context."""
    category = str(error.get("category") or error.get("errorType") or "unknown category")
    sub = error.get("subCategory")
    text = f"{category}/{sub}" if isinstance(sub, str) and sub else category
    context = error.get("context")
    if isinstance(context, Mapping):
        for key in SAFE_CONTEXT_KEYS:
            names = context.get(key)
            if isinstance(names, list) and names:
                text += f" {key}={','.join(str(n) for n in names[:10])}"
    return text


def classify_error(
    status: int,
    error: Mapping[str, Any],
    *,
    operation: str,
    headers: httpx.Headers | None = None,
    missing_is_data: bool = False,
    daily_reset_tz: str = "UTC",
) -> ConnectorError:
    """One HubSpot error (a whole response's body, or one entry of a 207's ``errors``)."""
    category = str(error.get("category") or error.get("errorType") or "")
    detail = describe_context(error)
    where = f"{TARGET} {operation}: HTTP {status} {detail}"
    if status == 429 or category in ("RATE_LIMIT", "RATE_LIMITS"):
        policy = str(error.get("policyName") or "")
        retry_after = parse_retry_after((headers or httpx.Headers()).get("retry-after"))
        if retry_after is None:
            retry_after = (
                seconds_until_daily_reset(daily_reset_tz)
                if policy == "DAILY"
                else THROTTLE_DEFAULT_S
            )
        return ThrottledError(
            f"{where} policy {policy or 'unknown'} (rate limited; retrying after {retry_after:g}s)",
            retry_after=retry_after,
            status_code=429,
            vendor_code=policy or category or None,
        )
    if status == 409 or category == "CONFLICT":
        return UniqueValueConflict(
            f"{where} (a record already holds this unique value)",
            status_code=status,
            vendor_code=category or None,
        )
    if status == 400:
        cls: type[ConnectorError] = (
            DataError
            if category in DATA_CATEGORIES or str(error.get("subCategory")) in DATA_CATEGORIES
            else PermanentError
        )
        if cls is DataError and operation.startswith("associate"):
            hint = (
                "a record id to link does not exist in HubSpot (e.g. a stale HubSpot id in "
                "crm.contacts); fix the directory entry, then replay from the DLQ"
            )
        elif cls is DataError:
            hint = "fix the event or create the property in HubSpot, then replay from the DLQ"
        else:
            hint = "fix the mapping or the HubSpot configuration, then replay"
        return cls(f"{where} ({hint})", status_code=status, vendor_code=category or None)
    if status == 401:
        return AuthError(
            f"{where} (credentials rejected; check VOICEBUS_HUBSPOT_ACCESS_TOKEN or the OAuth "
            "app's refresh token)",
            status_code=status,
            vendor_code=category or None,
        )
    if status == 403:
        return PermanentError(
            f"{where} (the app lacks a scope for this call; add it to the private/OAuth app, "
            "then replay from the DLQ)",
            status_code=status,
            vendor_code=category or None,
        )
    if status == 404 or category == "OBJECT_NOT_FOUND":
        cls = DataError if missing_is_data else PermanentError
        return cls(
            f"{where} (the referenced HubSpot record does not exist or was deleted)",
            status_code=status,
            vendor_code=category or None,
        )
    fallback = error_for_status(
        status, headers, target=TARGET, operation=operation, vendor_code=category or None
    )
    if fallback is None:  # a per-input error entry with a 2xx status string
        return PermanentError(f"{where} (refused)", vendor_code=category or None)
    return fallback


def classify_response(
    response: httpx.Response,
    *,
    operation: str,
    missing_is_data: bool = False,
    daily_reset_tz: str = "UTC",
) -> ConnectorError | None:
    """None for a 2xx, else the classified error of the whole response."""
    if 200 <= response.status_code < 300:
        return None
    if response.status_code < 400:
        return PermanentError(
            f"{TARGET} {operation}: HTTP {response.status_code} (redirects are not followed; "
            "check VOICEBUS_HUBSPOT_BASE_URL)",
            status_code=response.status_code,
        )
    return classify_error(
        response.status_code,
        _body(response),
        operation=operation,
        headers=response.headers,
        missing_is_data=missing_is_data,
        daily_reset_tz=daily_reset_tz,
    )


def item_status(error: Mapping[str, Any]) -> int:
    """HTTP-like status of one 207 error entry (HubSpot writes it as a string, sometimes
    "error"); categories decide when it is not a number."""
    raw = error.get("status")
    try:
        return int(str(raw))
    except (TypeError, ValueError):
        category = str(error.get("category") or "")
        return {
            "OBJECT_NOT_FOUND": 404,
            "CONFLICT": 409,
            "MISSING_SCOPES": 403,
            "RATE_LIMIT": 429,
            "RATE_LIMITS": 429,
        }.get(category, 400 if category in DATA_CATEGORIES else 500)


def classify_transport(exc: httpx.TransportError, *, operation: str) -> RetryableError:
    return error_for_transport(exc, target=TARGET, operation=operation)
