"""Everything the resilience layer keeps per target, in one object.

One ``TargetResilience`` is shared by every concurrent delivery to a target, so the token
bucket and the circuit breaker see the whole traffic, while each call gets its own retry
budget.  ``call`` is the one place where the pieces meet: for every attempt it waits for the
circuit (no retry spent while the target is known to be down), takes a token, calls the
target, feeds the breaker and, on throttling, pauses the bucket for everyone.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from pydantic import BaseModel, Field

from connectors.base.errors import RetryableError, ThrottledError
from pipeline.observability import SinkMetrics
from pipeline.resilience.circuit import CircuitBreaker, CircuitState
from pipeline.resilience.ratelimit import TokenBucket
from pipeline.resilience.retry import OnRetry, OnThrottle, RetryPolicy, run_with_retries

T = TypeVar("T")


class ResilienceSettings(BaseModel):
    """Per-target tuning, embedded in each connector's settings as ``resilience`` (e.g.
    ``VOICEBUS_WEBHOOK_RESILIENCE__RATE_PER_S=5``)."""

    rate_per_s: float = Field(default=10.0, ge=0, description="0 = unlimited")
    burst: int = Field(default=10, ge=1)
    max_attempts: int = Field(default=5, ge=1)
    max_elapsed_s: float = Field(default=60.0, gt=0)
    initial_backoff_s: float = Field(default=0.5, ge=0)
    max_backoff_s: float = Field(default=30.0, ge=0)
    jitter_s: float = Field(default=0.5, ge=0)
    throttle_max_waits: int = Field(default=50, ge=0)
    throttle_max_elapsed_s: float = Field(default=900.0, gt=0)
    breaker_failure_threshold: int = Field(default=5, ge=1)
    breaker_window_s: float = Field(default=30.0, gt=0)
    breaker_reset_s: float = Field(default=15.0, gt=0)

    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(
            max_attempts=self.max_attempts,
            max_elapsed_s=self.max_elapsed_s,
            initial_backoff_s=self.initial_backoff_s,
            max_backoff_s=self.max_backoff_s,
            jitter=self.jitter_s,
            throttle_max_waits=self.throttle_max_waits,
            throttle_max_elapsed_s=self.throttle_max_elapsed_s,
        )


class TargetResilience:
    """Retry policy + token bucket + circuit breaker of one target."""

    def __init__(
        self,
        target: str,
        policy: RetryPolicy,
        bucket: TokenBucket,
        breaker: CircuitBreaker,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.target = target
        self.policy = policy
        self.bucket = bucket
        self.breaker = breaker
        self.sleep = sleep
        self.clock = clock

    @classmethod
    def from_settings(
        cls,
        target: str,
        settings: ResilienceSettings | None = None,
        *,
        metrics: SinkMetrics | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> TargetResilience:
        s = settings or ResilienceSettings()
        breaker = CircuitBreaker(
            s.breaker_failure_threshold, s.breaker_window_s, s.breaker_reset_s, clock=clock
        )
        if metrics is not None:
            breaker.add_listener(_circuit_metrics(metrics))
        bucket = TokenBucket(s.rate_per_s, s.burst, clock=clock, wall_clock=wall_clock, sleep=sleep)
        return cls(target, s.retry_policy(), bucket, breaker, sleep=sleep, clock=clock)

    @property
    def circuit_state(self) -> CircuitState:
        return self.breaker.state

    async def call(
        self,
        fn: Callable[[], Awaitable[T]],
        *,
        on_retry: OnRetry | None = None,
        on_throttle: OnThrottle | None = None,
        on_attempt: Callable[[], None] | None = None,
    ) -> T:
        """Run ``fn`` under circuit, rate limit and retry policy.  Raises what
        ``run_with_retries`` raises (the first non-retryable error, or
        ``RetriesExhausted``)."""

        async def attempt() -> T:
            await self.breaker.wait_until_allowed(self.sleep)
            await self.bucket.acquire()
            if on_attempt is not None:
                on_attempt()
            try:
                result = await fn()
            except ThrottledError as exc:
                self.bucket.penalise(exc.retry_after)
                self.breaker.record_neutral()
                raise
            except RetryableError:
                self.breaker.record_failure()
                raise
            except BaseException:
                self.breaker.record_neutral()
                raise
            self.breaker.record_success()
            return result

        return await run_with_retries(
            attempt,
            self.policy,
            sleep=self.sleep,
            clock=self.clock,
            on_retry=on_retry,
            on_throttle=on_throttle,
        )


def _circuit_metrics(metrics: SinkMetrics) -> Callable[[CircuitState, CircuitState], None]:
    """Keep the ``circuit_open`` up-down counter at 1 while open or half-open, 0 when closed."""

    def listener(old: CircuitState, new: CircuitState) -> None:
        if old is CircuitState.CLOSED and new is CircuitState.OPEN:
            metrics.circuit_opened()
        elif new is CircuitState.CLOSED:
            metrics.circuit_closed()

    return listener
