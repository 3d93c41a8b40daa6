"""SequenceGuard as the commit gate: which source offsets may be committed, and
OutputNotDelivered when an output failed.  A stand-in for Processors records what the guard
hands it and returns futures the test settles."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import pytest
from confluent_kafka import KafkaError

from pipeline.config import Settings
from pipeline.processors.offsets import OutputNotDelivered, SequenceGuard
from pipeline.processors.outputs import _settle


class TP(NamedTuple):
    topic: str
    partition: int


@dataclass
class Message:
    tp: TP
    offset: int
    generation_id: int = 1

    @property
    def partition(self) -> int:
        return self.tp.partition


@dataclass
class Consumer:
    _committed_offset: dict[TP, int] = field(default_factory=dict)


@dataclass
class App:
    consumer: Consumer = field(default_factory=Consumer)


class StandIn:
    """What SequenceGuard needs of Processors: .app, process_batch, flush."""

    def __init__(self) -> None:
        self.app = App()
        self.processed: list[tuple[int, int]] = []  # (partition, offset)
        self.outputs: dict[tuple[int, int], list[asyncio.Future[None]]] = {}
        self.flushed = 0
        self.outputs_per_record = 1

    async def process_batch(self, records: Sequence[Any]) -> list[list[asyncio.Future[None]]]:
        loop = asyncio.get_running_loop()
        produced = []
        for record in records:
            key = (record.partition, record.offset)
            self.processed.append(key)
            futures = [loop.create_future() for _ in range(self.outputs_per_record)]
            self.outputs[key] = futures
            produced.append(futures)
        return produced

    async def flush(self) -> None:
        self.flushed += 1

    def deliver(self, partition: int, offset: int) -> None:
        for future in self.outputs[(partition, offset)]:
            future.set_result(None)


TP0, TP1 = TP("voice.call-events", 0), TP("voice.call-events", 1)


def _guard() -> tuple[SequenceGuard, StandIn]:
    processors = StandIn()
    return SequenceGuard(processors, Settings(), topics=["voice.call-events"]), processors


async def test_commits_only_past_records_whose_outputs_were_all_acknowledged() -> None:
    guard, procs = _guard()
    procs.outputs_per_record = 2
    await guard.handle_batch([Message(TP0, 0), Message(TP0, 1), Message(TP0, 2)])
    assert guard.committable() == {}
    assert guard.has_pending()
    procs.deliver(0, 0)
    procs.deliver(0, 2)  # acknowledged, but behind a record that is not
    assert guard.committable() == {TP0: 1}
    procs.outputs[(0, 1)][0].set_result(None)  # one of its two outputs only
    assert guard.committable() == {TP0: 1}
    procs.outputs[(0, 1)][1].set_result(None)
    assert guard.committable() == {TP0: 3}
    assert not guard.has_pending()


async def test_partitions_are_gated_independently_and_records_without_outputs_pass() -> None:
    guard, procs = _guard()
    procs.outputs_per_record = 0  # e.g. a dropped duplicate
    await guard.handle_batch([Message(TP1, 0)])
    procs.outputs_per_record = 1
    await guard.handle_batch([Message(TP0, 0), Message(TP1, 1)])
    assert guard.committable() == {TP1: 1}
    procs.deliver(0, 0)
    assert guard.committable() == {TP0: 1, TP1: 1}
    procs.deliver(1, 1)
    assert guard.committable() == {TP0: 1, TP1: 2}


async def test_a_failed_output_raises_and_its_record_is_never_committed() -> None:
    guard, procs = _guard()
    await guard.handle_batch([Message(TP0, 0), Message(TP0, 1), Message(TP0, 2)])
    procs.deliver(0, 0)
    procs.outputs[(0, 1)][0].set_exception(OutputNotDelivered("broker said no"))
    procs.deliver(0, 2)
    with pytest.raises(OutputNotDelivered) as failed:
        guard.committable()
    assert "voice.call-events[0]@1" in str(failed.value)
    assert "not committed" in str(failed.value)
    # still refused on the next commit attempt, and the offset stays before the record
    with pytest.raises(OutputNotDelivered):
        guard.committable()
    assert guard._safe == {TP0: 1}


async def test_a_cancelled_output_counts_as_not_delivered() -> None:
    guard, procs = _guard()
    await guard.handle_batch([Message(TP0, 0)])
    procs.outputs[(0, 0)][0].cancel()
    with pytest.raises(OutputNotDelivered, match="cancelled"):
        guard.committable()


async def test_records_already_processed_in_this_generation_are_passed_over() -> None:
    guard, procs = _guard()
    procs.app.consumer._committed_offset[TP0] = 5
    await guard.handle_batch([Message(TP0, 5), Message(TP0, 6)])
    await guard.handle_batch([Message(TP0, 5), Message(TP0, 7)])  # 5 re-delivered by faust
    assert procs.processed == [(0, 5), (0, 6), (0, 7)]
    # a new generation starts again from the committed offset
    await guard.handle_batch([Message(TP0, 5, generation_id=2)])
    assert procs.processed[-1] == (0, 5)


async def test_flush_is_delegated_to_the_processors() -> None:
    guard, procs = _guard()
    await guard.flush()
    assert procs.flushed == 1


class _Report:
    def topic(self) -> str:
        return "sync.slack"

    def partition(self) -> int:
        return 3


async def test_a_refused_delivery_report_fails_the_output_future() -> None:
    loop = asyncio.get_running_loop()
    ok, refused = loop.create_future(), loop.create_future()
    _settle(ok, None, _Report())  # type: ignore[arg-type]
    _settle(refused, KafkaError(KafkaError.MSG_SIZE_TOO_LARGE), _Report())  # type: ignore[arg-type]
    assert ok.result() is None
    with pytest.raises(OutputNotDelivered, match=r"sync\.slack\[3\].*MSG_SIZE_TOO_LARGE"):
        refused.result()
