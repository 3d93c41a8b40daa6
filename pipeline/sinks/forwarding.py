"""Awaitable Kafka produce for the retry topic, the DLQ and the barrier topic.

A record is only committed after its copy is acknowledged (acks=all, idempotent producer),
so ``send`` resolves on the delivery report, not on enqueue.  A small daemon thread serves
librdkafka's delivery callbacks and hands them back to the asyncio loop.

``failure_headers`` builds the error headers of ``pipeline.headers`` once, for both the
retry topic and the DLQ.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from pipeline import headers as H

HeaderList = list[tuple[str, str | bytes | None]]
RawHeaders = Any  # what confluent-kafka Message.headers() returns (list, dict or None)


def iso_ms(moment: datetime | None) -> str:
    """ISO 8601 UTC with milliseconds (the header time format)."""
    moment = moment or datetime.now(UTC)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def headers_to_dict(raw: RawHeaders) -> dict[str, str]:
    """Kafka headers as text (last value of a repeated name wins; undecodable bytes kept
    as replacement characters so a bad header never crashes the sink)."""
    out: dict[str, str] = {}
    items = raw.items() if isinstance(raw, dict) else (raw or [])
    for name, value in items:
        if value is None:
            out[name] = ""
        elif isinstance(value, bytes):
            out[name] = value.decode("utf-8", errors="replace")
        else:
            out[name] = str(value)
    return out


def replace_headers(raw: RawHeaders, updates: Mapping[str, str | None]) -> HeaderList:
    """Original headers (order kept) with ``updates`` replacing same-named ones; a None
    update removes the header."""
    items = raw.items() if isinstance(raw, dict) else (raw or [])
    kept: HeaderList = [(name, value) for name, value in items if name not in updates]
    kept.extend((name, value.encode()) for name, value in updates.items() if value is not None)
    return kept


def safe_message(message: str, limit: int = 500) -> str:
    """One line, bounded: header values must stay small and never carry bodies."""
    flat = " ".join(str(message).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def failure_headers(
    *,
    error_class: str,
    message: str,
    attempts: int,
    first_failure_at: datetime | None,
    last_failure_at: datetime | None,
    source: tuple[str, int, int],
    target: str,
    connector: str,
    connector_version: str,
) -> dict[str, str]:
    topic, partition, offset = source
    return {
        H.ERROR_CLASS: error_class,
        H.ERROR_MESSAGE: safe_message(message),
        H.ATTEMPTS: str(attempts),
        H.FIRST_FAILURE_AT: iso_ms(first_failure_at),
        H.LAST_FAILURE_AT: iso_ms(last_failure_at),
        H.SOURCE_TOPIC: topic,
        H.SOURCE_PARTITION: str(partition),
        H.SOURCE_OFFSET: str(offset),
        H.TARGET: target,
        H.CONNECTOR: connector,
        H.CONNECTOR_VERSION: connector_version,
    }


class ProduceError(RuntimeError):
    """The broker did not acknowledge a retry/DLQ/barrier record."""


class AsyncProducer:
    """confluent-kafka Producer whose ``send`` is awaitable until the broker acks."""

    def __init__(self, conf: dict[str, Any]) -> None:
        self._producer = Producer(conf)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="sink-producer", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            self._producer.poll(0.05)

    async def send(
        self,
        topic: str,
        *,
        key: bytes | None,
        value: bytes | None,
        headers: HeaderList,
        partition: int | None = None,
    ) -> None:
        """Produce and wait for the broker's ack.  ``partition`` pins the record (retry and
        DLQ copies go to the partition index of their source, see ``topics.py``)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()

        def on_delivery(err: KafkaError | None, _msg: Message) -> None:
            def resolve() -> None:
                if future.done():
                    return
                if err is not None:
                    future.set_exception(ProduceError(f"produce to {topic} failed: {err.str()}"))
                else:
                    future.set_result(None)

            loop.call_soon_threadsafe(resolve)

        while True:
            try:
                self._producer.produce(
                    topic,
                    key=key,
                    value=value,
                    headers=headers,
                    on_delivery=on_delivery,
                    partition=-1 if partition is None else partition,
                )
                break
            except BufferError:  # local queue full: let delivery reports drain it
                await asyncio.sleep(0.05)
            except KafkaException as exc:
                raise ProduceError(f"produce to {topic} failed: {exc}") from exc
        await future

    def close(self, timeout_s: float = 10.0) -> None:
        self._producer.flush(timeout_s)
        self._stop.set()
        self._thread.join(timeout=2)
