"""Offset bookkeeping around faust: priming a new group's offsets and filling the gaps faust
leaves when it skips records around a rebalance, between records and at a partition's tail
(see ``SequenceGuard``)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka.errors import KafkaError
from faust.exceptions import ConsumerNotStarted

from pipeline.config import Settings

__all__ = [
    "FetchedRecord",
    "OutputNotDelivered",
    "SequenceGuard",
    "missing_tails",
    "prime_group_offsets",
    "read_range",
]

log = logging.getLogger(__name__)

#: a partition counts as quiet (candidate for a tail check) after this long without progress
TAIL_QUIET_S = 2.0


@dataclass(frozen=True)
class FetchedRecord:
    """A record read directly (gap fill), shaped like the faust Message fields we use."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes | None]]


class OutputNotDelivered(RuntimeError):
    """A record's output was refused by the broker: its offset must never be committed."""


class SequenceGuard:
    """Make sure no record of a partition is silently skipped, and decide which source offsets
    may be committed.

    faust can drop a record around a rebalance or at start-up: it skips (and acks) records
    fetched under an older consumer generation, and a fetch loop iteration in flight can mark
    offsets as read after the post-rebalance seek, so re-fetched records are dropped as
    already read.  The guard knows the next expected offset of each partition (the committed
    offset at each new generation, then one past each processed record).  A record beyond it
    means records were skipped: the guard reads the missing range itself (a plain consumer
    assigned to that partition) and processes it first, so output order per call holds.
    Records below it in the same generation were processed already and are passed over.

    Tails: faust can also skip the *last* records of a partition (seen after a restart from
    committed offsets); no later record arrives to reveal that gap, so they would never be
    processed nor committed.  ``check_tails`` (run periodically) compares the next expected
    offset of each assigned partition that was quiet for ``quiet_s`` with its high watermark
    and processes a tail that two consecutive checks found missing the same way.  Gap fills,
    tail fills and ``handle_batch`` run one at a time (one lock), so order per partition holds
    and nothing is processed twice.

    Commits: faust's own commit offsets come from its acks, and faust acks records it never
    hands to the stream (fetched under an older generation, or while the flow is suspended),
    before this guard has re-read them; a commit in that window followed by a crash loses
    them.  So for ``topics`` the guard is the commit gate (``faust_support.CommitGate``): the
    consumer commits only ``committable()`` offsets, which pass a record only once it was
    processed in order and every output it sent was acknowledged by the broker.
    """

    def __init__(
        self,
        processors: Any,
        settings: Settings,
        topics: Iterable[str] = (),
        *,
        quiet_s: float = TAIL_QUIET_S,
        reader: Callable[[Settings, str, int, int, int], list[FetchedRecord]] | None = None,
    ) -> None:
        # processors needs .app (faust), async .process_batch(records) and async .flush()
        self.processors = processors
        self.settings = settings
        self.topics = frozenset(topics)
        self.quiet_s = quiet_s
        self._read = reader or read_range
        self._lock = asyncio.Lock()  # handle_batch and check_tails never interleave
        self._expected: dict[Any, tuple[int, int]] = {}  # tp -> (generation, next offset)
        self._quiet_since: dict[Any, tuple[int, float]] = {}  # tp -> (generation, last progress)
        # tp -> (generation, start) of a tail seen missing by the previous check
        self._suspect: dict[Any, tuple[int, int]] = {}
        # tp -> (offset after the record, its output futures), in processing order
        self._outputs: dict[Any, deque[tuple[int, list[asyncio.Future[Any]]]]] = {}
        self._safe: dict[Any, int] = {}  # tp -> highest committable offset
        self.filled = 0

    async def handle(self, message: Any) -> None:
        """Process ``message`` (a faust Message); see ``handle_batch``."""
        await self.handle_batch([message])

    async def handle_batch(self, messages: Sequence[Any]) -> None:
        """Process ``messages`` (faust Messages in the order the stream delivered them) in one
        ``process_batch`` call: those next in their partition, each after any range faust
        skipped before it; records already processed are passed over."""
        async with self._lock:
            admitted: list[tuple[Any, Any]] = []
            for message in messages:
                admitted += await self.admit(message)
            if admitted:
                await self._process(admitted)

    async def _process(self, admitted: Sequence[tuple[Any, Any]]) -> None:
        outputs = await self.processors.process_batch([record for _tp, record in admitted])
        for (tp, record), produced in zip(admitted, outputs, strict=True):
            futures = [asyncio.ensure_future(out) for out in produced or ()]
            self._outputs.setdefault(tp, deque()).append((int(record.offset) + 1, futures))

    def has_pending(self) -> bool:
        """True if some processed record is not committable yet (outputs in flight)."""
        return any(self._outputs.values())

    async def flush(self) -> None:
        """Get a delivery report for every output sent so far (before a commit)."""
        await self.processors.flush()

    def committable(self) -> Mapping[Any, int]:
        """Per partition, the offset below which every record was processed in order and all
        its outputs were acknowledged.  Raises ``OutputNotDelivered`` if an output failed (the
        worker must not commit past it; it stops, and a restart re-processes the record)."""
        for tp, queue in self._outputs.items():
            while queue and all(fut.done() for fut in queue[0][1]):
                next_offset, futures = queue.popleft()
                for fut in futures:
                    if fut.cancelled() or fut.exception() is not None:
                        reason = "cancelled" if fut.cancelled() else repr(fut.exception())
                        queue.appendleft((next_offset, futures))  # stays uncommittable
                        raise OutputNotDelivered(
                            f"{tp.topic}[{tp.partition}]@{next_offset - 1}: an output of this "
                            f"record was not delivered ({reason}); its offset is not committed"
                        )
                self._safe[tp] = max(next_offset, self._safe.get(tp, 0))
        return dict(self._safe)

    async def admit(self, message: Any) -> list[tuple[Any, Any]]:
        """The ``(tp, record)`` pairs to process for ``message``: none if it was processed
        already, else any range faust skipped before it (read directly) and the message."""
        tp, offset, generation = message.tp, int(message.offset), message.generation_id
        expected = self._next_expected(tp, generation)
        if offset < expected:
            return []
        admitted: list[tuple[Any, Any]] = []
        if offset > expected:
            log.warning(
                "%s[%s]: faust skipped offsets %s..%s; reading them directly",
                tp.topic,
                tp.partition,
                expected,
                offset - 1,
            )
            missing = await asyncio.to_thread(
                self._read, self.settings, tp.topic, tp.partition, expected, offset
            )
            admitted += [(tp, record) for record in missing]
            self.filled += len(missing)
        self._advance(tp, generation, offset + 1)
        admitted.append((tp, message))
        return admitted

    def _next_expected(self, tp: Any, generation: int) -> int:
        """The next offset to process in ``tp``: one past the last processed record of this
        generation, else the committed offset (0 without one: the group starts earliest)."""
        known = self._expected.get(tp)
        if known is not None and known[0] == generation:
            return known[1]
        committed = self.processors.app.consumer._committed_offset.get(tp)
        return int(committed) if committed is not None else 0

    def _advance(self, tp: Any, generation: int, next_offset: int) -> None:
        self._expected[tp] = (generation, next_offset)
        self._quiet_since[tp] = (generation, time.monotonic())

    async def check_tails(self) -> int:
        """Process records at the end of assigned partitions that faust did not deliver;
        returns how many.  Only while the consumer is settled (no rebalance or table
        recovery in progress), only for partitions quiet for ``quiet_s``, and nothing read
        is processed if the generation or assignment changed meanwhile."""
        app = self.processors.app
        if app.rebalancing or app.in_recovery:
            return 0
        consumer = app.consumer
        try:
            assigned = {tp for tp in consumer.assignment() if tp.topic in self.topics}
        except ConsumerNotStarted:
            return 0
        generation = app.consumer_generation_id
        now = time.monotonic()
        quiet = []
        for tp in assigned:
            since = self._quiet_since.get(tp)
            if since is None or since[0] != generation:  # new in this generation: wait first
                self._quiet_since[tp] = (generation, now)
            elif now - since[1] >= self.quiet_s:
                quiet.append(tp)
        if not quiet:
            return 0
        try:
            highwaters = await consumer.highwaters(*quiet)
        except (TimeoutError, ConsumerNotStarted, KafkaError) as exc:
            log.info("tail check skipped, high watermarks unavailable: %r", exc)
            return 0
        async with self._lock:
            if app.consumer_generation_id != generation or app.rebalancing:
                return 0
            expected = {tp: self._next_expected(tp, generation) for tp in quiet}
            missing = missing_tails(expected, highwaters)
            confirmed = {
                tp: span
                for tp, span in missing.items()
                if self._suspect.get(tp) == (generation, span[0])
            }
            # act on a tail only when the previous check saw it missing too: records that
            # just arrived are faust's to deliver, not a skip
            self._suspect = {tp: (generation, span[0]) for tp, span in missing.items()}
            tails: list[tuple[Any, list[FetchedRecord]]] = []
            for tp, (start, end) in confirmed.items():
                log.warning(
                    "%s[%s]: faust did not deliver offsets %s..%s at the end of the "
                    "partition; reading them directly",
                    tp.topic,
                    tp.partition,
                    start,
                    end - 1,
                )
                records = await asyncio.to_thread(
                    self._read, self.settings, tp.topic, tp.partition, start, end
                )
                if records:
                    tails.append((tp, records))
            if app.consumer_generation_id != generation or app.rebalancing:
                return 0  # revoked or re-seeked meanwhile: the new generation starts afresh
            admitted = [(tp, record) for tp, records in tails for record in records]
            if not admitted:
                return 0
            for tp, records in tails:
                self._advance(tp, generation, int(records[-1].offset) + 1)
            self.filled += len(admitted)
            await self._process(admitted)
            return len(admitted)


