"""ServiceNow status/body classification (httpx responses built in memory)."""

from __future__ import annotations

import time

import httpx
import pytest

from connectors.base.errors import (
    AuthError,
    DataError,
    PermanentError,
    RetryableError,
    ThrottledError,
)
from connectors.servicenow.errors import classify_response


def sn(status: int, message: str = "msg", detail: str = "secret detail", **headers: str):
    body = {"error": {"message": message, "detail": detail}, "status": "failure"}
    return httpx.Response(status, json=body, headers=headers)


def test_400_is_data_naming_the_message_but_not_the_detail() -> None:
    error = classify_response(sn(400, "Invalid field: urgencyx"), operation="create incident")
    assert isinstance(error, DataError)
    assert "Invalid field: urgencyx" in error.message and "secret detail" not in error.message


def test_a_message_echoing_our_values_is_dropped() -> None:
    error = classify_response(
        sn(400, "Bad value jane.roe@example.com"),
        operation="query sys_user",
        sent=["jane.roe@example.com"],
    )
    assert isinstance(error, DataError) and "jane.roe" not in error.message


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (401, AuthError),
        (403, PermanentError),
        (404, PermanentError),
        (500, RetryableError),
        (503, RetryableError),
        (409, PermanentError),
    ],
)
def test_status_classes(status: int, cls: type) -> None:
    error = classify_response(sn(status), operation="create incident")
    assert type(error) is cls
    assert f"HTTP {status}" in error.message


def test_403_says_acl() -> None:
    error = classify_response(sn(403, "User Not Authorized"), operation="create incident")
    assert "ACL" in error.message


def test_429_retry_after_then_reset_epoch_then_default() -> None:
    e1 = classify_response(sn(429, **{"Retry-After": "7"}), operation="x")
    assert isinstance(e1, ThrottledError) and e1.retry_after == 7
    reset = str(int(time.time()) + 30)
    e2 = classify_response(sn(429, **{"X-RateLimit-Reset": reset}), operation="x")
    assert isinstance(e2, ThrottledError) and 25 <= e2.retry_after <= 30
    e3 = classify_response(httpx.Response(429), operation="x")
    assert isinstance(e3, ThrottledError) and e3.retry_after == 1.0


def test_success_and_non_json_error_bodies() -> None:
    assert classify_response(httpx.Response(201, json={"result": {}}), operation="x") is None
    error = classify_response(httpx.Response(400, text="<html>oops</html>"), operation="x")
    assert isinstance(error, DataError) and "oops" not in error.message
