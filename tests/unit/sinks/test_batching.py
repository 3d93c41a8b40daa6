import asyncio
from collections.abc import Sequence

from pipeline.sinks.batching import Batcher


async def test_batches_fill_to_size_and_each_caller_gets_its_result() -> None:
    calls: list[list[int]] = []

    async def deliver(items: Sequence[int]) -> list[str]:
        calls.append(list(items))
        return [f"r{i}" for i in items]

    batcher: Batcher[int, str] = Batcher(deliver, batch_size=4, linger_s=5.0)
    results = await asyncio.wait_for(asyncio.gather(*(batcher.submit(i) for i in range(8))), 2)
    assert results == [f"r{i}" for i in range(8)]
    assert calls == [[0, 1, 2, 3], [4, 5, 6, 7]]


async def test_linger_sends_a_partial_batch() -> None:
    calls: list[list[int]] = []

    async def deliver(items: Sequence[int]) -> list[int]:
        calls.append(list(items))
        return list(items)

    batcher: Batcher[int, int] = Batcher(deliver, batch_size=100, linger_s=0.01)
    assert await asyncio.wait_for(asyncio.gather(batcher.submit(1), batcher.submit(2)), 2) == [1, 2]
    assert calls == [[1, 2]]


async def test_wrong_outcome_count_fails_every_caller() -> None:
    async def deliver(items: Sequence[int]) -> list[int]:
        return [1]

    batcher: Batcher[int, int] = Batcher(deliver, batch_size=2, linger_s=1)
    results = await asyncio.gather(batcher.submit(1), batcher.submit(2), return_exceptions=True)
    assert all(isinstance(r, RuntimeError) and "2 records" in str(r) for r in results)