def missing_tails(
    next_expected: Mapping[Any, int], highwaters: Mapping[Any, int]
) -> dict[Any, tuple[int, int]]:
    """Per partition, the offsets ``[start, end)`` that exist (below the high watermark) but
    were not processed yet (at or beyond the next expected offset)."""
    return {
        tp: (start, highwaters[tp])
        for tp, start in next_expected.items()
        if tp in highwaters and highwaters[tp] is not None and highwaters[tp] > start
    }


def read_range(
    settings: Settings, topic: str, partition: int, start: int, end: int
) -> list[FetchedRecord]:
    """Records ``start <= offset < end`` of one partition (offsets that do not exist, such as
    transaction markers, are simply absent)."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer(settings.consumer_conf("voicebus-processors-gap-reader"))
    out: list[FetchedRecord] = []
    try:
        consumer.assign([TopicPartition(topic, partition, start)])
        deadline = time.monotonic() + settings.request_timeout_s
        while time.monotonic() < deadline:
            msg = consumer.poll(0.2)
            if msg is None or msg.error() is not None:
                continue
            offset = int(msg.offset() or 0)
            if offset >= end:
                break
            raw_headers = msg.headers() or []
            pairs = raw_headers.items() if isinstance(raw_headers, dict) else raw_headers
            out.append(
                FetchedRecord(
                    topic,
                    partition,
                    offset,
                    msg.key(),
                    msg.value(),
                    [(k, v.encode() if isinstance(v, str) else v) for k, v in pairs],
                )
            )
            if offset >= end - 1:
                break
    finally:
        consumer.close()
    return out


def prime_group_offsets(settings: Settings, group: str, topic: str) -> int:
    """Commit the earliest offset for every partition of ``topic`` the group has no committed
    offset for; returns how many were primed.

    Why: faust drops the first record it fetched from a partition when a rebalance or the
    start-up recovery suspends the flow while that record is being handed to the stream (it
    marks the offset read although the hand-over was cancelled).  After the rebalance it seeks
    back to the committed offset, which repairs this, except for a partition without any
    commit: there the record is lost.  With a committed offset on every partition the
    re-seek always covers it.  The group starts from the earliest offset either way
    (``consumer_auto_offset_reset=earliest``); this only makes that explicit.
    """
    from confluent_kafka import Consumer, KafkaException, TopicPartition

    consumer = Consumer(settings.consumer_conf(group))
    try:
        meta = consumer.list_topics(topic, timeout=settings.request_timeout_s).topics[topic]
        tps = [TopicPartition(topic, p) for p in sorted(meta.partitions)]
        committed = consumer.committed(tps, timeout=settings.request_timeout_s)
        missing = [tp for tp in committed if tp.offset < 0]
        if not missing:
            return 0
        primed = []
        for tp in missing:
            low, _high = consumer.get_watermark_offsets(tp, timeout=settings.request_timeout_s)
            primed.append(TopicPartition(topic, tp.partition, max(0, low)))
        try:
            consumer.commit(offsets=primed, asynchronous=False)
        except KafkaException as exc:  # e.g. the group is active: its members commit
            log.warning("could not prime offsets of group %s on %s: %s", group, topic, exc)
            return 0
        return len(primed)
    finally:
        consumer.close()
