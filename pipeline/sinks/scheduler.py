"""Key-ordered parallel execution (asyncio).

Each key has a FIFO lane: jobs of one key run strictly one after another, in submission
order; lanes of different keys run concurrently, at most ``max_in_flight`` at a time.  Keys
waiting for a free slot are served first come, first served, and while keys wait, a running
lane gives its slot up after each job (round robin), so no key starves.

A job may end in two steps: the job itself (which holds a slot: the call to the target)
and a *settle* awaitable it returns (waiting for an acknowledgement that needs no slot:
the broker's ack of the ledger write).  While a key settles, its slot serves other keys
but the key itself stays reserved: its next job starts only after the settle finished, so
per-key order covers the acknowledgement too.  At most ``max_in_flight`` keys settle apart
from their slot at once; beyond that a job settles in its slot (bounded work in limbo).

Jobs carry a ``tag`` (here the Kafka (topic, partition) they came from) so a rebalance can
drop the queued jobs of revoked partitions and cancel their running ones without touching
the other partitions' work that shares a lane.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Hashable
from dataclasses import dataclass, field
from typing import Any

Settle = Awaitable[None]
JobFn = Callable[[], Coroutine[Any, Any, Settle | None]]


@dataclass
class _Job:
    tag: Hashable
    fn: JobFn
    task: asyncio.Task[Any] | None = field(default=None, repr=False)


class KeyOrderedScheduler:
    """Run jobs in per-key order with bounded cross-key concurrency."""

    def __init__(self, max_in_flight: int, on_error: Callable[[BaseException], None]) -> None:
        if max_in_flight < 1:
            raise ValueError("max_in_flight must be >= 1")
        self.max_in_flight = max_in_flight
        self._on_error = on_error
        self._lanes: dict[str, deque[_Job]] = {}
        self._running: dict[str, _Job | None] = {}  # key -> job now running (lane active)
        self._settling: dict[str, _Job] = {}  # key -> job settling without a slot
        self._waiting: deque[str] = deque()  # keys with work but no slot
        self._lane_tasks: set[asyncio.Task[None]] = set()
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def active_lanes(self) -> int:
        return len(self._running)

    @property
    def settling(self) -> int:
        """Keys whose last job waits for its settle apart from a slot."""
        return len(self._settling)

    @property
    def queued(self) -> int:
        return sum(len(lane) for lane in self._lanes.values())

    def submit(self, key: str, tag: Hashable, fn: JobFn) -> None:
        self._idle.clear()
        lane = self._lanes.setdefault(key, deque())
        lane.append(_Job(tag, fn))
        if key in self._running or key in self._waiting or key in self._settling:
            return
        self._enqueue(key)

    def _enqueue(self, key: str) -> None:
        if len(self._running) < self.max_in_flight:
            self._start_lane(key)
        else:
            self._waiting.append(key)

    def _start_lane(self, key: str) -> None:
        self._running[key] = None
        task = asyncio.get_running_loop().create_task(self._run_lane(key), name=f"lane:{key}")
        self._lane_tasks.add(task)
        task.add_done_callback(self._lane_tasks.discard)

    async def _run_lane(self, key: str) -> None:
        """Run ``key``'s jobs one by one.  When other keys wait for a slot, the lane hands
        its slot over after each job and queues up again (round robin), so a key with a
        long backlog cannot hold a slot while short keys starve."""
        keep_lane = False  # the key queued up again or settles: its lane must stay
        try:
            while True:
                lane = self._lanes.get(key)
                if not lane:
                    break
                job = lane.popleft()
                settle = await self._run_job(key, job, job.fn())
                if settle is not None:
                    if len(self._settling) < self.max_in_flight:
                        self._settle_apart(key, job.tag, settle)
                        keep_lane = True
                        break
                    await self._run_job(key, _Job(job.tag, job.fn), settle)
                self._running[key] = None
                if self._waiting and self._lanes.get(key):
                    self._waiting.append(key)
                    keep_lane = True
                    break
        finally:
            self._running.pop(key, None)
            if not keep_lane:
                self._lanes.pop(key, None)
            self._fill_slots()

    async def _run_job(self, key: str, job: _Job, work: Awaitable[Any]) -> Settle | None:
        """Run ``work`` as ``key``'s current job; its result, or None if it failed."""
        job.task = asyncio.ensure_future(work)
        self._running[key] = job
        # wait() (not await task): cancelling the job must not cancel the lane
        await asyncio.wait({job.task})
        if job.task.cancelled():
            return None
        error = job.task.exception()
        if error is not None:
            self._on_error(error)
            return None
        result: Settle | None = job.task.result()
        return result

    def _settle_apart(self, key: str, tag: Hashable, settle: Settle) -> None:
        task = asyncio.ensure_future(settle)
        self._settling[key] = _Job(tag, lambda: _noop(), task)
        task.add_done_callback(lambda done: self._settled(key, done))

    def _settled(self, key: str, task: asyncio.Future[Any]) -> None:
        """The key's settle finished: it may run its next job (after the keys waiting)."""
        self._settling.pop(key, None)
        if not task.cancelled() and task.exception() is not None:
            self._on_error(task.exception())  # type: ignore[arg-type]
        if self._lanes.get(key):
            self._enqueue(key)
        else:
            self._lanes.pop(key, None)
        self._fill_slots()

    def _fill_slots(self) -> None:
        while self._waiting and len(self._running) < self.max_in_flight:
            next_key = self._waiting.popleft()
            if self._lanes.get(next_key):
                self._start_lane(next_key)
            else:  # its jobs were dropped while it waited
                self._lanes.pop(next_key, None)
        if not self._running and not self._waiting and not self._settling:
            self._idle.set()

    def drop(self, tags: set[Hashable], *, cancel_running: bool = True) -> int:
        """Forget queued jobs with these tags (and cancel running and settling ones);
        returns how many."""
        dropped = 0
        for lane in self._lanes.values():
            keep = [job for job in lane if job.tag not in tags]
            dropped += len(lane) - len(keep)
            lane.clear()
            lane.extend(keep)
        if not cancel_running:
            return dropped
        for job in [*self._running.values(), *self._settling.values()]:
            if job is not None and job.tag in tags and job.task is not None:
                job.task.cancel()
                dropped += 1
        return dropped

    def pending(self, tags: set[Hashable]) -> int:
        """Jobs with these tags that are queued, running or settling."""
        queued = sum(1 for lane in self._lanes.values() for job in lane if job.tag in tags)
        running = sum(1 for job in self._running.values() if job is not None and job.tag in tags)
        settling = sum(1 for job in self._settling.values() if job.tag in tags)
        return queued + running + settling

    def clear_queued(self) -> int:
        """Forget every job that has not started (drain: they are read again later)."""
        dropped = sum(len(lane) for lane in self._lanes.values())
        for lane in self._lanes.values():
            lane.clear()
        self._waiting.clear()
        return dropped

    async def wait_idle(self) -> None:
        await self._idle.wait()

    async def aclose(self) -> None:
        """Cancel everything (used after the drain timeout)."""
        for lane in self._lanes.values():
            lane.clear()
        for job in [*self._running.values(), *self._settling.values()]:
            if job is not None and job.task is not None:
                job.task.cancel()
        for task in list(self._lane_tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for job in list(self._settling.values()):
            if job.task is not None:
                await asyncio.wait({job.task})


async def _noop() -> None:
    return None
