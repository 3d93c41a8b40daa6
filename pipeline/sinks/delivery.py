"""Deliver one ``sync.<target>`` record to its target: map, dedupe, send, classify.

``Deliverer`` is what the sink runtime calls for every record.  It never touches Kafka
offsets or topics; it answers with a ``DeliveryOutcome`` and the runtime acts on it:

============== ====================================================================
kind           runtime action
============== ====================================================================
DELIVERED      commit
DUPLICATE      commit (the ledger says every operation already reached the target)
RETRY_LATER    in-process retries spent on retryable/throttled errors -> retry topic
DEAD_LETTER    permanent or data error -> DLQ (``error_class`` says which)
PAUSE_AUTH     credentials rejected even after one refresh -> pause, dead-letter nothing
CONFLICT       target holds newer data and no conflict handler is configured -> DLQ
CONFLICT_PARKED the conflict handler parked it for review (sync.conflicts) -> commit
============== ====================================================================

Per operation: the sync ledger is consulted first (an effect never happens twice), then the
target's ``TargetResilience`` runs the call (circuit, token bucket, retries).  An
``AuthError`` triggers exactly one ``connector.refresh_credentials()`` and one more run.
"""

from __future__ import annotations

import asyncio
import logging
import time
import traceback
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, Protocol

from opentelemetry import trace

from connectors.base.connector import Connector, DeliveryResult, Operation, SyncRecord
from connectors.base.errors import (
    AuthError,
    ConflictError,
    ConnectorError,
    DataError,
    PermanentError,
    RetryableError,
    ThrottledError,
)
from pipeline.observability import SinkMetrics, span_from_headers, tracer
from pipeline.resilience.retry import RetriesExhausted
from pipeline.resilience.target import ResilienceSettings, TargetResilience
from pipeline.sinks.delivery_batch import BatchRun
from pipeline.sinks.ledger import LedgerEntry, SyncLedger
from pipeline.sinks.ledger_writes import LedgerWrites
from pipeline.sinks.outcome import (
    FINISHED_KINDS,
    DeliveryOutcome,
    OutcomeKind,
    RecordTracker,
    worst,
)

__all__ = [
    "FINISHED_KINDS",
    "ConflictHandler",
    "Deliverer",
    "DeliveryOutcome",
    "OutcomeKind",
    "make_deliverer",
    "worst",
]

log = logging.getLogger(__name__)


class ConflictHandler(Protocol):
    """Decides what to do when the target holds newer data (``pipeline.conflicts``)."""

    async def handle(
        self, record: SyncRecord, operation: Operation, error: ConflictError
    ) -> Operation | None:
        """Return an operation to deliver instead (merged/forced), or None when the
        conflict was parked for review."""
        ...


