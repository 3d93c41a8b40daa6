from __future__ import annotations

from pipeline.resilience.circuit import CircuitBreaker, CircuitState


def breaker(clock, changes=None):
    return CircuitBreaker(
        failure_threshold=3,
        window_s=10,
        reset_timeout_s=5,
        clock=clock,
        on_state_change=(lambda old, new: changes.append((old, new)))
        if changes is not None
        else None,
    )


def test_opens_after_threshold_failures_within_window(clock):
    changes = []
    b = breaker(clock, changes)
    b.record_failure()
    b.record_failure()
    assert b.state is CircuitState.CLOSED
    b.record_failure()
    assert b.state is CircuitState.OPEN
    assert not b.allow()
    assert changes == [(CircuitState.CLOSED, CircuitState.OPEN)]


def test_failures_outside_the_window_do_not_add_up(clock):
    b = breaker(clock)
    b.record_failure()
    b.record_failure()
    clock.advance(11)
    b.record_failure()
    assert b.state is CircuitState.CLOSED


def test_success_resets_the_failure_count(clock):
    b = breaker(clock)
    b.record_failure()
    b.record_failure()
    b.record_success()
    b.record_failure()
    b.record_failure()
    assert b.state is CircuitState.CLOSED


def test_half_open_after_reset_timeout_lets_exactly_one_probe(clock):
    b = breaker(clock)
    for _ in range(3):
        b.record_failure()
    clock.advance(4.9)
    assert b.state is CircuitState.OPEN
    assert abs(b.seconds_until_half_open() - 0.1) < 1e-9
    clock.advance(0.1)
    assert b.state is CircuitState.HALF_OPEN
    assert b.allow() is True
    assert b.allow() is False  # second caller waits for the probe


def test_probe_success_closes(clock):
    changes = []
    b = breaker(clock, changes)
    for _ in range(3):
        b.record_failure()
    clock.advance(5)
    assert b.allow()
    b.record_success()
    assert b.state is CircuitState.CLOSED
    assert b.allow() and b.allow()
    assert changes == [
        (CircuitState.CLOSED, CircuitState.OPEN),
        (CircuitState.OPEN, CircuitState.HALF_OPEN),
        (CircuitState.HALF_OPEN, CircuitState.CLOSED),
    ]


def test_probe_failure_reopens_and_restarts_the_timer(clock):
    b = breaker(clock)
    for _ in range(3):
        b.record_failure()
    clock.advance(5)
    assert b.allow()
    b.record_failure()
    assert b.state is CircuitState.OPEN
    clock.advance(4)
    assert b.state is CircuitState.OPEN
    clock.advance(1)
    assert b.state is CircuitState.HALF_OPEN


def test_neutral_outcome_frees_the_probe_slot(clock):
    b = breaker(clock)
    for _ in range(3):
        b.record_failure()
    clock.advance(5)
    assert b.allow()
    b.record_neutral()  # e.g. the probe was throttled
    assert b.state is CircuitState.HALF_OPEN
    assert b.allow()


async def test_wait_until_allowed_sleeps_until_half_open(clock):
    b = breaker(clock)
    for _ in range(3):
        b.record_failure()
    clock.advance(2)
    waited = await b.wait_until_allowed(clock.sleep)
    assert waited == 3
    assert b.state is CircuitState.HALF_OPEN
