"""HubSpot responses -> error classes, and what the messages may say."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from connectors.base.errors import (
    AuthError,
    DataError,
    PermanentError,
    RetryableError,
    ThrottledError,
)
from connectors.hubspot.errors import (
    UniqueValueConflict,
    classify_error,
    classify_response,
    item_status,
    seconds_until_daily_reset,
)


def response(status: int, body: dict | None = None, headers: dict | None = None) -> httpx.Response:
    return httpx.Response(status, json=body or {}, headers=headers or {})


def rate_limited(policy: str) -> dict:
    return {
        "status": "error",
        "message": "You have reached your secondly limit.",
        "errorType": "RATE_LIMIT",
        "correlationId": "c",
        "policyName": policy,
    }


@pytest.mark.parametrize("policy", ["SECONDLY", "TEN_SECONDLY_ROLLING"])
def test_window_limits_are_throttled_for_a_second(policy):
    error = classify_response(response(429, rate_limited(policy)), operation="upsert")
    assert isinstance(error, ThrottledError)
    assert error.retry_after == 1.0
    assert policy in error.message and error.vendor_code == policy


def test_retry_after_header_wins():
    error = classify_response(
        response(429, rate_limited("SECONDLY"), {"Retry-After": "7"}), operation="upsert"
    )
    assert isinstance(error, ThrottledError) and error.retry_after == 7.0


def test_daily_limit_waits_until_midnight_in_the_portal_zone():
    error = classify_response(response(429, rate_limited("DAILY")), operation="upsert")
    assert isinstance(error, ThrottledError)
    assert 1.0 <= error.retry_after <= 86_400
    at_2230 = datetime(2026, 11, 24, 22, 30, tzinfo=UTC)
    assert seconds_until_daily_reset("UTC", lambda: at_2230) == 90 * 60
    # 22:30 UTC is 17:30 in New York: six and a half hours to its midnight
    assert seconds_until_daily_reset("America/New_York", lambda: at_2230) == 6.5 * 3600


def test_validation_errors_are_data_and_never_echo_values():
    body = {
        "status": "error",
        "category": "VALIDATION_ERROR",
        "correlationId": "c",
        "message": 'Property values were not valid: "bob@example.com" is not an email',
        "context": {"propertyName": ["email"]},
    }
    error = classify_response(response(400, body), operation="batch update of 1 contacts")
    assert isinstance(error, DataError)
    assert "VALIDATION_ERROR" in error.message and "propertyName=email" in error.message
    assert "bob@example.com" not in error.message


def test_status_mapping():
    assert isinstance(
        classify_response(response(400, {"category": "BAD_REQUEST"}), operation="x"), PermanentError
    )
    assert isinstance(
        classify_response(response(401, {"category": "INVALID_AUTHENTICATION"}), operation="x"),
        AuthError,
    )
    scopes = classify_response(
        response(
            403,
            {
                "category": "MISSING_SCOPES",
                "context": {"missingScopes": ["crm.objects.contacts.write"]},
            },
        ),
        operation="x",
    )
    assert type(scopes) is PermanentError
    assert "crm.objects.contacts.write" in scopes.message
    assert type(classify_response(response(404), operation="x")) is PermanentError
    assert isinstance(
        classify_response(response(404), operation="x", missing_is_data=True), DataError
    )
    assert isinstance(
        classify_response(response(409, {"category": "CONFLICT"}), operation="x"),
        UniqueValueConflict,
    )
    for status in (500, 502, 503, 504):
        assert isinstance(classify_response(response(status), operation="x"), RetryableError)
    assert classify_response(response(207), operation="x") is None


def test_batch_error_entries_get_a_status_from_their_category():
    assert item_status({"status": "error", "category": "OBJECT_NOT_FOUND"}) == 404
    assert item_status({"status": "400", "category": "VALIDATION_ERROR"}) == 400
    assert item_status({"status": "error", "category": "VALIDATION_ERROR"}) == 400
    missing = classify_error(
        404,
        {"category": "OBJECT_NOT_FOUND", "context": {"ids": ["1"]}},
        operation="update contacts",
        missing_is_data=True,
    )
    assert isinstance(missing, DataError)


def test_a_failed_association_names_the_missing_id_not_a_property():
    error = classify_error(
        400,
        {"category": "VALIDATION_ERROR", "message": "calls 7 or contacts HU000 is not valid"},
        operation="associate calls with contacts",
        missing_is_data=True,
    )
    assert isinstance(error, DataError)
    assert "does not exist in HubSpot" in str(error)
    assert "create the property" not in str(error)
    plain = classify_error(400, {"category": "VALIDATION_ERROR"}, operation="create calls")
    assert "create the property" in str(plain)
