"""Kafka plumbing shared by the SRE tools (DLQ, replay tasks, floors, conflicts, lag).

The tools read topics in *bounded scans*: assign every partition at a start offset and read
until the fetch reports end-of-partition (``enable.partition.eof``).  The end-of-partition
signal comes from the fetch response's high watermark, which is exact on every broker we run,
whereas ListOffsets LATEST (``get_watermark_offsets``) undercounts on brokers that answer with
"base offset of the last batch + 1" (the embedded broker does).  A scan therefore never relies
on end offsets alone: it uses the watermark only as a cheap starting point and lets the fetch
say where the partition really ends.

Every client gets a throw-away group id and never commits: the tools are read-only observers
of the groups they inspect.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from pipeline.config import Settings

log = logging.getLogger(__name__)
#: librdkafka's own log lines go through Python logging instead of stderr, so CLI output stays
#: readable and callers decide the verbosity.
_RDKAFKA_LOG = logging.getLogger("voicebus.rdkafka")

OFFSET_BEGINNING = -2


class ToolError(RuntimeError):
    """A failure the CLI reports as one clear line (what failed, where, how to fix)."""


class TopicMissing(ToolError):
    """The topic does not exist (as opposed to the broker not answering)."""


def reason(exc: object) -> str:
    """The readable part of a confluent-kafka exception or ``KafkaError``."""
    error = exc.args[0] if isinstance(exc, BaseException) and exc.args else exc
    text = error.str() if hasattr(error, "str") else str(error)
    return str(text)


def _quiet(conf: dict[str, Any]) -> dict[str, Any]:
    conf = dict(conf)
    conf["logger"] = _RDKAFKA_LOG
    return conf


def admin_client(settings: Settings) -> AdminClient:
    return AdminClient(_quiet(settings.admin_conf()))


def reader_consumer(settings: Settings, purpose: str) -> Consumer:
    """A consumer for bounded scans: unique group, no commits, end-of-partition events."""
    group = f"voicebus-tool-{purpose}-{uuid.uuid4().hex[:8]}"
    conf = settings.consumer_conf(
        group,
        **{"enable.partition.eof": True, "isolation.level": "read_committed"},
    )
    return Consumer(_quiet(conf))


def producer(settings: Settings) -> Producer:
    return Producer(_quiet(settings.producer_conf()))


def partitions_of(settings: Settings, topic: str, admin: AdminClient | None = None) -> list[int]:
    """Partition ids of ``topic``; ``ToolError`` when it does not exist."""
    admin = admin or admin_client(settings)
    try:
        # all topics: a metadata request naming the topic may auto-create it on some brokers
        metadata = admin.list_topics(timeout=settings.request_timeout_s)
    except KafkaException as exc:
        raise ToolError(
            f"cannot read metadata of {topic!r} from {settings.bootstrap_servers}: "
            f"{reason(exc)}; is the broker up (VOICEBUS_BOOTSTRAP_SERVERS)?"
        ) from exc
    topic_md = metadata.topics.get(topic)
    if topic_md is None or topic_md.error is not None or not topic_md.partitions:
        raise TopicMissing(f"topic {topic!r} does not exist on {settings.bootstrap_servers}")
    return sorted(topic_md.partitions)


def topic_names(settings: Settings, admin: AdminClient | None = None) -> list[str]:
    admin = admin or admin_client(settings)
    try:
        metadata = admin.list_topics(timeout=settings.request_timeout_s)
    except KafkaException as exc:
        raise ToolError(
            f"cannot list topics on {settings.bootstrap_servers}: {reason(exc)}; "
            "is the broker up (VOICEBUS_BOOTSTRAP_SERVERS)?"
        ) from exc
    return sorted(metadata.topics)


def ensure_topic(
    settings: Settings,
    topic: str,
    *,
    partitions: int = 1,
    compacted: bool = False,
    config: Mapping[str, str] | None = None,
    admin: AdminClient | None = None,
) -> None:
    """Create ``topic`` with its final partition count unless it exists (topics are always
    created explicitly: auto-created topics get broker-default partition counts)."""
    admin = admin or admin_client(settings)
    if topic in topic_names(settings, admin):
        return
    topic_config = {"cleanup.policy": "compact"} if compacted else {}
    topic_config.update(config or {})
    futures = admin.create_topics(
        [NewTopic(topic, num_partitions=partitions, replication_factor=-1, config=topic_config)],
        request_timeout=settings.request_timeout_s,
    )
    for future in futures.values():
        try:
            future.result()
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise ToolError(f"cannot create topic {topic!r}: {exc.args[0].str()}") from exc
    # metadata propagates asynchronously; wait until the topic is visible
    deadline = time.monotonic() + settings.request_timeout_s
    while time.monotonic() < deadline:
        if topic in topic_names(settings, admin):
            return
        time.sleep(0.05)
    raise ToolError(f"topic {topic!r} was created but is not visible in metadata yet; retry")


@dataclass(frozen=True)
class ScanRange:
    """Where a bounded scan of one partition starts and (optionally) must stop."""

    start: int = OFFSET_BEGINNING
    stop: int | None = None  # exclusive; None = the end seen when the scan reaches it


def _empty_range(r: ScanRange) -> bool:
    if r.stop is None:
        return False
    return r.stop <= 0 or (r.start >= 0 and r.start >= r.stop)


def scan(
    consumer: Consumer,
    topic: str,
    ranges: Mapping[int, ScanRange],
    *,
    timeout_s: float = 30.0,
) -> Iterator[Message]:
    """Yield the records of ``topic`` in ``ranges`` (per partition in offset order) and stop
    once every partition reached its stop offset or its end.

    A partition that is already at its end reports end-of-partition right away, so empty
    partitions cost one fetch.  ``timeout_s`` bounds the time without progress (not the whole
    scan): a broker that stops answering gives a ``ToolError`` instead of a hang.
    """
    pending = {p for p, r in ranges.items() if not _empty_range(r)}
    if not pending:
        return
    consumer.assign([TopicPartition(topic, p, ranges[p].start) for p in sorted(pending)])
    last_progress = time.monotonic()
    try:
        while pending:
            message = consumer.poll(0.2)
            if message is None:
                if time.monotonic() - last_progress > timeout_s:
                    raise ToolError(
                        f"reading {topic!r} made no progress for {timeout_s:.0f}s "
                        f"(partitions {sorted(pending)} not at their end); is the broker up?"
                    )
                continue
            last_progress = time.monotonic()
            partition = partition_of(message)
            error = message.error()
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    if partition in pending:
                        pending.discard(partition)
                        consumer.pause([TopicPartition(topic, partition)])
                    continue
                if error.retriable() or not error.fatal():
                    log.debug("transient error while reading %s: %s", topic, error.str())
                    continue
                raise ToolError(f"reading {topic!r} failed: {error.str()}")
            if partition not in pending:
                continue
            stop = ranges[partition].stop
            if stop is not None and offset_of(message) >= stop:
                pending.discard(partition)
                consumer.pause([TopicPartition(topic, partition)])
                continue
            yield message
            if stop is not None and offset_of(message) + 1 >= stop:
                pending.discard(partition)
                consumer.pause([TopicPartition(topic, partition)])
    finally:
        _release(consumer)


def _release(consumer: Consumer) -> None:
    """Unassign, un-pausing first: librdkafka keeps a partition's pause across assignments,
    and a later assign of the same partition would otherwise never fetch."""
    assigned = consumer.assignment()
    if assigned:
        consumer.resume(assigned)
    consumer.unassign()


def end_offsets(consumer: Consumer, topic: str, partitions: list[int]) -> dict[int, int]:
    """The exact end offset of each partition.

    Starts from the watermark API (exact on Apache Kafka) and then reads on from there until
    the fetch reports end-of-partition, which corrects brokers whose ListOffsets answers low.
    On an exact broker this reads nothing.
    """
    starts: dict[int, int] = {}
    for p in partitions:
        low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
        starts[p] = max(low, high, 0)
    ends = dict(starts)
    pending = set(partitions)
    consumer.assign([TopicPartition(topic, p, starts[p]) for p in partitions])
    deadline_idle = 30.0
    last_progress = time.monotonic()
    try:
        while pending:
            message = consumer.poll(0.2)
            if message is None:
                if time.monotonic() - last_progress > deadline_idle:
                    raise ToolError(f"cannot find the end of {topic!r}: no answer from broker")
                continue
            last_progress = time.monotonic()
            error = message.error()
            p = partition_of(message)
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF and p in pending:
                    ends[p] = max(ends[p], offset_of(message))
                    pending.discard(p)
                    consumer.pause([TopicPartition(topic, p)])
                continue
            ends[p] = max(ends[p], offset_of(message) + 1)
    finally:
        _release(consumer)
    return ends


def low_watermarks(consumer: Consumer, topic: str, partitions: list[int]) -> dict[int, int]:
    """Log-start offsets (trustworthy on every broker: they only move on deletion)."""
    return {
        p: max(0, consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[0])
        for p in partitions
    }


def offset_of(message: Message) -> int:
    offset = message.offset()
    return offset if offset is not None else -1


def partition_of(message: Message) -> int:
    partition = message.partition()
    return partition if partition is not None else -1


def raw_headers(message: Message) -> list[tuple[str, bytes | None]]:
    """Headers as an ordered list of (name, bytes) pairs, whatever form the client used."""
    headers = message.headers() or []
    pairs = headers.items() if isinstance(headers, dict) else headers
    return [(name, value.encode() if isinstance(value, str) else value) for name, value in pairs]


def header_map(message: Message) -> dict[str, str]:
    """Headers as ``name -> str`` (last value wins; undecodable bytes are replaced)."""
    out: dict[str, str] = {}
    for name, value in raw_headers(message):
        if value is None:
            continue
        out[name] = value.decode("utf-8", errors="replace")
    return out


def key_str(message: Message) -> str | None:
    key = message.key()
    if key is None:
        return None
    return key.decode("utf-8", errors="replace") if isinstance(key, bytes) else str(key)


def flush_or_fail(prod: Producer, settings: Settings, what: str) -> None:
    remaining = prod.flush(settings.delivery_timeout_ms / 1000)
    if remaining:
        raise ToolError(
            f"{remaining} record(s) for {what} not acknowledged by {settings.bootstrap_servers} "
            f"within {settings.delivery_timeout_ms} ms; nothing was lost locally, re-run to retry"
        )


def read_latest_by_key(settings: Settings, topic: str, *, purpose: str) -> dict[str, bytes | None]:
    """Read a compacted topic fully and apply records in order (last wins, tombstones
    delete): the broker may not compact, so readers never assume it did."""
    try:
        partitions = partitions_of(settings, topic)
    except TopicMissing:
        return {}
    consumer = reader_consumer(settings, purpose)
    try:
        latest: dict[str, bytes | None] = {}
        # explicit start offsets: resolving the logical "beginning" costs an extra round
        # trip with a retry back-off on a fresh consumer
        lows = low_watermarks(consumer, topic, partitions)
        ranges = {p: ScanRange(start=lows[p]) for p in partitions}
        for message in scan(consumer, topic, ranges):
            key = key_str(message)
            if key is None:
                continue
            value = message.value()
            if value is None:
                latest.pop(key, None)
            else:
                latest[key] = value
        return latest
    finally:
        consumer.close()
