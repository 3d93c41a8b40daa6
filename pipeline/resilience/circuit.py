"""A circuit breaker per target: stop hammering a target that is down.

closed -> (``failure_threshold`` failures within ``window_s``) -> open
open -> (``reset_timeout_s`` elapsed) -> half_open: exactly one probe call is let through
half_open -> probe succeeds -> closed;  probe fails -> open again (timer restarts)

Only failures that say something about the target's health count (retryable errors:
5xx, timeouts, connection errors).  Throttling is the target working as designed and is
never a failure; permanent/data errors are about the record, not the target.

While open, callers wait for the half-open probe instead of spending their retry budget, and
the sink runtime reads ``state`` to pause partitions.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable
from enum import StrEnum


class CircuitState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


StateListener = Callable[["CircuitState", "CircuitState"], None]
"""``listener(old, new)`` on every state change."""


class CircuitBreaker:
    def __init__(
        self,
        failure_threshold: int = 5,
        window_s: float = 30.0,
        reset_timeout_s: float = 15.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        on_state_change: StateListener | None = None,
        probe_poll_s: float = 0.05,
    ) -> None:
        if failure_threshold < 1:
            raise ValueError(f"failure_threshold must be >= 1, got {failure_threshold}")
        self.failure_threshold = failure_threshold
        self.window_s = window_s
        self.reset_timeout_s = reset_timeout_s
        self.probe_poll_s = probe_poll_s
        self._clock = clock
        self._listeners: list[StateListener] = []
        if on_state_change is not None:
            self._listeners.append(on_state_change)
        self._state = CircuitState.CLOSED
        self._failures: deque[float] = deque()
        self._opened_at = 0.0
        self._probe_in_flight = False

    def add_listener(self, listener: StateListener) -> None:
        self._listeners.append(listener)

    def _set(self, new: CircuitState) -> None:
        old, self._state = self._state, new
        if old is not new:
            for listener in list(self._listeners):
                listener(old, new)

    @property
    def state(self) -> CircuitState:
        """Current state; an open circuit whose reset timeout passed reads as half_open."""
        if (
            self._state is CircuitState.OPEN
            and self._clock() - self._opened_at >= self.reset_timeout_s
        ):
            self._probe_in_flight = False
            self._set(CircuitState.HALF_OPEN)
        return self._state

    def seconds_until_half_open(self) -> float:
        if self.state is not CircuitState.OPEN:
            return 0.0
        return max(0.0, self._opened_at + self.reset_timeout_s - self._clock())

    def allow(self) -> bool:
        """May a call go to the target now?  In half_open only the first caller (the
        probe) gets True until the probe's result is recorded."""
        state = self.state
        if state is CircuitState.CLOSED:
            return True
        if state is CircuitState.HALF_OPEN and not self._probe_in_flight:
            self._probe_in_flight = True
            return True
        return False

    async def wait_until_allowed(
        self, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    ) -> float:
        """Wait (without spending retries) until ``allow()``; returns seconds waited."""
        waited = 0.0
        while not self.allow():
            pause = max(self.seconds_until_half_open() or self.probe_poll_s, 1e-3)
            await sleep(pause)
            waited += pause
        return waited

    def record_success(self) -> None:
        self._failures.clear()
        self._probe_in_flight = False
        if self._state is not CircuitState.CLOSED:
            self._set(CircuitState.CLOSED)

    def record_failure(self) -> None:
        now = self._clock()
        state = self.state
        if state is CircuitState.HALF_OPEN:
            self._trip(now)
            return
        if state is CircuitState.OPEN:
            return
        self._failures.append(now)
        while self._failures and now - self._failures[0] > self.window_s:
            self._failures.popleft()
        if len(self._failures) >= self.failure_threshold:
            self._trip(now)

    def record_neutral(self) -> None:
        """The call ended in a way that says nothing about the target's health (throttled,
        rejected data, auth): free the half-open probe slot without changing state."""
        self._probe_in_flight = False

    def _trip(self, now: float) -> None:
        self._opened_at = now
        self._failures.clear()
        self._probe_in_flight = False
        self._set(CircuitState.OPEN)
