"""Per-key barriers that keep per-call order across retries (barrier policy ``park``).

When a record of key K has to wait (retry topic, or the DLQ after its retry budget), K gets a
barrier: an ordered list of the record ids still owed to the target, the blocker first.
Later records of K are *parked*: copied to ``sync.<target>.retry`` with header
``vb-parked-behind`` and appended to the list.  A record is delivered only when it is the
head of its key's list; delivering the head pops it, so the parked records follow in order
as they come round the retry topic.  When the list is empty the barrier is gone.

Record ids are ``topic:partition:offset`` of the record's first appearance on
``sync.<target>`` (kept in the ``vb-source-*`` headers through the retry topic and the DLQ),
so the same record is recognised wherever it comes back from.  ``voicebus dlq replay``
strips the ``vb-*`` error headers, so a replayed record (header ``vb-replay-id``) is matched
to its entry by a digest of its value bytes, which the book keeps per pending record.

Durability: every change is written (and acknowledged) to the compacted topic
``_voicebus.barriers`` — key ``<target>\\x1f<record key>``, value JSON
``{"pending": [...], "dead": bool}``, tombstone when released — *before* the source offset
is committed.  On start and on every partition assignment the book is rebuilt by reading
that topic from the beginning (last record per key wins, tombstones delete), so the state
survives restarts and moves with the partitions.  Copies are produced before the barrier
update, so a crash in between leaves at most a duplicate copy, which the sync ledger turns
into a no-op; never a barrier waiting for a record that does not exist.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
import uuid
from dataclasses import dataclass, field

from confluent_kafka import Consumer, KafkaError, TopicPartition

from pipeline.config import Settings
from pipeline.sinks.forwarding import AsyncProducer

SEPARATOR = "\x1f"


@dataclass
class KeyBarrier:
    pending: list[str] = field(default_factory=list)  # record ids, blocker first
    dead: bool = False  # the blocker sits in the DLQ (waits for a replay)
    digests: dict[str, str] = field(default_factory=dict)  # record id -> value digest

    def match_digest(self, digest: str) -> str | None:
        """The pending record whose value has this digest (a replayed copy of it)."""
        return next((rid for rid in self.pending if self.digests.get(rid) == digest), None)

    @property
    def head(self) -> str | None:
        return self.pending[0] if self.pending else None


def value_digest(value: bytes | None) -> str:
    return hashlib.sha256(value or b"").hexdigest()[:20]


class BarrierBook:
    """In-memory barriers of one target, persisted to the barrier topic."""

    def __init__(self, target: str, topic: str, producer: AsyncProducer | None) -> None:
        self.target = target
        self.topic = topic
        self._producer = producer
        self._lock = threading.Lock()
        self._barriers: dict[str, KeyBarrier] = {}

    def get(self, key: str) -> KeyBarrier | None:
        with self._lock:
            return self._barriers.get(key)

    def blocked_keys(self) -> dict[str, list[str]]:
        with self._lock:
            return {k: list(b.pending) for k, b in self._barriers.items()}

    async def append(
        self, key: str, record_id: str, *, digest: str = "", dead: bool = False
    ) -> KeyBarrier:
        """Add ``record_id`` at the end of ``key``'s list (creating the barrier)."""
        with self._lock:
            barrier = self._barriers.setdefault(key, KeyBarrier())
            if record_id not in barrier.pending:
                barrier.pending.append(record_id)
            if digest:
                barrier.digests[record_id] = digest
            if barrier.head == record_id:
                barrier.dead = dead
        await self._persist(key)
        return barrier

    async def set_dead(self, key: str, dead: bool) -> None:
        with self._lock:
            barrier = self._barriers.get(key)
            if barrier is None or barrier.dead == dead:
                return
            barrier.dead = dead
        await self._persist(key)

    async def remove(self, key: str, record_id: str) -> None:
        """The record is delivered (or given up): drop it; an empty list lifts the barrier."""
        with self._lock:
            barrier = self._barriers.get(key)
            if barrier is None or record_id not in barrier.pending:
                return
            was_head = barrier.head == record_id
            barrier.pending.remove(record_id)
            barrier.digests.pop(record_id, None)
            if was_head:
                barrier.dead = False
            if not barrier.pending:
                del self._barriers[key]
        await self._persist(key)

    async def _persist(self, key: str) -> None:
        if self._producer is None:
            return
        with self._lock:
            barrier = self._barriers.get(key)
            value = (
                None
                if barrier is None
                else json.dumps(
                    {"pending": barrier.pending, "dead": barrier.dead, "digests": barrier.digests}
                ).encode()
            )
        await self._producer.send(
            self.topic,
            key=f"{self.target}{SEPARATOR}{key}".encode(),
            value=value,
            headers=[],
        )

    def load(self, settings: Settings, timeout_s: float = 30.0) -> int:
        """Rebuild from the barrier topic (blocking; call from a worker thread)."""
        state = read_barrier_topic(settings, self.topic, self.target, timeout_s)
        with self._lock:
            self._barriers = state
            return len(state)


def read_barrier_topic(
    settings: Settings, topic: str, target: str, timeout_s: float = 30.0
) -> dict[str, KeyBarrier]:
    """All live barriers of ``target``: the topic read to its end, last value per key wins."""
    consumer = Consumer(
        settings.consumer_conf(
            f"voicebus-barrier-reader-{uuid.uuid4().hex[:8]}", **{"enable.partition.eof": True}
        )
    )
    state: dict[str, KeyBarrier] = {}
    prefix = f"{target}{SEPARATOR}"
    try:
        metadata = consumer.list_topics(topic, timeout=timeout_s)
        partitions = sorted(metadata.topics[topic].partitions)
        ends: dict[int, int] = {}
        assign: list[TopicPartition] = []
        for p in partitions:
            low, high = consumer.get_watermark_offsets(
                TopicPartition(topic, p), timeout=timeout_s, cached=False
            )
            if high > low:
                ends[p] = high
                assign.append(TopicPartition(topic, p, low))
        if not assign:
            return state
        consumer.assign(assign)
        deadline = time.monotonic() + timeout_s
        while ends and time.monotonic() < deadline:
            msg = consumer.poll(0.2)
            if msg is None:
                continue
            err = msg.error()
            if err is not None:
                if err.code() == KafkaError._PARTITION_EOF:
                    ends.pop(msg.partition() or 0, None)
                continue
            raw_key = (msg.key() or b"").decode("utf-8", errors="replace")
            offset = msg.offset() or 0
            if offset + 1 >= ends.get(msg.partition() or 0, 0):
                ends.pop(msg.partition() or 0, None)
            if not raw_key.startswith(prefix):
                continue
            key = raw_key[len(prefix) :]
            value = msg.value()
            if value is None:
                state.pop(key, None)
                continue
            doc = json.loads(value)
            pending = [str(r) for r in doc.get("pending", [])]
            if pending:
                digests = {str(k): str(v) for k, v in (doc.get("digests") or {}).items()}
                state[key] = KeyBarrier(pending, bool(doc.get("dead", False)), digests)
            else:
                state.pop(key, None)
        if ends:
            raise TimeoutError(
                f"could not read barrier topic {topic} to its end within {timeout_s:.0f}s"
            )
        return state
    finally:
        consumer.close()