class Deliverer:
    """Delivers records of one target.  One instance per sink; safe for concurrent use
    from one event loop (different keys at once; the runtime keeps each key in order)."""

    def __init__(
        self,
        connector: Connector,
        ledger: SyncLedger,
        resilience: TargetResilience,
        metrics: SinkMetrics | None = None,
        conflict_handler: ConflictHandler | None = None,
        *,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.connector = connector
        self.ledger = ledger
        self.resilience = resilience
        self.metrics = metrics
        self.conflict_handler = conflict_handler
        self.target = connector.name
        self._now = now

    # ---- one record --------------------------------------------------------------------
    async def deliver_record(
        self, record: SyncRecord, *, prior_attempts: int = 0, defer_ledger_writes: bool = False
    ) -> DeliveryOutcome:
        """``defer_ledger_writes``: do not wait for the ledger's acknowledgements; they come
        back as ``outcome.ledger_writes`` and the caller must await them before treating
        the record as finished (the sink runtime does, see ``ledger_writes.py``)."""
        tracker = RecordTracker(prior_attempts, self._now)
        if defer_ledger_writes:
            tracker.ledger_writes = LedgerWrites(self.ledger, self.target)
        with self._span(record) as span:
            outcome = await self._deliver_record(record, tracker)
            span.set_attribute("voicebus.outcome", outcome.kind.value)
            if outcome.error is not None:
                span.set_attribute("voicebus.error_class", outcome.error.error_class)
            return outcome

    async def _deliver_record(self, record: SyncRecord, tracker: RecordTracker) -> DeliveryOutcome:
        operations = self.map_record(record)
        if isinstance(operations, ConnectorError):
            tracker.failed()
            return tracker.outcome(OutcomeKind.DEAD_LETTER, operations)
        for operation in operations:
            failed = await self.deliver_operation(record, operation, tracker)
            if failed is not None:
                return failed
        if tracker.delivered_any or not operations:
            self._record_latency(record)
            return tracker.outcome(OutcomeKind.DELIVERED)
        return tracker.outcome(OutcomeKind.DUPLICATE)

    def map_record(self, record: SyncRecord) -> list[Operation] | ConnectorError:
        """The connector's mapping, with anything it raises turned into a DLQ-able error."""
        try:
            return list(self.connector.map_record(record))
        except (DataError, PermanentError) as exc:
            return exc
        except ConnectorError as exc:
            return DataError(f"mapping failed: {exc.message}")
        except Exception as exc:
            return DataError(
                f"{self.target} mapping crashed on this record with {type(exc).__name__} at "
                f"{_where(exc)}; fix the connector's mapping.py or the record, then replay"
            )

    async def deliver_operation(
        self,
        record: SyncRecord,
        operation: Operation,
        tracker: RecordTracker,
        *,
        handle_conflicts: bool = True,
    ) -> DeliveryOutcome | None:
        """Deliver one operation; None on success (results land in ``tracker``), else the
        record's outcome."""
        entry = await self.ledger.get(self.target, operation.idempotency_key)
        if entry is not None and entry.outcome == "delivered":
            if self.metrics is not None:
                self.metrics.duplicate_skipped()
            tracker.results.append(
                DeliveryResult(external_id=entry.external_id, detail={"duplicate": True})
            )
            return None
        try:
            result = await self._call_with_refresh(operation, tracker)
        except ConflictError as exc:
            return await self._on_conflict(record, operation, exc, tracker, handle_conflicts)
        except RetriesExhausted as exc:
            return tracker.outcome(OutcomeKind.RETRY_LATER, exc.last_error)
        except AuthError as exc:
            return tracker.outcome(OutcomeKind.PAUSE_AUTH, exc)
        except (RetryableError, ThrottledError) as exc:  # budget of zero retries
            return tracker.outcome(OutcomeKind.RETRY_LATER, exc)
        except ConnectorError as exc:
            return tracker.outcome(OutcomeKind.DEAD_LETTER, exc)
        except Exception as exc:
            tracker.failed()
            return tracker.outcome(OutcomeKind.DEAD_LETTER, self._unexpected(exc, "deliver"))
        await self._succeeded(operation, result, tracker)
        return None

    async def _succeeded(
        self, operation: Operation, result: DeliveryResult, tracker: RecordTracker
    ) -> None:
        entry = LedgerEntry(
            outcome="delivered",
            external_id=result.external_id,
            delivered_at=self._now().isoformat(),
        )
        if tracker.ledger_writes is not None:
            tracker.ledger_writes.add(operation.idempotency_key, entry)
        else:
            await self.ledger.put(self.target, operation.idempotency_key, entry)
        tracker.results.append(result)
        tracker.delivered_any = True

    async def _call_with_refresh(
        self, operation: Operation, tracker: RecordTracker
    ) -> DeliveryResult:
        try:
            return await self._call(operation, tracker)
        except AuthError:
            log.warning(
                "%s rejected our credentials; refreshing them once and retrying", self.target
            )
            await self.refresh_credentials()
            return await self._call(operation, tracker)

    async def refresh_credentials(self) -> None:
        """The connector's refresh hook; anything it raises means "still not authorised"."""
        try:
            await self.connector.refresh_credentials()
        except ConnectorError as exc:
            raise AuthError(f"{self.target} credential refresh failed: {exc.message}") from exc
        except Exception as exc:
            raise AuthError(
                f"{self.target} credential refresh raised {type(exc).__name__} at "
                f"{_where(exc)}; check the connector's credentials configuration"
            ) from exc

    async def _call(self, operation: Operation, tracker: RecordTracker) -> DeliveryResult:
        async def attempt() -> DeliveryResult:
            tracker.attempts += 1
            if self.metrics is not None:
                self.metrics.api_call(operation.kind)
            try:
                return await self.connector.deliver(operation)
            except ConnectorError as exc:
                tracker.failed()
                if self.metrics is not None:
                    self.metrics.failed(exc.error_class)
                raise

        return await self.resilience.call(
            attempt, on_retry=self._on_retry, on_throttle=self._on_throttle
        )

    async def _on_conflict(
        self,
        record: SyncRecord,
        operation: Operation,
        error: ConflictError,
        tracker: RecordTracker,
        handle_conflicts: bool,
    ) -> DeliveryOutcome | None:
        if self.conflict_handler is None or not handle_conflicts:
            return tracker.outcome(OutcomeKind.CONFLICT, error)
        try:
            replacement = await self.conflict_handler.handle(record, operation, error)
        except ConnectorError as exc:  # e.g. the conflict could not be parked: try later
            kind = OutcomeKind.RETRY_LATER if isinstance(exc, RetryableError) else None
            return tracker.outcome(kind or OutcomeKind.DEAD_LETTER, exc)
        if replacement is None:
            return tracker.outcome(OutcomeKind.CONFLICT_PARKED, error)
        failed = await self.deliver_operation(record, replacement, tracker, handle_conflicts=False)
        if failed is None and replacement.idempotency_key != operation.idempotency_key:
            # a redelivery of the record must not re-trigger the conflict resolution
            result = tracker.results[-1] if tracker.results else DeliveryResult()
            await self._succeeded(operation, result, tracker)
            tracker.results.pop()
        return failed

    # ---- batches -----------------------------------------------------------------------
    async def deliver_batch(
        self, records: Sequence[SyncRecord], *, prior_attempts: Sequence[int] | None = None
    ) -> list[DeliveryOutcome]:
        """Deliver several records with ``connector.deliver_batch``; one outcome per record,
        in order.  Only failed items are retried; delivered ones are never resent."""
        priors = list(prior_attempts) if prior_attempts is not None else [0] * len(records)
        if len(priors) != len(records):
            raise ValueError("prior_attempts must have one entry per record")
        with tracer().start_as_current_span(
            f"sink.deliver_batch {self.target}", attributes={"voicebus.batch_size": len(records)}
        ):
            return await BatchRun(self, records, priors).run()

    # ---- helpers -----------------------------------------------------------------------
    def _on_retry(self, error: ConnectorError, failures: int, wait_s: float) -> None:
        if self.metrics is not None:
            self.metrics.retried()
        log.info(
            "%s: %s (attempt %d failed), retrying in %.2fs",
            self.target,
            error.message,
            failures,
            wait_s,
        )

    def _on_throttle(self, error: ThrottledError, wait_s: float) -> None:
        if self.metrics is not None:
            self.metrics.throttled(wait_s)
        log.info("%s throttled us; waiting %.2fs", self.target, wait_s)

    def _record_latency(self, record: SyncRecord) -> None:
        if self.metrics is not None:
            self.metrics.delivered(event_latency_s(record.event, self._now()))

    def _unexpected(self, exc: BaseException, stage: str) -> PermanentError:
        log.error(
            "%s connector raised an unclassified %s in %s at %s",
            self.target,
            type(exc).__name__,
            stage,
            _where(exc),
        )
        return PermanentError(
            f"{self.target} connector raised an unclassified {type(exc).__name__} in {stage} "
            f"at {_where(exc)}; its errors.py must map it to a ConnectorError class"
        )

    @contextmanager
    def _span(self, record: SyncRecord) -> Iterator[trace.Span]:
        name = f"sink.deliver {self.target}"
        attributes = {"voicebus.target": self.target, "messaging.message.key": record.key}
        if trace.get_current_span().get_span_context().is_valid:
            with tracer().start_as_current_span(name, attributes=attributes) as span:
                yield span
        else:
            with span_from_headers(name, record.headers, attributes) as span:
                yield span


def make_deliverer(
    connector: Connector,
    ledger: SyncLedger,
    *,
    metrics: SinkMetrics | None = None,
    conflict_handler: ConflictHandler | None = None,
    settings: ResilienceSettings | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> Deliverer:
    """The usual wiring: resilience from ``settings`` or the connector's own
    ``resilience_settings`` (its config's ``resilience`` block), circuit state reported to
    ``metrics``, and the token bucket handed to connectors that read rate-limit headers
    (``bind_rate_limiter(bucket)``)."""
    chosen = settings or getattr(connector, "resilience_settings", None) or ResilienceSettings()
    resilience = TargetResilience.from_settings(
        connector.name, chosen, metrics=metrics, sleep=sleep, clock=clock
    )
    bind = getattr(connector, "bind_rate_limiter", None)
    if callable(bind):
        bind(resilience.bucket)
    return Deliverer(connector, ledger, resilience, metrics, conflict_handler)


def event_latency_s(event: Mapping[str, Any], now: datetime) -> float | None:
    """Seconds from the event's ``occurred_at`` (datetime, epoch ms or ISO text) to now."""
    occurred = event.get("occurred_at")
    if isinstance(occurred, datetime):
        when = occurred if occurred.tzinfo else occurred.replace(tzinfo=UTC)
    elif isinstance(occurred, int | float):
        when = datetime.fromtimestamp(occurred / 1000.0, UTC)
    elif isinstance(occurred, str):
        try:
            when = datetime.fromisoformat(occurred)
        except ValueError:
            return None
        when = when if when.tzinfo else when.replace(tzinfo=UTC)
    else:
        return None
    return max(0.0, (now - when).total_seconds())


def _where(exc: BaseException) -> str:
    """file:line of the innermost frame, without the exception's message (which may hold
    data we must not log)."""
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return "unknown location"
    last = frames[-1]
    return f"{last.filename.rsplit('/', 2)[-1]}:{last.lineno}"
