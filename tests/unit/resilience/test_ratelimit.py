from __future__ import annotations

import asyncio

import pytest

from pipeline.resilience.ratelimit import TokenBucket


def bucket(clock, rate=2.0, burst=2, wall=lambda: 5_000_000_000.0):
    return TokenBucket(rate, burst, clock=clock, sleep=clock.sleep, wall_clock=wall)


async def test_burst_is_free_then_paced_at_rate(clock):
    b = bucket(clock, rate=2, burst=2)
    waits = [await b.acquire() for _ in range(5)]
    assert waits[:2] == [0, 0]
    assert waits[2:] == pytest.approx([0.5, 0.5, 0.5])


async def test_tokens_refill_over_time_up_to_burst(clock):
    b = bucket(clock, rate=1, burst=3)
    for _ in range(3):
        await b.acquire()
    clock.advance(100)
    waits = [await b.acquire() for _ in range(4)]
    assert waits == pytest.approx([0, 0, 0, 1])


async def test_penalise_pauses_everyone_until_retry_after(clock):
    b = bucket(clock, rate=10, burst=10)
    b.penalise(3.0)
    assert b.paused_for == pytest.approx(3.0)
    waited = await b.acquire()
    assert waited == pytest.approx(3.0)
    # after the pause: one token, then the configured pace (no burst)
    assert await b.acquire() == pytest.approx(0.1)


async def test_penalty_pause_is_shared_by_concurrent_callers(clock):
    b = bucket(clock, rate=100, burst=100)
    b.penalise(2.0)
    start = clock.now
    await asyncio.gather(*(b.acquire() for _ in range(3)))
    assert clock.now - start == pytest.approx(2.0 + 2 * 0.01)


async def test_concurrent_acquirers_share_the_rate(clock):
    b = bucket(clock, rate=4, burst=1)
    start = clock.now
    await asyncio.gather(*(b.acquire() for _ in range(9)))
    assert clock.now - start == pytest.approx(2.0)  # 1 burst + 8 at 4/s


async def test_retry_after_header_pauses(clock):
    b = bucket(clock)
    assert b.observe_headers({"Retry-After": "4"}) == 4
    assert b.paused_for == pytest.approx(4)


async def test_remaining_zero_with_delta_reset_pauses_until_reset(clock):
    b = bucket(clock)
    assert b.observe_headers({"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "6"}) == 6
    assert b.paused_for == pytest.approx(6)


async def test_remaining_zero_with_epoch_reset_uses_wall_clock(clock):
    b = bucket(clock, wall=lambda: 1_700_000_000.0)
    pause = b.observe_headers({"x-ratelimit-remaining": "0", "x-ratelimit-reset": "1700000009"})
    assert pause == pytest.approx(9)


async def test_remaining_above_zero_changes_nothing(clock):
    b = bucket(clock)
    assert b.observe_headers({"X-RateLimit-Remaining": "17", "X-RateLimit-Reset": "6"}) is None
    assert b.paused_for == 0
    assert await b.acquire() == 0


async def test_unlimited_rate_never_waits_unless_penalised(clock):
    b = TokenBucket(0, 1, clock=clock, sleep=clock.sleep)
    assert [await b.acquire() for _ in range(100)] == [0] * 100
    b.penalise(2)
    assert await b.acquire() == pytest.approx(2)


def test_invalid_configuration_is_refused():
    with pytest.raises(ValueError, match="burst"):
        TokenBucket(1, 0)
    with pytest.raises(ValueError, match="rate_per_s"):
        TokenBucket(-1, 1)


def test_zendesk_spelling_of_the_remaining_header_pauses_too() -> None:
    from pipeline.resilience.ratelimit import TokenBucket

    bucket = TokenBucket(5, 5, clock=lambda: 0.0, wall_clock=lambda: 1_000.0)
    assert bucket.observe_headers({"X-Rate-Limit-Remaining": "1"}) is None
    # window used up, no reset header: one token's worth of pause (1 / 5 req/s)
    assert bucket.observe_headers({"X-Rate-Limit-Remaining": "0"}) == pytest.approx(0.2)
