"""Ledger writes of one record that run while the sink already delivers other records.

Waiting for the broker's acknowledgement of a ledger entry used to hold the record's
delivery slot (a third of the slot's time at 50 ms targets).  ``Deliverer`` can instead
start the write and hand back a ``LedgerWrites``; the sink runtime frees the slot but
keeps the record's key reserved and its offset unfinished until ``wait()`` returns, so:

- the offset is committed only after the entry is acknowledged (as before);
- the next record of the key starts only after that acknowledgement, so after a crash
  the only record of a key that can be sent again is the one whose entry was not
  acknowledged yet, and it is sent again *before* the later ones of its key (per-key order
  holds for repeats too, which matters for targets that upsert field values);
- a repeat carries the same idempotency key (for webhooks the same ``webhook-id``), so
  receivers that dedupe apply it once.

A failed write is written again (it is idempotent by content) after ``retry_delay_s``
instead of delivering the record again.
"""

from __future__ import annotations

import asyncio
import logging

from pipeline.sinks.ledger import LedgerEntry, LedgerError, SyncLedger

log = logging.getLogger(__name__)


class LedgerWrites:
    """The unacknowledged ledger entries of one record."""

    def __init__(self, ledger: SyncLedger, target: str) -> None:
        self.ledger = ledger
        self.target = target
        self._writes: list[tuple[str, LedgerEntry, asyncio.Task[None]]] = []

    def __len__(self) -> int:
        return len(self._writes)

    def add(self, idempotency_key: str, entry: LedgerEntry) -> None:
        """Start writing ``entry`` now (the caller does not wait for it)."""
        self._writes.append((idempotency_key, entry, self._start(idempotency_key, entry)))

    def extend(self, other: LedgerWrites) -> None:
        self._writes.extend(other._writes)

    def _start(self, idempotency_key: str, entry: LedgerEntry) -> asyncio.Task[None]:
        task = asyncio.ensure_future(self.ledger.put(self.target, idempotency_key, entry))
        task.add_done_callback(_retrieve)  # failures are handled in wait(), not logged twice
        return task

    async def wait(self, retry_delay_s: float = 2.0) -> None:
        """Return once the broker acknowledged every entry; a failed write is retried."""
        for index, (key, entry, task) in enumerate(self._writes):
            while True:
                try:
                    await asyncio.shield(task)
                    break
                except LedgerError as exc:
                    log.warning(
                        "%s: %s; writing the ledger entry again in %.1fs",
                        self.target,
                        exc,
                        retry_delay_s,
                    )
                    await asyncio.sleep(retry_delay_s)
                    task = self._start(key, entry)
                    self._writes[index] = (key, entry, task)


def _retrieve(task: asyncio.Task[None]) -> None:
    if not task.cancelled():
        task.exception()
