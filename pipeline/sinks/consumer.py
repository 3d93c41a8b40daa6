"""The Kafka side of a sink: one confluent-kafka Consumer, owned by one thread.

librdkafka calls (consume, pause/resume, commit, rebalance callbacks) all happen on this
thread; the asyncio loop never touches the Consumer.  The loop talks to it through
thread-safe state: pause *reasons* (``set_pause``), the shared ``OffsetTracker`` (what is
safe to commit), and blocking hooks the thread calls on rebalance.

Each turn of the thread: apply the wanted pause set, commit if due, refresh lag if due,
``consume`` a batch and hand new records to the loop.  Pausing is by reason so independent
causes (circuit open, auth failure, backpressure, a retry record not due yet, drain) never
undo each other: a partition is fetched only when it has no reason to be paused.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

from pipeline.sinks.offsets import OffsetTracker

log = logging.getLogger(__name__)

TP = tuple[str, int]
ALL = "*"  # pause reasons that apply to every assigned partition are stored under this


class ConsumerThread:
    """Fetch, pause, commit and rebalance on a dedicated thread."""

    def __init__(
        self,
        conf: dict[str, Any],
        topics: list[str],
        tracker: OffsetTracker,
        loop: asyncio.AbstractEventLoop,
        *,
        on_messages: Callable[[list[Message]], None],
        on_assigned: Callable[[list[TP]], None],
        on_revoked: Callable[[list[TP]], None],
        max_buffered: int,
        commit_interval_s: float,
        lag_interval_s: float,
        batch: int = 500,
    ) -> None:
        self._conf = conf
        self._topics = topics
        self._tracker = tracker
        self._loop = loop
        self._on_messages = on_messages
        self._on_assigned = on_assigned
        self._on_revoked = on_revoked
        self._max_buffered = max_buffered
        self._commit_interval_s = commit_interval_s
        self._lag_interval_s = lag_interval_s
        self._batch = batch
        self._lock = threading.Lock()
        self._reasons: dict[TP | str, set[str]] = {}
        self._paused: set[TP] = set()
        self._assigned: set[TP] = set()
        self._fetching = True
        self._closing = threading.Event()
        self._closed = threading.Event()
        self._fatal: BaseException | None = None
        self.lag: dict[TP, int] = {}
        self.assigned_event = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sink-consumer", daemon=True)

    # ---- called from the asyncio loop ------------------------------------------------
    def start(self) -> None:
        self._thread.start()

    def set_pause(self, reason: str, on: bool, tp: TP | None = None) -> None:
        """Add/remove a pause reason for one partition (``tp``) or for all of them."""
        with self._lock:
            reasons = self._reasons.setdefault(ALL if tp is None else tp, set())
            if on:
                reasons.add(reason)
            else:
                reasons.discard(reason)

    def paused_partitions(self) -> set[TP]:
        with self._lock:
            return set(self._paused)

    def assignment(self) -> set[TP]:
        with self._lock:
            return set(self._assigned)

    def stop_fetching(self) -> None:
        """Drain starts: records fetched from now on are not started (not committed)."""
        self._fetching = False
        self.set_pause("drain", True)

    def close(self, timeout_s: float = 30.0) -> None:
        """Final commit of everything finished, then leave the group."""
        self._closing.set()
        if self._thread.is_alive():
            self._thread.join(timeout_s)

    @property
    def fatal(self) -> BaseException | None:
        return self._fatal

    # ---- the consumer thread ---------------------------------------------------------
    def _run(self) -> None:
        consumer = Consumer(self._conf)
        try:
            consumer.subscribe(
                self._topics,
                on_assign=self._assign_cb,
                on_revoke=self._revoke_cb,
                on_lost=self._lost_cb,
            )
            next_commit = next_lag = time.monotonic()
            while not self._closing.is_set():
                self._apply_pauses(consumer)
                now = time.monotonic()
                if now >= next_commit:
                    self._commit(consumer)
                    next_commit = now + self._commit_interval_s
                if now >= next_lag:
                    self._refresh_lag(consumer)
                    next_lag = now + self._lag_interval_s
                room = self._max_buffered - self._tracker.in_flight()
                messages = consumer.consume(max(1, min(self._batch, room)), 0.05)
                fresh: list[Message] = []
                for msg in messages:
                    err = msg.error()
                    if err is not None:
                        if err.code() != KafkaError._PARTITION_EOF:
                            log.warning("consumer error: %s", err.str())
                        continue
                    if not self._fetching:
                        continue  # draining: not started, not committed, read again later
                    if self._tracker.add(
                        msg.topic() or "", msg.partition() or 0, msg.offset() or 0
                    ):
                        fresh.append(msg)
                if fresh:
                    self._loop.call_soon_threadsafe(self._on_messages, fresh)
            self._commit(consumer)
        except BaseException as exc:  # surfaced to the runtime, which stops with it
            log.exception("sink consumer thread failed")
            self._fatal = exc
        finally:
            try:
                consumer.close()
            except (KafkaException, RuntimeError) as exc:
                log.warning("consumer close: %s", exc)
            self._closed.set()

    def _apply_pauses(self, consumer: Consumer) -> None:
        buffered = self._tracker.in_flight()
        if buffered >= self._max_buffered:
            self.set_pause("backpressure", True)
        elif buffered <= self._max_buffered // 2:
            self.set_pause("backpressure", False)
        with self._lock:
            everything = bool(self._reasons.get(ALL))
            wanted = {tp for tp in self._assigned if everything or self._reasons.get(tp)}
            to_pause = wanted - self._paused
            to_resume = (self._paused & self._assigned) - wanted
            self._paused = wanted
        try:
            if to_pause:
                consumer.pause([TopicPartition(t, p) for t, p in to_pause])
            if to_resume:
                consumer.resume([TopicPartition(t, p) for t, p in to_resume])
        except KafkaException as exc:  # e.g. mid-rebalance; retried next turn
            log.warning("pause/resume failed: %s", exc)
            with self._lock:
                self._paused -= to_pause
                self._paused |= to_resume

    def _commit(self, consumer: Consumer, parts: list[TP] | None = None) -> None:
        offsets = self._tracker.to_commit(parts)
        if not offsets:
            return
        try:
            consumer.commit(
                offsets=[TopicPartition(t, p, o) for (t, p), o in offsets.items()],
                asynchronous=False,
            )
        except KafkaException as exc:
            err = exc.args[0] if exc.args else exc
            if getattr(err, "code", lambda: None)() != KafkaError._NO_OFFSET:
                log.warning("commit failed (retried on the next turn): %s", exc)
            return
        self._tracker.mark_committed(offsets)

    def _refresh_lag(self, consumer: Consumer) -> None:
        """Lag per partition from the standard watermark API (high - committed)."""
        for topic, partition in self.assignment():
            try:
                low, high = consumer.get_watermark_offsets(
                    TopicPartition(topic, partition), timeout=1.0, cached=False
                )
            except KafkaException:
                continue
            done = self._tracker.position(topic, partition)
            position = done if done is not None else low
            self.lag[(topic, partition)] = max(0, high - max(position, low))

    def _assign_cb(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        tps = [(tp.topic, tp.partition) for tp in partitions]
        log.info("assigned %s", tps)
        self._on_assigned(tps)
        with self._lock:
            self._assigned |= set(tps)
        self.assigned_event.set()

    def _revoke_cb(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        tps = [(tp.topic, tp.partition) for tp in partitions]
        log.info("revoking %s", tps)
        self._on_revoked(tps)  # waits (bounded) for their in-flight records
        self._commit(consumer, tps)
        self._forget(tps)

    def _lost_cb(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        tps = [(tp.topic, tp.partition) for tp in partitions]
        log.warning("partitions lost (no commit): %s", tps)
        self._on_revoked(tps)
        self._forget(tps)

    def _forget(self, tps: list[TP]) -> None:
        self._tracker.forget(tps)
        with self._lock:
            self._assigned -= set(tps)
            self._paused -= set(tps)
            for tp in tps:
                self._reasons.pop(tp, None)
                self.lag.pop(tp, None)
