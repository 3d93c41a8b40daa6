from __future__ import annotations

import pytest

from connectors.base.errors import (
    AuthError,
    ConflictError,
    DataError,
    PermanentError,
    RetryableError,
    ThrottledError,
)
from pipeline.resilience.retry import RetriesExhausted, RetryPolicy, run_with_retries

POLICY = RetryPolicy(
    max_attempts=3, max_elapsed_s=1000, initial_backoff_s=1, max_backoff_s=8, jitter=0
)


class Script:
    """Raises the scripted errors in order, then returns 'ok'."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


async def test_retryable_errors_back_off_exponentially_then_succeed(clock):
    fn = Script(RetryableError("503"), RetryableError("503"))
    result = await run_with_retries(fn, POLICY, sleep=clock.sleep, clock=clock)
    assert result == "ok"
    assert fn.calls == 3
    assert clock.sleeps == [1, 2]  # jitter 0: initial * 2**(n-1)


async def test_backoff_is_capped_and_jittered(clock):
    policy = RetryPolicy(
        max_attempts=6, max_elapsed_s=1000, initial_backoff_s=1, max_backoff_s=3, jitter=0.5
    )
    fn = Script(*[RetryableError("x") for _ in range(5)])
    await run_with_retries(fn, policy, sleep=clock.sleep, clock=clock)
    assert len(clock.sleeps) == 5
    assert all(s <= 3 for s in clock.sleeps)
    assert 1 <= clock.sleeps[0] <= 1.5
    assert 2 <= clock.sleeps[1] <= 2.5


async def test_exhaustion_raises_retries_exhausted_with_last_error_and_count(clock):
    last = RetryableError("third")
    fn = Script(RetryableError("first"), RetryableError("second"), last, RetryableError("never"))
    with pytest.raises(RetriesExhausted) as info:
        await run_with_retries(fn, POLICY, sleep=clock.sleep, clock=clock)
    assert info.value.last_error is last
    assert info.value.attempts == 3
    assert fn.calls == 3


async def test_throttling_waits_retry_after_and_does_not_spend_attempts(clock):
    fn = Script(
        ThrottledError("429", retry_after=7),
        RetryableError("503"),
        ThrottledError("429", retry_after=2.5),
        ThrottledError("429", retry_after=4),
        RetryableError("503"),
    )
    throttles: list[float] = []
    result = await run_with_retries(
        fn, POLICY, sleep=clock.sleep, clock=clock, on_throttle=lambda e, w: throttles.append(w)
    )
    # 2 retryable failures < max_attempts=3, so the 3 throttles did not exhaust the budget
    assert result == "ok"
    assert fn.calls == 6
    assert throttles == [7, 2.5, 4]
    assert clock.sleeps == [7, 1, 2.5, 4, 2]


async def test_throttle_budget_is_separate_and_finite(clock):
    policy = POLICY.model_copy(update={"throttle_max_waits": 2})
    fn = Script(*[ThrottledError("429", retry_after=1) for _ in range(10)])
    with pytest.raises(RetriesExhausted) as info:
        await run_with_retries(fn, policy, sleep=clock.sleep, clock=clock)
    assert isinstance(info.value.last_error, ThrottledError)
    assert info.value.throttled == 3
    assert fn.calls == 3


async def test_max_elapsed_stops_retrying(clock):
    policy = RetryPolicy(
        max_attempts=100, max_elapsed_s=10, initial_backoff_s=4, max_backoff_s=4, jitter=0
    )
    fn = Script(*[RetryableError("x") for _ in range(100)])
    with pytest.raises(RetriesExhausted) as info:
        await run_with_retries(fn, policy, sleep=clock.sleep, clock=clock)
    assert info.value.attempts == 4  # failures at t=0,4,8,12 -> 12 >= 10 stops
    assert clock.sleeps == [4, 4, 4]


@pytest.mark.parametrize(
    "error",
    [
        AuthError("401"),
        PermanentError("400"),
        DataError("missing"),
        ConflictError("newer", record_ref="r", event_values={}, target_values={}),
        KeyError("bug"),
    ],
)
async def test_non_retryable_errors_are_raised_at_once(clock, error):
    fn = Script(error)
    with pytest.raises(type(error)):
        await run_with_retries(fn, POLICY, sleep=clock.sleep, clock=clock)
    assert fn.calls == 1
    assert clock.sleeps == []


async def test_on_retry_sees_failure_count_and_wait(clock):
    seen = []
    fn = Script(RetryableError("a"), RetryableError("b"))

    async def on_retry(error, failures, wait):
        seen.append((error.message, failures, wait))

    await run_with_retries(fn, POLICY, sleep=clock.sleep, clock=clock, on_retry=on_retry)
    assert seen == [("a", 1, 1), ("b", 2, 2)]


async def test_a_first_attempt_that_succeeds_never_builds_a_tenacity_run(clock, monkeypatch):
    import pipeline.resilience.retry as retry_module

    def no_tenacity(*args, **kwargs):
        raise AssertionError("tenacity was set up for a call that needed no retry")

    monkeypatch.setattr(retry_module, "AsyncRetrying", no_tenacity)
    assert await run_with_retries(Script(), POLICY, sleep=clock.sleep, clock=clock) == "ok"


async def test_a_failed_first_attempt_counts_once_against_the_budget(clock):
    policy = POLICY.model_copy(update={"max_attempts": 1})
    fn = Script(RetryableError("503"), RetryableError("never reached"))
    with pytest.raises(RetriesExhausted) as info:
        await run_with_retries(fn, policy, sleep=clock.sleep, clock=clock)
    assert info.value.attempts == 1 and info.value.last_error.message == "503"
    assert fn.calls == 1 and clock.sleeps == []
