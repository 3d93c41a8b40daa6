"""Key-ordered parallel execution (asyncio).

Each key has a FIFO lane: jobs of one key run strictly one after another, in submission
order; lanes of different keys run concurrently, at most ``max_in_flight`` at a time.  Keys
waiting for a free slot are served first come, first served, and while keys wait, a running
lane gives its slot up after each job (round robin), so no key starves.

Jobs carry a ``tag`` (here the Kafka (topic, partition) they came from) so a rebalance can
drop the queued jobs of revoked partitions and cancel their running ones without touching
the other partitions' work that shares a lane.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable, Coroutine, Hashable
from dataclasses import dataclass, field
from typing import Any

JobFn = Callable[[], Coroutine[Any, Any, None]]


@dataclass
class _Job:
    tag: Hashable
    fn: JobFn
    task: asyncio.Task[None] | None = field(default=None, repr=False)


class KeyOrderedScheduler:
    """Run jobs in per-key order with bounded cross-key concurrency."""

    def __init__(self, max_in_flight: int, on_error: Callable[[BaseException], None]) -> None:
        if max_in_flight < 1:
            raise ValueError("max_in_flight must be >= 1")
        self.max_in_flight = max_in_flight
        self._on_error = on_error
        self._lanes: dict[str, deque[_Job]] = {}
        self._running: dict[str, _Job | None] = {}  # key -> job now running (lane active)
        self._waiting: deque[str] = deque()  # keys with work but no slot
        self._lane_tasks: set[asyncio.Task[None]] = set()
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def active_lanes(self) -> int:
        return len(self._running)

    @property
    def queued(self) -> int:
        return sum(len(lane) for lane in self._lanes.values())

    def submit(self, key: str, tag: Hashable, fn: JobFn) -> None:
        self._idle.clear()
        lane = self._lanes.setdefault(key, deque())
        lane.append(_Job(tag, fn))
        if key in self._running or key in self._waiting:
            return
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
        yielded = False
        try:
            while True:
                lane = self._lanes.get(key)
                if not lane:
                    break
                job = lane.popleft()
                job.task = asyncio.get_running_loop().create_task(job.fn())
                self._running[key] = job
                # wait() (not await task): cancelling the job must not cancel the lane
                await asyncio.wait({job.task})
                if not job.task.cancelled() and job.task.exception() is not None:
                    self._on_error(job.task.exception())  # type: ignore[arg-type]
                self._running[key] = None
                if self._waiting and self._lanes.get(key):
                    self._waiting.append(key)
                    yielded = True
                    break
        finally:
            self._running.pop(key, None)
            if not yielded:
                self._lanes.pop(key, None)
            while self._waiting and len(self._running) < self.max_in_flight:
                next_key = self._waiting.popleft()
                if self._lanes.get(next_key):
                    self._start_lane(next_key)
                else:  # its jobs were dropped while it waited
                    self._lanes.pop(next_key, None)
            if not self._running and not self._waiting:
                self._idle.set()

    def drop(self, tags: set[Hashable], *, cancel_running: bool = True) -> int:
        """Forget queued jobs with these tags (and cancel running ones); returns how many."""
        dropped = 0
        for lane in self._lanes.values():
            keep = [job for job in lane if job.tag not in tags]
            dropped += len(lane) - len(keep)
            lane.clear()
            lane.extend(keep)
        if not cancel_running:
            return dropped
        for job in self._running.values():
            if job is not None and job.tag in tags and job.task is not None:
                job.task.cancel()
                dropped += 1
        return dropped

    def pending(self, tags: set[Hashable]) -> int:
        """Jobs with these tags that are queued or running."""
        queued = sum(1 for lane in self._lanes.values() for job in lane if job.tag in tags)
        running = sum(1 for job in self._running.values() if job is not None and job.tag in tags)
        return queued + running

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
        for job in list(self._running.values()):
            if job is not None and job.task is not None:
                job.task.cancel()
        for task in list(self._lane_tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task
