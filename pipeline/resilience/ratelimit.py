"""A token bucket per target, shared by every concurrent delivery to that target.

Staying under the vendor's published rate is cheaper than being throttled: a 429 costs a
round trip and often a penalty window.  When the target still says "slow down" (a 429 with
Retry-After, or ``X-RateLimit-Remaining: 0`` with a reset time), ``penalise`` empties the
bucket and pauses every caller until the target's reset, instead of letting each concurrent
delivery discover the limit on its own.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping

from pipeline.resilience.http import parse_retry_after

# Above this a reset header is an epoch timestamp, below it a number of seconds.
_EPOCH_THRESHOLD = 1_000_000_000.0
_EPSILON = 1e-9


class TokenBucket:
    """``rate_per_s`` tokens per second, at most ``burst`` stored.  ``rate_per_s=0`` means
    unlimited (only penalties pause).  ``clock``/``sleep`` are injectable for tests."""

    def __init__(
        self,
        rate_per_s: float,
        burst: int = 1,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if rate_per_s < 0:
            raise ValueError(f"rate_per_s must be >= 0 (0 = unlimited), got {rate_per_s}")
        if burst < 1:
            raise ValueError(f"burst must be >= 1, got {burst}")
        self.rate_per_s = float(rate_per_s)
        self.burst = int(burst)
        self._clock = clock
        self._wall_clock = wall_clock
        self._sleep = sleep
        self._tokens = float(burst)
        self._updated = clock()
        self._paused_until = 0.0
        self._lock = asyncio.Lock()

    @property
    def paused_for(self) -> float:
        """Seconds until a penalty pause ends (0 when not paused)."""
        return max(0.0, self._paused_until - self._clock())

    def _refill(self, now: float) -> None:
        if now <= self._updated:  # still inside a penalty pause: nothing accrues
            return
        if self.rate_per_s > 0:
            self._tokens = min(
                float(self.burst), self._tokens + (now - self._updated) * self.rate_per_s
            )
        self._updated = now

    async def acquire(self, tokens: float = 1.0) -> float:
        """Wait until ``tokens`` are available and take them; returns seconds waited.
        Callers are served in arrival order (the lock is FIFO)."""
        waited = 0.0
        async with self._lock:
            while True:
                now = self._clock()
                self._refill(now)
                pause = self._paused_until - now
                if pause > 0:
                    await self._sleep(pause)
                    waited += pause
                    continue
                if self.rate_per_s == 0:
                    return waited
                if self._tokens >= tokens - _EPSILON:  # float dust must not spin the loop
                    self._tokens -= tokens
                    return waited
                needed = (tokens - self._tokens) / self.rate_per_s
                await self._sleep(needed)
                waited += needed

    def penalise(self, retry_after: float) -> None:
        """The target asked us to wait ``retry_after`` seconds: pause every caller until
        then and restart with a single token (one request goes first, no burst)."""
        now = self._clock()
        self._refill(now)
        self._paused_until = max(self._paused_until, now + max(0.0, retry_after))
        self._tokens = min(1.0, float(self.burst))
        self._updated = self._paused_until

    def observe_headers(self, headers: Mapping[str, str]) -> float | None:
        """Read the usual rate-limit headers of a response; pause when the target says the
        window is used up.  Returns the pause applied, if any.

        Understands ``Retry-After`` (seconds or HTTP date) and
        ``X-RateLimit-Remaining`` / ``X-Rate-Limit-Remaining`` (Zendesk) /
        ``RateLimit-Remaining`` = 0 with ``X-RateLimit-Reset`` /
        ``RateLimit-Reset`` (seconds to wait, or an epoch timestamp).
        """
        lowered = {k.lower(): v for k, v in headers.items()}
        retry_after = parse_retry_after(lowered.get("retry-after"))
        remaining = next((lowered[name] for name in _REMAINING_HEADERS if name in lowered), None)
        if retry_after is None and remaining is not None and _as_float(remaining) == 0.0:
            reset = _as_float(lowered.get("x-ratelimit-reset", lowered.get("ratelimit-reset")))
            if reset is not None:
                retry_after = reset - self._wall_clock() if reset >= _EPOCH_THRESHOLD else reset
                retry_after = max(0.0, retry_after)
            else:
                retry_after = 1.0 / self.rate_per_s if self.rate_per_s else 1.0
        if retry_after is None:
            return None
        self.penalise(retry_after)
        return retry_after


_REMAINING_HEADERS = ("x-ratelimit-remaining", "x-rate-limit-remaining", "ratelimit-remaining")


def _as_float(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return float(value.strip())
    except ValueError:
        return None
