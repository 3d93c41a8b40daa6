import asyncio

import pytest

from pipeline.sinks.scheduler import KeyOrderedScheduler


async def test_same_key_in_order_and_keys_concurrent_up_to_limit() -> None:
    errors: list[BaseException] = []
    sched = KeyOrderedScheduler(max_in_flight=3, on_error=errors.append)
    order: dict[str, list[int]] = {}
    running = 0
    peak = 0
    per_key_running: dict[str, int] = {}

    def job(key: str, i: int):  # type: ignore[no-untyped-def]
        async def run() -> None:
            nonlocal running, peak
            running += 1
            per_key_running[key] = per_key_running.get(key, 0) + 1
            assert per_key_running[key] == 1, "two jobs of one key ran at once"
            peak = max(peak, running)
            await asyncio.sleep(0.001 * ((i * 7) % 5))
            order.setdefault(key, []).append(i)
            per_key_running[key] -= 1
            running -= 1

        return run

    for i in range(20):
        for key in "abcdef":
            sched.submit(key, ("t", 0), job(key, i))
    await asyncio.wait_for(sched.wait_idle(), 10)
    assert errors == []
    assert all(order[k] == list(range(20)) for k in "abcdef")
    assert peak == 3


async def test_drop_cancels_running_and_forgets_queued_of_a_tag() -> None:
    sched = KeyOrderedScheduler(max_in_flight=2, on_error=lambda e: None)
    finished: list[str] = []
    started = asyncio.Event()

    async def slow() -> None:
        started.set()
        await asyncio.sleep(10)
        finished.append("slow")

    async def quick(name: str) -> None:
        finished.append(name)

    sched.submit("k", "revoked", slow)
    sched.submit("k", "revoked", lambda: quick("dropped"))
    sched.submit("k", "kept", lambda: quick("kept"))
    await started.wait()
    assert sched.drop({"revoked"}) == 2
    await asyncio.wait_for(sched.wait_idle(), 5)
    assert finished == ["kept"]


async def test_job_errors_are_reported_and_lane_continues() -> None:
    errors: list[BaseException] = []
    sched = KeyOrderedScheduler(max_in_flight=1, on_error=errors.append)
    done: list[int] = []

    async def boom() -> None:
        raise ValueError("bad")

    async def ok() -> None:
        done.append(1)

    sched.submit("k", 0, boom)
    sched.submit("k", 0, ok)
    await asyncio.wait_for(sched.wait_idle(), 5)
    assert [type(e) for e in errors] == [ValueError]
    assert done == [1]


def test_max_in_flight_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_in_flight"):
        KeyOrderedScheduler(0, on_error=lambda e: None)


async def test_pending_counts_queued_and_running_jobs_per_tag() -> None:
    sched = KeyOrderedScheduler(max_in_flight=1, on_error=lambda e: None)
    gate = asyncio.Event()

    async def wait_gate() -> None:
        await gate.wait()

    sched.submit("a", "p0", wait_gate)
    sched.submit("b", "p1", wait_gate)
    sched.submit("a", "p0", wait_gate)
    await asyncio.sleep(0)
    assert sched.pending({"p0"}) == 2 and sched.pending({"p1"}) == 1
    assert sched.clear_queued() == 2
    assert sched.pending({"p0", "p1"}) == 1
    gate.set()
    await asyncio.wait_for(sched.wait_idle(), 5)
    assert sched.pending({"p0", "p1"}) == 0


async def test_waiting_keys_get_a_turn_between_jobs_of_a_busy_key() -> None:
    sched = KeyOrderedScheduler(max_in_flight=1, on_error=lambda e: None)
    ran: list[str] = []

    def job(name: str):  # type: ignore[no-untyped-def]
        async def run() -> None:
            await asyncio.sleep(0)
            ran.append(name)

        return run

    for i in range(3):
        sched.submit("a", 0, job(f"a{i}"))
    sched.submit("b", 0, job("b0"))
    sched.submit("c", 0, job("c0"))
    await asyncio.wait_for(sched.wait_idle(), 5)
    assert ran == ["a0", "b0", "c0", "a1", "a2"]


def gated_job(ran: list[str], name: str, gate: asyncio.Event | None = None):  # type: ignore[no-untyped-def]
    """A job that records its start; with ``gate`` it returns a settle waiting for it."""

    async def settle() -> None:
        assert gate is not None
        await gate.wait()
        ran.append(f"{name} settled")

    async def run():  # type: ignore[no-untyped-def]
        ran.append(name)
        return settle() if gate is not None else None

    return run


async def test_a_settling_key_frees_its_slot_but_not_its_key() -> None:
    sched = KeyOrderedScheduler(max_in_flight=1, on_error=lambda e: None)
    ran: list[str] = []
    ack = asyncio.Event()
    sched.submit("a", 0, gated_job(ran, "a1", ack))
    sched.submit("a", 0, gated_job(ran, "a2"))
    sched.submit("b", 0, gated_job(ran, "b1"))
    for _ in range(20):
        await asyncio.sleep(0)
    # the one slot served "b" while "a" waited for its acknowledgement; "a2" did not start
    assert ran == ["a1", "b1"]
    assert sched.settling == 1 and sched.active_lanes == 0 and sched.pending({0}) == 2
    assert not sched._idle.is_set()
    ack.set()
    await asyncio.wait_for(sched.wait_idle(), 5)
    assert ran == ["a1", "b1", "a1 settled", "a2"]
    assert sched.settling == 0


async def test_beyond_max_in_flight_settling_keys_a_job_settles_in_its_slot() -> None:
    sched = KeyOrderedScheduler(max_in_flight=1, on_error=lambda e: None)
    ran: list[str] = []
    first, second = asyncio.Event(), asyncio.Event()
    sched.submit("a", 0, gated_job(ran, "a1", first))
    sched.submit("b", 0, gated_job(ran, "b1", second))
    sched.submit("c", 0, gated_job(ran, "c1"))
    for _ in range(20):
        await asyncio.sleep(0)
    # "a" settles apart (1 = max_in_flight); "b" has to settle holding the slot: "c" waits
    assert ran == ["a1", "b1"]
    assert sched.settling == 1 and sched.active_lanes == 1
    second.set()
    for _ in range(20):
        await asyncio.sleep(0)
    assert ran == ["a1", "b1", "b1 settled", "c1"]
    first.set()
    await asyncio.wait_for(sched.wait_idle(), 5)
    assert ran[-1] == "a1 settled"


async def test_drop_cancels_a_settle_and_a_failed_settle_is_reported() -> None:
    errors: list[BaseException] = []
    sched = KeyOrderedScheduler(max_in_flight=2, on_error=errors.append)
    ran: list[str] = []
    never = asyncio.Event()

    async def failing_settle() -> None:
        raise RuntimeError("ledger broke")

    async def failing():  # type: ignore[no-untyped-def]
        return failing_settle()

    sched.submit("a", "revoked", gated_job(ran, "a1", never))
    sched.submit("b", "kept", failing)
    for _ in range(20):
        await asyncio.sleep(0)
    assert sched.drop({"revoked"}) == 1
    await asyncio.wait_for(sched.wait_idle(), 5)
    assert ran == ["a1"]  # never settled: cancelled
    assert [str(e) for e in errors] == ["ledger broke"]
