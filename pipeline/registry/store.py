"""Where registry writes go: the compacted Kafka topic ``_schemas`` (or memory, for tests).

Every write is produced to Kafka first and only becomes visible when the log reader thread
reads it back and applies it to :class:`RegistryState`; ``write`` returns once that happened
(read-your-writes).  State therefore is a pure function of the topic, so a restarted registry,
or a second instance on the same broker, comes back with the same subjects, versions, ids and
configs.  Two instances writing at the same moment are not coordinated (no leader election):
run one writer per cluster, as with a single-node Confluent registry.

Start-up replays the topic from the beginning and is "caught up" when it has read up to the
high watermark *and* seen a marker record it wrote itself.  The marker makes this robust on
brokers whose end offsets are approximate (Tansu reports the last batch's base offset + 1;
we also produce one record per batch).
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from typing import Any, Protocol

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    Message,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient, NewTopic

from pipeline.config import Settings
from pipeline.registry import errors
from pipeline.registry.state import RegistryState, noop_key

log = logging.getLogger(__name__)

DEFAULT_TOPIC = "_schemas"


class StoreStartError(RuntimeError):
    """The ``_schemas`` topic could not be created, checked or replayed."""


class RecordLog(Protocol):
    """Durable, ordered key/value log the registry state is derived from."""

    state: RegistryState

    def write(self, key: dict[str, Any], value: dict[str, Any]) -> None:
        """Persist one record; return once it has been applied to ``state``."""


class MemoryLog:
    """Applies writes at once and keeps nothing: for unit tests and throwaway registries."""

    def __init__(self, state: RegistryState | None = None) -> None:
        self.state = state or RegistryState()
        self.records: list[tuple[dict[str, Any], dict[str, Any]]] = []

    def write(self, key: dict[str, Any], value: dict[str, Any]) -> None:
        self.records.append((key, value))
        self.state.apply(key, value)


def _encode(document: dict[str, Any]) -> bytes:
    return json.dumps(document, separators=(",", ":")).encode()


def _decode(raw: bytes | None) -> Any:
    if raw is None:
        return None
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return "<undecodable>"


class KafkaLog:
    """The ``_schemas`` topic: one partition, ``cleanup.policy=compact``."""

    def __init__(
        self,
        settings: Settings,
        state: RegistryState | None = None,
        topic: str = DEFAULT_TOPIC,
        replication_factor: int = -1,
    ) -> None:
        self.settings = settings
        self.state = state or RegistryState()
        self.topic = topic
        self.replication_factor = replication_factor
        self.write_timeout_s = settings.delivery_timeout_ms / 1000 + 5
        self._applied_offset = -1
        self._applied = threading.Condition()
        self._write_lock = threading.Lock()
        self._stopping = threading.Event()
        self._producer: Producer | None = None
        self._consumer: Consumer | None = None
        self._reader: threading.Thread | None = None

    # ---- lifecycle -------------------------------------------------------------------
    def start(self, timeout_s: float = 30.0) -> KafkaLog:
        try:
            return self._start(timeout_s)
        except BaseException:
            self.close()
            raise

    def _start(self, timeout_s: float) -> KafkaLog:
        self._ensure_topic()
        self._producer = Producer(self.settings.producer_conf(one_record_per_batch=True))
        group = f"voicebus-registry-{uuid.uuid4().hex[:12]}"  # never joined or committed
        self._consumer = Consumer(self.settings.consumer_conf(group))
        partition = TopicPartition(self.topic, 0)
        try:
            _, high = self._consumer.get_watermark_offsets(partition, timeout=timeout_s)
        except Exception as exc:
            raise StoreStartError(f"cannot read the end offset of {self.topic!r}: {exc}") from exc
        self._consumer.assign([TopicPartition(self.topic, 0, OFFSET_BEGINNING)])
        self._reader = threading.Thread(target=self._read_loop, name="registry-log", daemon=True)
        self._reader.start()
        marker = uuid.uuid4().hex
        try:
            self.write(noop_key(), {"marker": marker})
        except errors.RegistryError as exc:
            raise StoreStartError(f"cannot write to {self.topic!r}: {exc.message}") from exc
        if not self._wait(lambda: self._applied_offset >= high - 1, timeout_s):
            raise StoreStartError(f"replay of {self.topic!r} did not reach offset {high}")
        if not self._wait(lambda: self.state.seen_marker(marker), timeout_s):
            raise StoreStartError(f"replay of {self.topic!r} never returned our marker record")
        log.info("replayed %s up to offset %d", self.topic, self._applied_offset)
        return self

    def close(self) -> None:
        self._stopping.set()
        if self._reader is not None:
            self._reader.join(timeout=5)
        if self._consumer is not None:
            self._consumer.close()
        if self._producer is not None:
            self._producer.flush(5)
        self._reader = self._consumer = self._producer = None

    def _ensure_topic(self) -> None:
        admin = AdminClient(self.settings.admin_conf())
        spec = NewTopic(
            self.topic,
            num_partitions=1,
            replication_factor=self.replication_factor,
            config={"cleanup.policy": "compact"},
        )
        timeout = self.settings.request_timeout_s
        try:
            admin.create_topics([spec], request_timeout=timeout)[self.topic].result(timeout)
        except Exception as exc:
            code = exc.args[0].code() if exc.args and isinstance(exc.args[0], KafkaError) else None
            if code != KafkaError.TOPIC_ALREADY_EXISTS:
                raise StoreStartError(
                    f"cannot create topic {self.topic!r} on {self.settings.bootstrap_servers} "
                    f"({type(exc).__name__}: {str(exc) or 'no answer'}); is the broker reachable?"
                ) from exc
        metadata = admin.list_topics(topic=self.topic, timeout=timeout)
        partitions = len(metadata.topics[self.topic].partitions)
        if partitions != 1:
            raise StoreStartError(
                f"topic {self.topic!r} has {partitions} partitions; the registry needs exactly "
                "one (ordered log). Delete it or point --topic at another name"
            )

    # ---- reading ---------------------------------------------------------------------
    def _read_loop(self) -> None:
        assert self._consumer is not None
        while not self._stopping.is_set():
            message = self._consumer.poll(0.1)
            if message is None:
                continue
            if message.error() is not None:
                log.warning("reading %s: %s", self.topic, message.error())
                continue
            self._apply(message)

    def _apply(self, message: Message) -> None:
        try:
            self.state.apply(_decode(message.key()), _decode(message.value()))
        except Exception:  # a bad record must never stop the reader
            log.exception("skipping %s record at offset %s", self.topic, message.offset())
        with self._applied:
            self._applied_offset = max(self._applied_offset, message.offset() or 0)
            self._applied.notify_all()

    def _wait(self, done: Any, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        with self._applied:
            while not done():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._applied.wait(min(remaining, 0.5))
        return True

    # ---- writing ---------------------------------------------------------------------
    def write(self, key: dict[str, Any], value: dict[str, Any]) -> None:
        if self._producer is None:
            raise errors.store_error("the schema store is not started")
        outcome: list[tuple[KafkaError | None, int | None]] = []

        def delivered(err: KafkaError | None, message: Message) -> None:
            outcome.append((err, message.offset()))

        with self._write_lock:
            try:
                self._producer.produce(
                    self.topic,
                    key=_encode(key),
                    value=_encode(value),
                    partition=0,
                    on_delivery=delivered,
                )
                self._producer.flush(self.write_timeout_s)
            except Exception as exc:
                raise errors.store_error(f"Error while writing to {self.topic}: {exc}") from exc
        if not outcome:
            raise errors.operation_timeout(
                f"Write to {self.topic} not acknowledged within {self.write_timeout_s:.0f}s"
            )
        err, offset = outcome[0]
        if err is not None or offset is None:
            raise errors.store_error(f"Error while writing to {self.topic}: {err}")
        if not self._wait(lambda: self._applied_offset >= offset, self.write_timeout_s):
            raise errors.operation_timeout(
                f"Write to {self.topic} at offset {offset} was not read back within "
                f"{self.write_timeout_s:.0f}s"
            )
