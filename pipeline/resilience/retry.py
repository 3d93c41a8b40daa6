"""Retries for one target operation, built on tenacity (connectors never import tenacity).

What is retried, and how long, follows the error classes of ``connectors.base.errors``:

- ``RetryableError``: exponential backoff with jitter, counted against ``max_attempts``.
- ``ThrottledError``: the target told us when to come back, so we wait *at least* its
  ``retry_after`` and do not count the attempt against ``max_attempts`` -- a target that is
  merely busy must not push records to the retry topic.  Throttling has its own, generous
  budget (``throttle_max_waits`` / ``throttle_max_elapsed_s``) so a target that throttles
  forever still ends in a clear ``RetriesExhausted`` instead of a stuck partition.
- Everything else (auth, permanent, data, conflict, programming errors) is raised at once.

``sleep`` and ``clock`` are injectable so tests observe waits without waiting.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from types import SimpleNamespace
from typing import Any, TypeVar

from pydantic import BaseModel, Field
from tenacity import AsyncRetrying, RetryCallState, RetryError, retry_if_exception_type
from tenacity.stop import stop_base
from tenacity.wait import wait_base, wait_exponential_jitter

from connectors.base.errors import ConnectorError, RetryableError, ThrottledError

T = TypeVar("T")

SleepFn = Callable[[float], Awaitable[None]]
OnRetry = Callable[[ConnectorError, int, float], Any]
"""``on_retry(error, retryable_failures_so_far, wait_s)`` before a backoff sleep."""
OnThrottle = Callable[[ThrottledError, float], Any]
"""``on_throttle(error, wait_s)`` before sleeping for a target's Retry-After."""


class RetryPolicy(BaseModel):
    """How hard to try one operation in-process before handing it to the retry topic."""

    max_attempts: int = Field(default=5, ge=1, description="attempts incl. the first")
    max_elapsed_s: float = Field(default=60.0, gt=0, description="give up after this long")
    initial_backoff_s: float = Field(default=0.5, ge=0)
    max_backoff_s: float = Field(default=30.0, ge=0)
    jitter: float = Field(default=0.5, ge=0, description="random extra seconds, 0..jitter")
    throttle_max_waits: int = Field(default=50, ge=0)
    throttle_max_elapsed_s: float = Field(default=900.0, gt=0)


class RetriesExhausted(Exception):
    """The in-process budget is spent; ``last_error`` is what the target said last."""

    def __init__(self, last_error: ConnectorError, attempts: int, throttled: int = 0) -> None:
        super().__init__(
            f"gave up after {attempts} attempt(s) ({throttled} throttled): "
            f"{last_error.error_class}: {last_error.message}"
        )
        self.last_error = last_error
        self.attempts = attempts
        self.throttled = throttled


class _Budget:
    """Counts what happened so far; shared by the stop and wait strategies of one run."""

    def __init__(self, policy: RetryPolicy, clock: Callable[[], float]) -> None:
        self.policy = policy
        self.clock = clock
        self.started = clock()
        self.attempts = 0
        self.failures = 0  # retryable failures (count against max_attempts)
        self.throttled = 0

    def elapsed(self) -> float:
        return self.clock() - self.started


class _StopWhenSpent(stop_base):
    def __init__(self, budget: _Budget) -> None:
        self.budget = budget

    def __call__(self, retry_state: RetryCallState) -> bool:
        budget, policy = self.budget, self.budget.policy
        error = retry_state.outcome.exception() if retry_state.outcome else None
        if isinstance(error, ThrottledError):
            return (
                budget.throttled > policy.throttle_max_waits
                or budget.elapsed() + error.retry_after > policy.throttle_max_elapsed_s
            )
        return budget.failures >= policy.max_attempts or budget.elapsed() >= policy.max_elapsed_s


# tenacity renamed ``initial`` to ``multiplier`` in 9.x; accept both releases (looked up
# once: inspecting a signature on every delivery was a tenth of the sink's CPU per record)
_BACKOFF_SCALE = (
    "multiplier"
    if "multiplier" in inspect.signature(wait_exponential_jitter).parameters
    else "initial"
)


def _exponential_jitter(policy: RetryPolicy) -> wait_exponential_jitter:
    kwargs: dict[str, Any] = {
        _BACKOFF_SCALE: policy.initial_backoff_s,
        "max": policy.max_backoff_s,
        "jitter": policy.jitter,
    }
    return wait_exponential_jitter(**kwargs)


class _WaitForError(wait_base):
    """Retry-After for throttling; exponential backoff over retryable failures only (so a
    throttle in between does not inflate the next backoff)."""

    def __init__(self, budget: _Budget) -> None:
        self.budget = budget
        self.backoff = _exponential_jitter(budget.policy)

    def __call__(self, retry_state: RetryCallState) -> float:
        error = retry_state.outcome.exception() if retry_state.outcome else None
        if isinstance(error, ThrottledError):
            return error.retry_after
        shim: Any = SimpleNamespace(attempt_number=max(1, self.budget.failures))
        return float(self.backoff(shim))


async def run_with_retries(
    fn: Callable[[], Awaitable[T]],
    policy: RetryPolicy,
    *,
    sleep: SleepFn = asyncio.sleep,
    clock: Callable[[], float] = time.monotonic,
    on_retry: OnRetry | None = None,
    on_throttle: OnThrottle | None = None,
) -> T:
    """Call ``fn`` until it succeeds, a non-retryable error is raised (re-raised as is), or
    the budget is spent (``RetriesExhausted``).

    The first attempt runs without tenacity: almost every call succeeds at once, and
    building a tenacity run for it cost as much CPU as the HTTP request.  Its failure is
    handed to tenacity as tenacity's own first attempt (re-raised by ``attempt``), so
    stop, wait and callbacks see exactly the sequence they would have seen."""
    budget = _Budget(policy, clock)
    budget.attempts = 1
    try:
        return await fn()
    except ThrottledError as exc:
        budget.throttled += 1
        first_failure: list[ConnectorError] = [exc]
    except RetryableError as exc:
        budget.failures += 1
        first_failure = [exc]

    async def attempt() -> T:
        if first_failure:
            raise first_failure.pop()
        budget.attempts += 1
        try:
            return await fn()
        except ThrottledError:
            budget.throttled += 1
            raise
        except RetryableError:
            budget.failures += 1
            raise

    async def before_sleep(retry_state: RetryCallState) -> None:
        error = retry_state.outcome.exception() if retry_state.outcome else None
        wait_s = retry_state.next_action.sleep if retry_state.next_action else 0.0
        callback_result: Any = None
        if isinstance(error, ThrottledError) and on_throttle is not None:
            callback_result = on_throttle(error, wait_s)
        elif isinstance(error, RetryableError) and on_retry is not None:
            callback_result = on_retry(error, budget.failures, wait_s)
        if inspect.isawaitable(callback_result):
            await callback_result

    retrying = AsyncRetrying(
        sleep=sleep,
        stop=_StopWhenSpent(budget),
        wait=_WaitForError(budget),
        retry=retry_if_exception_type((RetryableError, ThrottledError)),
        before_sleep=before_sleep,
    )
    try:
        return await retrying(attempt)
    except RetryError as exc:
        last = exc.last_attempt.exception()
        assert isinstance(last, ConnectorError)  # only these are retried
        raise RetriesExhausted(last, budget.attempts, budget.throttled) from last
