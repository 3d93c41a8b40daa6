"""Outcome of delivering a record, shared by ``delivery`` and ``delivery_batch``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from connectors.base.connector import DeliveryResult
from connectors.base.errors import ConnectorError, ThrottledError
from pipeline.sinks.ledger_writes import LedgerWrites

MAX_MESSAGE_CHARS = 500


class OutcomeKind(StrEnum):
    DELIVERED = "delivered"
    DUPLICATE = "duplicate"
    RETRY_LATER = "retry_later"
    DEAD_LETTER = "dead_letter"
    PAUSE_AUTH = "pause_auth"
    CONFLICT = "conflict"
    CONFLICT_PARKED = "conflict_parked"


#: outcomes after which the record is finished and its offset may be committed
FINISHED_KINDS = frozenset(
    {OutcomeKind.DELIVERED, OutcomeKind.DUPLICATE, OutcomeKind.CONFLICT_PARKED}
)
# When a record's operations end differently, the record takes the first kind in this list.
_SEVERITY = (
    OutcomeKind.PAUSE_AUTH,
    OutcomeKind.RETRY_LATER,
    OutcomeKind.DEAD_LETTER,
    OutcomeKind.CONFLICT,
    OutcomeKind.CONFLICT_PARKED,
    OutcomeKind.DELIVERED,
    OutcomeKind.DUPLICATE,
)


@dataclass
class DeliveryOutcome:
    """What happened to one record.  ``attempts`` counts calls to the target, including
    ``prior_attempts`` (earlier rounds through the retry topic).  ``ledger_writes``: the
    ledger entries still being written (only with ``defer_ledger_writes``); whatever the
    kind, the record is not finished before ``ledger_writes.wait()`` returned."""

    kind: OutcomeKind
    error: ConnectorError | None = None
    attempts: int = 0
    first_failure_at: datetime | None = None
    last_failure_at: datetime | None = None
    results: list[DeliveryResult] = field(default_factory=list)
    retry_after: float | None = None
    ledger_writes: LedgerWrites | None = None

    @property
    def error_class(self) -> str | None:
        """``retryable | throttled | auth | permanent | data | conflict`` (DLQ header)."""
        return self.error.error_class if self.error is not None else None

    @property
    def message(self) -> str | None:
        """The error's message, safe for logs and DLQ headers (connectors never put secrets
        or response bodies in messages), truncated."""
        if self.error is None:
            return None
        return self.error.message[:MAX_MESSAGE_CHARS]

    @property
    def finished(self) -> bool:
        return self.kind in FINISHED_KINDS


class RecordTracker:
    """Attempts and failure times of one record during one ``deliver_*`` call."""

    def __init__(self, prior_attempts: int, now: Callable[[], datetime]) -> None:
        self.attempts = prior_attempts
        self.first_failure_at: datetime | None = None
        self.last_failure_at: datetime | None = None
        self.results: list[DeliveryResult] = []
        self.delivered_any = False
        self.ledger_writes: LedgerWrites | None = None  # set: write entries in the background
        self._now = now

    def failed(self) -> None:
        now = self._now()
        self.first_failure_at = self.first_failure_at or now
        self.last_failure_at = now

    def outcome(self, kind: OutcomeKind, error: ConnectorError | None = None) -> DeliveryOutcome:
        retry_after = error.retry_after if isinstance(error, ThrottledError) else None
        return DeliveryOutcome(
            kind,
            error,
            self.attempts,
            self.first_failure_at,
            self.last_failure_at,
            list(self.results),
            retry_after,
            self.ledger_writes if self.ledger_writes else None,
        )


def worst(kinds: Sequence[OutcomeKind]) -> OutcomeKind:
    """The kind a record takes when its operations ended differently."""
    return min(kinds, key=_SEVERITY.index)
