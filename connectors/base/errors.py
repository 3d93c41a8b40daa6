"""One error root for every connector.  Each connector's ``errors.py`` turns vendor responses
into exactly one of these classes; the shared resilience layer decides what happens next:

- ``RetryableError``: transient (5xx, timeouts, lock contention) -> retried with backoff,
  then the retry topic, then the DLQ.
- ``ThrottledError(retry_after)``: the target asked us to slow down -> wait ``retry_after``;
  never spends the retry budget.
- ``AuthError``: credentials rejected after one refresh -> connector paused, nothing
  dead-lettered.
- ``PermanentError``: the target refuses the operation for good (4xx) -> DLQ.
- ``DataError``: the event itself is unusable (missing field, validation) -> DLQ.
- ``ConflictError``: the target holds newer data -> conflict rules / ``sync.conflicts``.

Messages must say what failed, where and how to fix it, and must never contain secrets,
tokens, raw PII or whole response bodies.
"""

from __future__ import annotations

from typing import Any, ClassVar


class ConnectorError(Exception):
    """Root of every classified connector failure."""

    error_class: ClassVar[str] = "error"

    def __init__(
        self, message: str, *, status_code: int | None = None, vendor_code: str | None = None
    ):
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.vendor_code = vendor_code


class RetryableError(ConnectorError):
    error_class = "retryable"


class ThrottledError(ConnectorError):
    error_class = "throttled"

    def __init__(self, message: str, *, retry_after: float, **kwargs: Any):
        super().__init__(message, **kwargs)
        self.retry_after = max(0.0, float(retry_after))


class AuthError(ConnectorError):
    error_class = "auth"


class PermanentError(ConnectorError):
    error_class = "permanent"


class DataError(ConnectorError):
    error_class = "data"


class ConflictError(ConnectorError):
    """The target was modified after the event.  ``target_values`` holds the target's current
    field values, ``event_values`` what we wanted to write, ``record_ref`` the target record."""

    error_class = "conflict"

    def __init__(
        self,
        message: str,
        *,
        record_ref: str,
        event_values: dict[str, Any],
        target_values: dict[str, Any],
        target_modified_at: str | None = None,
        **kwargs: Any,
    ):
        super().__init__(message, **kwargs)
        self.record_ref = record_ref
        self.event_values = event_values
        self.target_values = target_values
        self.target_modified_at = target_modified_at
