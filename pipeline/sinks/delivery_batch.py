"""``Deliverer.deliver_batch``: one vendor batch call for many records, per-item outcomes.

Kept apart from ``delivery`` because the bookkeeping differs: a batch call succeeds for some
items and fails for others, so the retry loop resends only the items still failing (never
one that was delivered), throttling of any item pauses the whole batch, and auth failures,
conflicts and permanent errors settle their own items without stopping the rest.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from connectors.base.connector import DeliveryResult, Operation, SyncRecord
from connectors.base.errors import (
    AuthError,
    ConflictError,
    ConnectorError,
    PermanentError,
    RetryableError,
    ThrottledError,
)
from pipeline.resilience.retry import RetriesExhausted
from pipeline.sinks.outcome import DeliveryOutcome, OutcomeKind, RecordTracker, worst

if TYPE_CHECKING:
    from pipeline.sinks.delivery import Deliverer


@dataclass(eq=False)
class _Item:
    record_index: int
    operation: Operation
    error: ConnectorError | None = None
    open: bool = True


class BatchRun:
    def __init__(
        self, deliverer: Deliverer, records: Sequence[SyncRecord], priors: Sequence[int]
    ) -> None:
        self.d = deliverer
        self.records = list(records)
        self.trackers = [RecordTracker(p, deliverer._now) for p in priors]
        self.settled: list[list[tuple[OutcomeKind, ConnectorError | None]]] = [
            [] for _ in self.records
        ]
        self.has_operations = [False] * len(self.records)

    async def run(self) -> list[DeliveryOutcome]:
        pending: list[_Item] = []
        for index, record in enumerate(self.records):
            operations = self.d.map_record(record)
            if isinstance(operations, ConnectorError):
                self.trackers[index].failed()
                self.settled[index].append((OutcomeKind.DEAD_LETTER, operations))
                continue
            self.has_operations[index] = bool(operations)
            for operation in operations:
                if not await self._already_delivered(index, operation):
                    pending.append(_Item(index, operation))
        if pending:
            auth_failed = await self._send(pending)
            if auth_failed:
                await self._retry_after_refresh(auth_failed)
        return [self._outcome(index) for index in range(len(self.records))]

    async def _already_delivered(self, index: int, operation: Operation) -> bool:
        entry = await self.d.ledger.get(self.d.target, operation.idempotency_key)
        if entry is None or entry.outcome != "delivered":
            return False
        if self.d.metrics is not None:
            self.d.metrics.duplicate_skipped()
        self.trackers[index].results.append(
            DeliveryResult(external_id=entry.external_id, detail={"duplicate": True})
        )
        return True

    async def _retry_after_refresh(self, items: list[_Item]) -> None:
        try:
            await self.d.refresh_credentials()
        except AuthError as exc:
            for item in items:
                self._settle(item, OutcomeKind.PAUSE_AUTH, exc)
            return
        for item in items:
            item.open = True
        for item in await self._send(items):
            self._settle(item, OutcomeKind.PAUSE_AUTH, item.error)

    async def _send(self, items: list[_Item]) -> list[_Item]:
        """Deliver ``items`` with retries; settle each.  Returns the items refused with an
        ``AuthError`` (left for the caller's single credentials refresh)."""
        auth_failed: list[_Item] = []
        conflicts: list[_Item] = []

        async def attempt() -> None:
            live = [item for item in items if item.open]
            for index in {item.record_index for item in live}:
                self.trackers[index].attempts += 1
            if self.d.metrics is not None:
                self.d.metrics.api_call("batch")
            try:
                answers = await self.d.connector.deliver_batch([i.operation for i in live])
            except ConnectorError as exc:
                answers = [exc] * len(live)
            if len(answers) != len(live):
                error = PermanentError(
                    f"{self.d.target} deliver_batch returned {len(answers)} results for "
                    f"{len(live)} operations; the connector's batch mapping is broken"
                )
                answers = [error] * len(live)
            throttled: list[ThrottledError] = []
            failing: list[RetryableError] = []
            for item, answer in zip(live, answers, strict=True):
                if isinstance(answer, DeliveryResult):
                    item.open = False
                    await self.d._succeeded(
                        item.operation, answer, self.trackers[item.record_index]
                    )
                    continue
                item.error = answer
                self.trackers[item.record_index].failed()
                if self.d.metrics is not None:
                    self.d.metrics.failed(answer.error_class)
                if isinstance(answer, ThrottledError):
                    throttled.append(answer)
                elif isinstance(answer, RetryableError):
                    failing.append(answer)
                else:
                    item.open = False
                    if isinstance(answer, AuthError):
                        auth_failed.append(item)
                    elif isinstance(answer, ConflictError):
                        conflicts.append(item)
                    else:
                        self._settle(item, OutcomeKind.DEAD_LETTER, answer)
            if throttled:
                raise ThrottledError(
                    f"{len(throttled)} of {len(live)} batch items throttled",
                    retry_after=max(t.retry_after for t in throttled),
                )
            if failing:
                raise RetryableError(
                    f"{len(failing)} of {len(live)} batch items failed, first: {failing[0].message}"
                )

        try:
            await self.d.resilience.call(
                attempt, on_retry=self.d._on_retry, on_throttle=self.d._on_throttle
            )
        except RetriesExhausted:
            for item in items:
                if item.open:
                    self._settle(item, OutcomeKind.RETRY_LATER, item.error)
        except Exception as exc:
            error = self.d._unexpected(exc, "deliver_batch")
            for item in items:
                if item.open:
                    self._settle(item, OutcomeKind.DEAD_LETTER, error)
        for item in conflicts:
            await self._resolve_conflict(item)
        return auth_failed

    async def _resolve_conflict(self, item: _Item) -> None:
        assert isinstance(item.error, ConflictError)
        record = self.records[item.record_index]
        tracker = self.trackers[item.record_index]
        outcome = await self.d._on_conflict(record, item.operation, item.error, tracker, True)
        if outcome is not None:
            self._settle(item, outcome.kind, outcome.error)

    def _settle(self, item: _Item, kind: OutcomeKind, error: ConnectorError | None) -> None:
        item.open = False
        self.settled[item.record_index].append((kind, error))

    def _outcome(self, index: int) -> DeliveryOutcome:
        tracker = self.trackers[index]
        settled = self.settled[index]
        if settled:
            kind = worst([k for k, _ in settled])
            error = next(e for k, e in settled if k is kind)
            return tracker.outcome(kind, error)
        if tracker.delivered_any or not self.has_operations[index]:
            self.d._record_latency(self.records[index])
            return tracker.outcome(OutcomeKind.DELIVERED)
        return tracker.outcome(OutcomeKind.DUPLICATE)
