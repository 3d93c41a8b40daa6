"""SequenceGuard.check_tails: records at the end of a partition that faust never delivered
are found (high watermark beyond the next expected offset, seen by two checks in a row) and
processed in order; nothing is read while faust is still delivering, during a rebalance or
recovery, or for partitions this worker does not own.  Stand-ins for the faust app and the
direct reader record what the guard asks of them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pipeline.config import Settings
from pipeline.processors.offsets import FetchedRecord, SequenceGuard, missing_tails
from tests.unit.processors.test_commit_gate import TP, TP0, TP1, Message, StandIn

OTHER = TP("crm.contacts", 0)


@dataclass
class Consumer:
    _committed_offset: dict[TP, int] = field(default_factory=dict)
    assigned: set[TP] = field(default_factory=lambda: {TP0, TP1, OTHER})
    ends: dict[TP, int] = field(default_factory=dict)
    watermark_requests: list[tuple[TP, ...]] = field(default_factory=list)

    def assignment(self) -> set[TP]:
        return set(self.assigned)

    async def highwaters(self, *tps: TP) -> dict[TP, int]:
        self.watermark_requests.append(tuple(sorted(tps)))
        return {tp: self.ends.get(tp, 0) for tp in tps}


@dataclass
class App:
    consumer: Consumer = field(default_factory=Consumer)
    rebalancing: bool = False
    in_recovery: bool = False
    consumer_generation_id: int = 1


class Reader:
    """The direct reader: every offset exists; records the ranges asked for."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.calls: list[tuple[str, int, int, int]] = []
        self.on_read: Any = None

    def __call__(
        self, settings: Settings, topic: str, partition: int, start: int, end: int
    ) -> list[FetchedRecord]:
        self.calls.append((topic, partition, start, end))
        if self.on_read is not None:
            self.on_read()
        return [FetchedRecord(topic, partition, o, b"k", b"v", []) for o in range(start, end)]


def _guard(quiet_s: float = 0.0) -> tuple[SequenceGuard, StandIn, App, Reader]:
    processors = StandIn()
    app = App()
    processors.app = app  # type: ignore[assignment]
    reader = Reader(app)
    guard = SequenceGuard(
        processors, Settings(), topics=[TP0.topic], quiet_s=quiet_s, reader=reader
    )
    return guard, processors, app, reader


def test_missing_tails_are_the_offsets_below_the_high_watermark_not_processed_yet() -> None:
    expected = {TP0: 5, TP1: 3, OTHER: 9}
    assert missing_tails(expected, {TP0: 8, TP1: 3, OTHER: 4}) == {TP0: (5, 8)}
    assert missing_tails(expected, {}) == {}


async def test_an_undelivered_tail_is_processed_in_order_once_two_checks_saw_it() -> None:
    guard, procs, app, reader = _guard()
    await guard.handle_batch([Message(TP0, 0), Message(TP0, 1)])
    app.consumer.ends = {TP0: 4, TP1: 0}
    assert await guard.check_tails() == 0  # first sighting: faust may still deliver it
    assert reader.calls == []
    assert await guard.check_tails() == 2
    assert reader.calls == [(TP0.topic, 0, 2, 4)]
    assert procs.processed == [(0, 0), (0, 1), (0, 2), (0, 3)]
    assert guard.filled == 2
    # faust delivering them late changes nothing; the next record follows on
    await guard.handle_batch([Message(TP0, 2), Message(TP0, 3), Message(TP0, 4)])
    assert procs.processed[-1] == (0, 4) and len(procs.processed) == 5
    for offset in range(5):
        procs.deliver(0, offset)
    assert guard.committable() == {TP0: 5}
    assert await guard.check_tails() == 0  # nothing missing any more


async def test_records_faust_delivers_between_two_checks_are_not_read_again() -> None:
    guard, procs, app, reader = _guard()
    await guard.handle_batch([Message(TP0, 0)])
    app.consumer.ends = {TP0: 3}
    assert await guard.check_tails() == 0
    await guard.handle_batch([Message(TP0, 1), Message(TP0, 2)])
    assert await guard.check_tails() == 0
    assert await guard.check_tails() == 0
    assert reader.calls == []
    assert procs.processed == [(0, 0), (0, 1), (0, 2)]


async def test_a_partition_without_records_this_generation_starts_from_its_commit() -> None:
    guard, procs, app, reader = _guard()
    app.consumer._committed_offset[TP1] = 5
    app.consumer.ends = {TP0: 0, TP1: 7}
    for _ in range(3):  # new in the generation, then two sightings
        await guard.check_tails()
    assert reader.calls == [(TP0.topic, 1, 5, 7)]
    assert procs.processed == [(1, 5), (1, 6)]


async def test_partitions_with_recent_progress_are_not_checked() -> None:
    guard, procs, app, reader = _guard(quiet_s=3600)
    await guard.handle_batch([Message(TP0, 0)])
    app.consumer.ends = {TP0: 5, TP1: 5}
    for _ in range(3):
        assert await guard.check_tails() == 0
    assert app.consumer.watermark_requests == []
    assert reader.calls == []


async def test_nothing_is_read_during_a_rebalance_or_recovery_or_for_other_topics() -> None:
    guard, procs, app, reader = _guard()
    app.consumer.assigned = {OTHER}
    app.consumer.ends = {OTHER: 9}
    for _ in range(3):
        assert await guard.check_tails() == 0
    app.consumer.assigned = {TP0}
    app.consumer.ends = {TP0: 2}
    app.rebalancing = True
    for _ in range(3):
        assert await guard.check_tails() == 0
    app.rebalancing, app.in_recovery = False, True
    for _ in range(3):
        assert await guard.check_tails() == 0
    assert reader.calls == [] and procs.processed == []


async def test_a_tail_read_across_a_generation_change_is_not_processed() -> None:
    guard, procs, app, reader = _guard()
    app.consumer.assigned = {TP0}
    app.consumer.ends = {TP0: 2}
    await guard.check_tails()
    await guard.check_tails()  # first sighting

    def rebalance() -> None:
        app.consumer_generation_id = 2

    reader.on_read = rebalance
    assert await guard.check_tails() == 0
    assert len(reader.calls) == 1
    assert procs.processed == []
    # the new generation starts from the committed offset, so faust's records are processed
    await guard.handle_batch([Message(TP0, 0, generation_id=2), Message(TP0, 1, generation_id=2)])
    assert procs.processed == [(0, 0), (0, 1)]
