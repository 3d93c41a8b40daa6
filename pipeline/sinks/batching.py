"""Batch mode: gather records from concurrent key lanes into one ``deliver_batch`` call.

Each key lane submits at most one record at a time (it awaits the result before its next
record), so a batch never holds two records of the same key and a failure of one record
cannot let a later record of its key overtake it.  A batch is sent when ``batch_size``
records are waiting or ``linger_s`` after its first record, whichever comes first; every
caller gets its own record's outcome.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

ItemT = TypeVar("ItemT")
ResultT = TypeVar("ResultT")


class Batcher(Generic[ItemT, ResultT]):
    """Collect items, deliver them together, hand each caller its own result."""

    def __init__(
        self,
        deliver_batch: Callable[[Sequence[ItemT]], Awaitable[Sequence[ResultT]]],
        batch_size: int,
        linger_s: float,
    ) -> None:
        self._deliver_batch = deliver_batch
        self.batch_size = batch_size
        self.linger_s = linger_s
        self._items: list[tuple[ItemT, asyncio.Future[ResultT]]] = []
        self._timer: asyncio.TimerHandle | None = None
        self._flushes: set[asyncio.Task[None]] = set()
        self.batches_sent = 0

    async def submit(self, item: ItemT) -> ResultT:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[ResultT] = loop.create_future()
        self._items.append((item, future))
        if len(self._items) >= self.batch_size:
            self._flush()
        elif self._timer is None:
            self._timer = loop.call_later(self.linger_s, self._flush)
        return await future

    def _flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        items, self._items = self._items, []
        if not items:
            return
        task = asyncio.get_running_loop().create_task(self._send(items))
        self._flushes.add(task)
        task.add_done_callback(self._flushes.discard)

    async def _send(self, items: list[tuple[ItemT, asyncio.Future[ResultT]]]) -> None:
        live = [(item, fut) for item, fut in items if not fut.done()]
        if not live:
            return
        self.batches_sent += 1
        try:
            results = await self._deliver_batch([item for item, _ in live])
            if len(results) != len(live):
                raise RuntimeError(
                    f"deliver_batch returned {len(results)} outcomes for {len(live)} records"
                )
        except BaseException as exc:
            for _, fut in live:
                if not fut.done():
                    fut.set_exception(exc)
            if isinstance(exc, asyncio.CancelledError):
                raise
            return
        for (_, fut), result in zip(live, results, strict=True):
            if not fut.done():
                fut.set_result(result)

    async def aclose(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for task in list(self._flushes):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
