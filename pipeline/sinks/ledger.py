"""The sync ledger: which intended effects already reached a target.

Keyed by (target, idempotency_key) -> ``LedgerEntry``.  Sinks are at-least-once (a crash
between delivery and offset commit redelivers the record), so targets without a vendor
upsert key (chat, email, webhooks) would see double effects; the ledger is consulted before
every operation and written after every success.

Why a compacted Kafka topic (``_voicebus.sync-ledger``) and not a database: it survives
sink restarts and rebalances, it lives on the same infrastructure as the data it protects
(no extra database to run, back up or secure), it is replicated like every other topic, and
compaction keeps one record per key.  Each sink instance reads only its own target's keys
into memory on start; ``put`` waits for the broker's acknowledgement, so an entry is
durable before the runtime commits the record's offset.

The embedded broker does not compact and reports end offsets low (see BROKER.md), so the
loader applies records in order (last one wins) and does not trust the high watermark alone:
it also writes a unique marker to every partition and reads until it has seen all of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol, runtime_checkable

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from pipeline.config import Settings

log = logging.getLogger(__name__)

LEDGER_TOPIC = "_voicebus.sync-ledger"
LEDGER_PARTITIONS = 3
_MARKER_PREFIX = "__voicebus-ledger-marker__|"


class LedgerError(RuntimeError):
    """The ledger could not be read or written (broker unavailable, topic refused)."""


@dataclass(frozen=True)
class LedgerEntry:
    """What happened to one intended effect.  ``outcome`` is ``"delivered"`` today."""

    outcome: str
    external_id: str | None = None
    delivered_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> LedgerEntry:
        data = json.loads(raw)
        return cls(
            outcome=str(data["outcome"]),
            external_id=data.get("external_id"),
            delivered_at=str(data.get("delivered_at", "")),
        )


@runtime_checkable
class SyncLedger(Protocol):
    async def start(self) -> None: ...

    async def get(self, target: str, idempotency_key: str) -> LedgerEntry | None: ...

    async def put(self, target: str, idempotency_key: str, entry: LedgerEntry) -> None: ...

    async def close(self) -> None: ...


class InMemoryLedger:
    """For unit tests and throwaway demos: forgets everything on exit."""

    def __init__(self) -> None:
        self.entries: dict[tuple[str, str], LedgerEntry] = {}

    async def start(self) -> None:
        return None

    async def get(self, target: str, idempotency_key: str) -> LedgerEntry | None:
        return self.entries.get((target, idempotency_key))

    async def put(self, target: str, idempotency_key: str, entry: LedgerEntry) -> None:
        self.entries[(target, idempotency_key)] = entry

    async def close(self) -> None:
        return None


def ledger_key(target: str, idempotency_key: str) -> str:
    return f"{target}|{idempotency_key}"


class KafkaLedger:
    """The ledger of one target on a compacted topic.

    ``start()`` creates the topic when missing and loads this target's entries; a background
    thread then keeps tailing the topic, so entries written by other instances of the same
    sink (before a rebalance handed us their partitions) become visible.  ``catch_up()``
    guarantees that everything written before the call is visible; the runtime calls it when
    partitions are assigned.
    """

    def __init__(
        self,
        settings: Settings,
        target: str,
        *,
        topic: str = LEDGER_TOPIC,
        partitions: int = LEDGER_PARTITIONS,
        load_timeout_s: float = 30.0,
    ) -> None:
        self.settings = settings
        self.target = target
        self.topic = topic
        self.partitions = partitions
        self.load_timeout_s = load_timeout_s
        self._prefix = f"{target}|"
        self._entries: dict[str, LedgerEntry] = {}
        self._lock = threading.Lock()
        self._markers: dict[str, threading.Event] = {}
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._producer: Producer | None = None
        self._consumer: Consumer | None = None
        self._consumer_error: str | None = None

    # ---- lifecycle ---------------------------------------------------------------------
    async def start(self) -> None:
        await asyncio.to_thread(self._ensure_topic)
        # acks=all from producer_conf; idempotence off: a ledger write is idempotent by
        # content (re-writing "delivered" changes nothing), and skipping the producer-id
        # handshake makes a sink start faster.
        producer_conf = self.settings.producer_conf(one_record_per_batch=False)
        producer_conf["enable.idempotence"] = False
        self._producer = Producer(producer_conf)
        self._consumer = Consumer(
            self.settings.consumer_conf(
                f"voicebus-ledger-reader-{uuid.uuid4().hex[:8]}",
                **{"isolation.level": "read_uncommitted"},
            )
        )
        self._consumer.assign(
            [TopicPartition(self.topic, p, -2) for p in range(self.partitions)]  # beginning
        )
        self._stop.clear()
        for name, target in (("poll-producer", self._poll_producer), ("tail", self._tail)):
            thread = threading.Thread(
                target=target, name=f"ledger-{self.target}-{name}", daemon=True
            )
            thread.start()
            self._threads.append(thread)
        await self.catch_up()
        log.info("sync ledger for %s loaded: %d entries", self.target, len(self._entries))

    async def close(self) -> None:
        self._stop.set()
        for thread in self._threads:
            await asyncio.to_thread(thread.join, 5.0)
        self._threads.clear()
        if self._producer is not None:
            await asyncio.to_thread(self._producer.flush, 5.0)
            self._producer = None
        if self._consumer is not None:
            await asyncio.to_thread(self._consumer.close)
            self._consumer = None

    def _ensure_topic(self) -> None:
        admin = AdminClient(self.settings.admin_conf())
        timeout = self.settings.request_timeout_s
        try:
            existing = admin.list_topics(timeout=timeout).topics
        except KafkaException as exc:
            raise LedgerError(
                f"cannot reach Kafka at {self.settings.bootstrap_servers} to load the sync "
                f"ledger: {exc.args[0]}"
            ) from exc
        if self.topic in existing:
            found = len(existing[self.topic].partitions)
            if found != self.partitions:
                log.warning(
                    "sync ledger topic %s has %d partitions (expected %d); using %d",
                    self.topic,
                    found,
                    self.partitions,
                    found,
                )
                self.partitions = found
            return
        new = NewTopic(
            self.topic,
            num_partitions=self.partitions,
            replication_factor=-1,
            config={"cleanup.policy": "compact"},
        )
        future = admin.create_topics([new], request_timeout=timeout)[self.topic]
        try:
            future.result(timeout)
        except KafkaException as exc:
            error = exc.args[0]
            if isinstance(error, KafkaError) and error.code() == KafkaError.TOPIC_ALREADY_EXISTS:
                return  # another instance created it meanwhile
            raise LedgerError(f"cannot create the sync ledger topic {self.topic}: {error}") from exc

    # ---- background threads ------------------------------------------------------------
    def _poll_producer(self) -> None:
        producer = self._producer
        while not self._stop.is_set() and producer is not None:
            producer.poll(0.05)

    def _tail(self) -> None:
        consumer = self._consumer
        while not self._stop.is_set() and consumer is not None:
            try:
                messages = consumer.consume(500, 0.05)
            except KafkaException as exc:  # pragma: no cover - broker gone
                self._consumer_error = str(exc.args[0])
                continue
            for message in messages:
                self._apply(message)

    def _apply(self, message: Message) -> None:
        if message.error() is not None:
            self._consumer_error = str(message.error())
            return
        raw_key = message.key()
        key = raw_key.decode() if isinstance(raw_key, bytes) else str(raw_key or "")
        if key.startswith(_MARKER_PREFIX):
            event = self._markers.get(key)
            if event is not None:
                event.set()
            return
        if not key.startswith(self._prefix):
            return
        idempotency_key = key[len(self._prefix) :]
        value = message.value()
        with self._lock:
            if value is None:
                self._entries.pop(idempotency_key, None)  # tombstone
                return
            try:
                self._entries[idempotency_key] = LedgerEntry.from_json(value)
            except (ValueError, KeyError, TypeError):
                log.warning(
                    "sync ledger %s: unreadable entry at partition %s offset %s ignored",
                    self.topic,
                    message.partition(),
                    message.offset(),
                )

    # ---- reads and writes --------------------------------------------------------------
    async def catch_up(self) -> None:
        """Return once every record written to the ledger before this call is applied:
        write a marker (a tombstone, so compaction drops it) to each partition and wait for
        the tail to read all of them."""
        loop = asyncio.get_running_loop()
        waits: list[threading.Event] = []
        writes = []
        for partition in range(self.partitions):
            marker = f"{_MARKER_PREFIX}{uuid.uuid4().hex}"
            event = threading.Event()
            self._markers[marker] = event
            waits.append(event)
            writes.append(self._produce(marker, None, partition=partition))
        try:
            await asyncio.gather(*writes)
            deadline = loop.time() + self.load_timeout_s
            for event in waits:
                remaining = deadline - loop.time()
                if remaining <= 0 or not await asyncio.to_thread(event.wait, remaining):
                    raise LedgerError(
                        f"sync ledger {self.topic} did not catch up within "
                        f"{self.load_timeout_s:.0f}s (last consumer error: "
                        f"{self._consumer_error or 'none'}); is the broker healthy?"
                    )
        finally:
            for marker in [k for k, v in self._markers.items() if v in waits]:
                self._markers.pop(marker, None)

    async def get(self, target: str, idempotency_key: str) -> LedgerEntry | None:
        self._check_target(target)
        with self._lock:
            return self._entries.get(idempotency_key)

    async def put(self, target: str, idempotency_key: str, entry: LedgerEntry) -> None:
        """Write and wait for the broker's acknowledgement (acks=all)."""
        self._check_target(target)
        await self._produce(ledger_key(target, idempotency_key), entry.to_json())
        with self._lock:
            self._entries[idempotency_key] = entry

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def _check_target(self, target: str) -> None:
        if target != self.target:
            raise ValueError(
                f"this KafkaLedger holds target {self.target!r}, not {target!r}; "
                "create one ledger per sink target"
            )

    async def _produce(self, key: str, value: bytes | None, *, partition: int = -1) -> None:
        if self._producer is None:
            raise LedgerError("KafkaLedger used before start() or after close()")
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()

        def on_delivery(error: KafkaError | None, _message: Message) -> None:
            def settle() -> None:
                if done.done():
                    return
                if error is None:
                    done.set_result(None)
                else:
                    done.set_exception(
                        LedgerError(f"sync ledger write to {self.topic} failed: {error}")
                    )

            with contextlib.suppress(RuntimeError):  # loop closed during shutdown
                loop.call_soon_threadsafe(settle)

        kwargs: dict[str, Any] = {"key": key.encode(), "value": value, "on_delivery": on_delivery}
        if partition >= 0:
            kwargs["partition"] = partition
        try:
            self._producer.produce(self.topic, **kwargs)
        except BufferError:
            await asyncio.to_thread(self._producer.flush, 1.0)
            self._producer.produce(self.topic, **kwargs)
        except KafkaException as exc:
            raise LedgerError(f"sync ledger write to {self.topic} refused: {exc.args[0]}") from exc
        await done
