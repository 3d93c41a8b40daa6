"""The sink runtime: consume ``sync.<target>`` and ``sync.<target>.retry``, deliver in
per-key order with cross-key concurrency, retry without blocking, dead-letter, commit safely.

Design (threads and tasks):

- ``ConsumerThread`` owns the confluent-kafka Consumer (group ``voicebus-sink-<target>``,
  range assignor so partition *i* of the main and the retry topic land on the same member).
  It fetches, pauses/resumes by reason, commits the lowest unfinished offset per partition
  (``OffsetTracker``) every ``commit_interval_s`` and on revoke, and measures lag.
- The asyncio loop runs the delivery: records of the main topic go straight to the
  ``KeyOrderedScheduler``; records of the retry topic wait in a per-partition delay queue
  until their ``vb-not-before`` (the partition is paused meanwhile, nothing sleeps), then go
  to the scheduler too.  Each job is ``RecordProcessor.process`` (decode, barrier, deliver,
  route the outcome); the offset is marked finished once the record's ledger entries are
  acknowledged, which happens after its slot was handed to another key (its own key stays
  reserved until then, see ``ledger_writes.py``).
- Rebalance: on revoke the consumer thread asks the loop to finish the revoked partitions'
  in-flight records (bounded by ``revoke_timeout_s``), drops the rest, then commits what
  finished.  On assign it reloads the barrier book and lets the ledger catch up.
- Circuit breaker: while the Deliverer's breaker is open every partition is paused (nothing
  fetched, no retry budget spent); half-open/closed resumes.
- Drain (``stop()``): stop fetching, finish in-flight records up to ``drain_timeout_s``,
  commit, close.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from collections import deque
from collections.abc import Awaitable, Sequence
from typing import Any

from confluent_kafka import Message

from connectors.base.connector import SyncRecord
from pipeline import headers as H
from pipeline.config import Settings
from pipeline.observability import SinkMetrics
from pipeline.sinks import gauges
from pipeline.sinks.barriers import BarrierBook
from pipeline.sinks.batching import Batcher
from pipeline.sinks.consumer import TP, ConsumerThread
from pipeline.sinks.forwarding import AsyncProducer, headers_to_dict
from pipeline.sinks.offsets import OffsetTracker
from pipeline.sinks.predecode import Predecoded, start_batch_decode
from pipeline.sinks.processing import RecordProcessor
from pipeline.sinks.records import DecodeFn, OutcomeLike, SinkTopics, record_key
from pipeline.sinks.scheduler import KeyOrderedScheduler
from pipeline.sinks.settings import DeliveryMode, SinkSettings
from pipeline.sinks.topics import ensure_sink_topics

log = logging.getLogger(__name__)


def group_id(target: str) -> str:
    return f"voicebus-sink-{target}"


class SinkRuntime:
    """Runs one target's sink until ``stop()``.  ``deliverer`` is a
    ``pipeline.sinks.delivery.Deliverer`` (anything with ``deliver_record`` /
    ``deliver_batch`` and optionally ``resilience.breaker`` and ``ledger.catch_up``)."""

    def __init__(
        self,
        target: str,
        deliverer: Any,
        *,
        settings: Settings,
        sink: SinkSettings | None = None,
        decode: DecodeFn | None = None,
        connector_name: str | None = None,
        connector_version: str = "0.1.0",
        metrics_: SinkMetrics | None = None,
    ) -> None:
        self.target = target
        self.deliverer = deliverer
        self.settings = settings
        self.sink = sink or SinkSettings.for_target(target)
        self.topics = SinkTopics.for_target(target)
        self.metrics = metrics_ or getattr(deliverer, "metrics", None) or SinkMetrics(target)
        if decode is None:
            from pipeline.serde import AvroCodec

            decode = AvroCodec(settings, auto_register=False).decode
        self._decode = decode
        self._connector_name = connector_name or target
        self._connector_version = connector_version
        self.tracker = OffsetTracker()
        self._stop = asyncio.Event()
        self._delay: dict[TP, deque[Message]] = {}
        self._delay_timers: dict[TP, asyncio.TimerHandle] = {}
        self._revoked: set[TP] = set()
        self.consumer: ConsumerThread | None = None
        self.processor: RecordProcessor | None = None
        self.scheduler: KeyOrderedScheduler | None = None
        self._batcher: Batcher[tuple[SyncRecord, int], OutcomeLike] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.started = asyncio.Event()

    # ---- public ------------------------------------------------------------------------
    def stop(self) -> None:
        """Begin the drain (safe from signal handlers on the loop)."""
        self._stop.set()

    async def run(self) -> None:
        """Consume and deliver until ``stop()``; then drain, commit and close."""
        await asyncio.to_thread(ensure_sink_topics, self.settings, self.topics, self.sink)
        producer = AsyncProducer(self.settings.producer_conf())
        try:
            barriers = BarrierBook(self.target, self.sink.barrier_topic, producer)
            await asyncio.to_thread(barriers.load, self.settings)
            await self._consume(producer, barriers)
        finally:
            await asyncio.to_thread(producer.close)
            log.info("sink %s stopped", self.target)

    async def _consume(self, producer: AsyncProducer, barriers: BarrierBook) -> None:
        loop = self._loop = asyncio.get_running_loop()
        self.scheduler = KeyOrderedScheduler(self.sink.max_in_flight, self._job_failed)
        if self.sink.mode is DeliveryMode.BATCH:
            self._batcher = Batcher(
                self._deliver_batch, self.sink.batch_size, self.sink.batch_linger_s
            )
        conf = self.settings.consumer_conf(
            group_id(self.target),
            **{"partition.assignment.strategy": "range", **self.sink.consumer_overrides},
        )
        self.consumer = ConsumerThread(
            conf,
            [self.topics.main, self.topics.retry],
            self.tracker,
            loop,
            on_messages=self._on_messages,
            on_assigned=lambda tps: self._on_assigned(tps, barriers),
            on_revoked=self._on_revoked,
            max_buffered=self.sink.max_buffered,
            commit_interval_s=self.sink.commit_interval_s,
            lag_interval_s=self.sink.lag_interval_s,
        )
        self.processor = RecordProcessor(
            target=self.target,
            connector=self._connector_name,
            connector_version=self._connector_version,
            topics=self.topics,
            sink=self.sink,
            deliver=self._deliver,
            decode=self._decode,
            producer=producer,
            barriers=barriers,
            pauser=self.consumer,
            metrics_=self.metrics,
        )
        gauges.register(self)
        _tune_gc_for_streaming()
        self.consumer.start()
        watcher = loop.create_task(self._watch_circuit())
        self.started.set()
        log.info("sink %s running (group %s)", self.target, group_id(self.target))
        try:
            while not self._stop.is_set():
                if self.consumer.fatal is not None:
                    raise RuntimeError(f"sink {self.target}: consumer failed") from (
                        self.consumer.fatal
                    )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), timeout=0.5)
        finally:
            watcher.cancel()
            await self._drain()
            await asyncio.to_thread(self.consumer.close)

    # ---- delivery ----------------------------------------------------------------------
    async def _deliver(self, record: SyncRecord, prior_attempts: int) -> OutcomeLike:
        if self._batcher is not None:
            return await self._batcher.submit((record, prior_attempts))
        outcome: OutcomeLike = await self.deliverer.deliver_record(
            record, prior_attempts=prior_attempts, defer_ledger_writes=True
        )
        return outcome

    async def _deliver_batch(
        self, items: Sequence[tuple[SyncRecord, int]]
    ) -> Sequence[OutcomeLike]:
        outcomes: Sequence[OutcomeLike] = await self.deliverer.deliver_batch(
            [record for record, _ in items], prior_attempts=[prior for _, prior in items]
        )
        return outcomes

    # ---- records in ------------------------------------------------------------------------
    def _on_messages(self, messages: list[Message]) -> None:
        fresh: list[Message] = []
        for msg in messages:
            tp = (msg.topic() or "", msg.partition() or 0)
            if tp in self._revoked:
                continue
            if tp[0] == self.topics.retry:
                self._delay.setdefault(tp, deque()).append(msg)
                self._pump(tp)
            else:
                fresh.append(msg)
        if fresh:  # decoded in one worker call while they wait for their turn
            values = [msg.value() for msg in fresh]
            for msg, predecoded in zip(
                fresh, start_batch_decode(self._decode, values), strict=True
            ):
                self._dispatch(msg, predecoded)

    def _dispatch(self, msg: Message, predecoded: Predecoded | None = None) -> None:
        assert self.scheduler is not None and self.processor is not None
        tp = (msg.topic() or "", msg.partition() or 0)
        processor = self.processor

        async def job() -> Awaitable[None] | None:
            settle = await processor.process_safely(msg, predecoded)
            if settle is None:
                self.tracker.done(tp[0], tp[1], msg.offset() or 0)
                return None
            return finish(settle)

        async def finish(settle: Awaitable[None]) -> None:
            # the slot already serves another key; this key and this offset wait here
            await settle
            self.tracker.done(tp[0], tp[1], msg.offset() or 0)

        self.scheduler.submit(record_key(msg), tp, job)

    def _pump(self, tp: TP) -> None:
        """Release due retry records of one partition, in order; pause it while the head
        is not due yet and come back when it is."""
        assert self._loop is not None and self.consumer is not None
        timer = self._delay_timers.pop(tp, None)
        if timer is not None:
            timer.cancel()
        queue = self._delay.get(tp)
        now_ms = int(time.time() * 1000)
        while queue:
            due = _not_before_ms(queue[0])
            if due > now_ms:
                self.consumer.set_pause("not-before", True, tp)
                self._delay_timers[tp] = self._loop.call_later(
                    (due - now_ms) / 1000.0, self._pump, tp
                )
                return
            self._dispatch(queue.popleft())
        self.consumer.set_pause("not-before", False, tp)

    def _job_failed(self, exc: BaseException) -> None:
        """Only reached if ``process_safely`` itself fails: the offset stays unfinished (no
        commit passes it) and the record is read again after a restart."""
        log.error("sink %s: record handling failed: %r", self.target, exc, exc_info=exc)

    # ---- rebalance (called on the consumer thread) ----------------------------------------
    def _on_assigned(self, tps: list[TP], barriers: BarrierBook) -> None:
        assert self._loop is not None
        for tp in tps:
            self._revoked.discard(tp)
        barriers.load(self.settings)
        catch_up = getattr(getattr(self.deliverer, "ledger", None), "catch_up", None)
        if catch_up is not None:
            asyncio.run_coroutine_threadsafe(catch_up(), self._loop).result(timeout=60)

    def _on_revoked(self, tps: list[TP]) -> None:
        assert self._loop is not None
        future = asyncio.run_coroutine_threadsafe(self._quiesce(tps), self._loop)
        try:
            future.result(timeout=self.sink.revoke_timeout_s + 5)
        except TimeoutError:
            log.warning("sink %s: revoke wait timed out for %s", self.target, tps)

    async def _quiesce(self, tps: list[TP]) -> None:
        """Let in-flight records of revoked partitions finish (bounded), drop the rest."""
        assert self.scheduler is not None
        self._revoked.update(tps)
        for tp in tps:
            self._delay.pop(tp, None)
            timer = self._delay_timers.pop(tp, None)
            if timer is not None:
                timer.cancel()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.sink.revoke_timeout_s
        dropped = self.scheduler.drop(set(tps), cancel_running=False)  # not started: drop
        while self.scheduler.pending(set(tps)) and loop.time() < deadline:
            await asyncio.sleep(0.02)
        dropped += self.scheduler.drop(set(tps))
        if dropped:
            log.info(
                "sink %s: %d records of revoked %s left for the new owner",
                self.target,
                dropped,
                tps,
            )

    # ---- drain and circuit ---------------------------------------------------------------
    async def _drain(self) -> None:
        if self.consumer is None or self.scheduler is None:
            return
        self.consumer.stop_fetching()
        for timer in self._delay_timers.values():
            timer.cancel()
        self._delay.clear()
        dropped = self.scheduler.clear_queued()
        log.info(
            "sink %s: draining %d in-flight records (%d queued left for later)",
            self.target,
            self.scheduler.active_lanes,
            dropped,
        )
        try:
            await asyncio.wait_for(self._wait_in_flight(), timeout=self.sink.drain_timeout_s)
        except TimeoutError:
            log.warning(
                "sink %s: drain timeout; unfinished records will be read again", self.target
            )
        await self.scheduler.aclose()
        if self._batcher is not None:
            await self._batcher.aclose()

    async def _wait_in_flight(self) -> None:
        assert self.scheduler is not None
        while self.scheduler.active_lanes or self.scheduler.queued or self.scheduler.settling:
            await asyncio.sleep(0.02)

    async def _watch_circuit(self) -> None:
        breaker = getattr(getattr(self.deliverer, "resilience", None), "breaker", None)
        if breaker is None or self.consumer is None:
            return
        was_open = False
        while True:
            is_open = str(breaker.state) in ("open", "CircuitState.OPEN")
            if is_open != was_open:
                self.consumer.set_pause("circuit", is_open)
                log.warning(
                    "sink %s: circuit %s, consumption %s",
                    self.target,
                    "open" if is_open else "closing",
                    "paused" if is_open else "resumed",
                )
                was_open = is_open
            await asyncio.sleep(self.sink.circuit_check_s)

    def lag_by_partition(self) -> dict[TP, int]:
        """Records behind per assigned partition (high watermark - committed position)."""
        return dict(self.consumer.lag) if self.consumer is not None else {}

    def paused_count(self) -> int:
        return len(self.consumer.paused_partitions()) if self.consumer is not None else 0


#: young-generation threshold while streaming (CPython's default is 700)
GC_YOUNG_THRESHOLD = 10_000


def _tune_gc_for_streaming() -> None:
    """Keep the cyclic garbage collector from stalling the event loop.

    - Everything alive after start-up (modules, schemas, the loaded ledger and barrier
      book) lives as long as the process: ``gc.freeze()`` takes it out of the collector's
      way; a full collection that rescanned it stopped the loop for ~65 ms twice per 1,000
      records (bench/sinks.py), stalling every delivery in flight.  Collect first so no
      garbage is frozen.
    - Each record in flight holds ~100 container objects for ~50 ms; with the default
      young threshold (700) they outlived several young collections and were promoted and
      rescanned: ~100 ms of collector time per 1,000 records.  At 10,000 most of them die
      (reference counting) before a young collection sees them.  Memory is freed by
      reference counting as before; only cyclic garbage waits a little longer."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, middle, old)


def _not_before_ms(msg: Message) -> int:
    value = headers_to_dict(msg.headers()).get(H.NOT_BEFORE)
    try:
        return int(value) if value else 0
    except ValueError:
        return 0
