"""Google error bodies -> error classes."""

from __future__ import annotations

import httpx
import pytest

from connectors.base.errors import (
    AuthError,
    DataError,
    PermanentError,
    RetryableError,
    ThrottledError,
)
from connectors.gmail.errors import classify_response


def google(status: int, reason: str, google_status: str = "X", headers=None) -> httpx.Response:
    body = {
        "error": {
            "code": status,
            "message": "Invalid To header: ada@example.com",
            "status": google_status,
            "errors": [{"reason": reason, "message": "ada@example.com"}],
        }
    }
    return httpx.Response(status, json=body, headers=headers or {})


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        (google(429, "rateLimitExceeded", headers={"Retry-After": "7"}), ThrottledError),
        (google(403, "userRateLimitExceeded"), ThrottledError),
        (google(403, "rateLimitExceeded"), ThrottledError),
        (google(401, "authError", "UNAUTHENTICATED"), AuthError),
        (google(400, "invalidArgument", "INVALID_ARGUMENT"), DataError),
        (google(400, "badRequest", "FAILED_PRECONDITION"), PermanentError),
        (google(403, "forbidden", "PERMISSION_DENIED"), PermanentError),
        (google(404, "notFound", "NOT_FOUND"), PermanentError),
        (google(500, "backendError", "INTERNAL"), RetryableError),
        (google(503, "backendError", "UNAVAILABLE"), RetryableError),
        (httpx.Response(502, text="<html>bad gateway</html>"), RetryableError),
    ],
)
def test_classification(response: httpx.Response, expected: type) -> None:
    error = classify_response(response, "messages.send")
    assert type(error) is expected
    assert "ada@example.com" not in error.message  # never the body / Google's message
    assert str(response.status_code) in error.message


def test_retry_after_is_honoured_and_defaults_to_one_second() -> None:
    error = classify_response(google(429, "rateLimitExceeded", headers={"Retry-After": "7"}), "x")
    assert isinstance(error, ThrottledError) and error.retry_after == 7
    error = classify_response(google(403, "userRateLimitExceeded"), "x")
    assert isinstance(error, ThrottledError) and error.retry_after == 1.0


def test_success_is_no_error() -> None:
    assert classify_response(httpx.Response(200, json={"id": "1"}), "messages.send") is None


def test_throttle_without_retry_after_backs_off_exponentially() -> None:
    waits = [
        classify_response(google(403, "rateLimitExceeded"), "x", throttle_streak=n).retry_after
        for n in range(8)
    ]
    assert waits == [1, 2, 4, 8, 16, 32, 64, 64]
    with_header = google(429, "rateLimitExceeded", headers={"Retry-After": "3"})
    assert classify_response(with_header, "x", throttle_streak=5).retry_after == 3
