"""The processors' output records (enriched, ``sync.<target>``, DLQ) through one librdkafka
producer, each returning an asyncio future that the commit gate waits on.

Why not faust's ``topic.send``: the aiokafka send path runs in Python (faust's message
futures, aiokafka's accumulator, sender and protocol encoding) and cost ~150 us per record
here, more than all of our own logic per event; ``confluent_kafka.Producer.produce`` hands the
record to librdkafka (C, its own threads) in a few microseconds.  The guarantees stay those of
``Settings.producer_conf``: idempotent, ``acks=all``, order kept per partition.

Delivery reports are served on the event loop's own thread (``serve()`` after each batch, a
periodic call, and ``flush()`` before every commit), so the callbacks settle the futures
directly, without a thread hop.  A record the broker refuses settles its future with
``OutputNotDelivered``; the commit gate then never commits past its source record.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from functools import partial

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from pipeline.config import Settings
from pipeline.processors.offsets import OutputNotDelivered

__all__ = ["OutputProducer"]

_ROOM_WAIT_S = 0.05


def _settle(future: asyncio.Future[None], err: KafkaError | None, msg: Message) -> None:
    if future.done():
        return
    if err is None:
        future.set_result(None)
        return
    future.set_exception(
        OutputNotDelivered(
            f"{msg.topic()}[{msg.partition()}]: the broker did not accept an output record "
            f"({err.name()}: {err.str()})"
        )
    )


class OutputProducer:
    """``send()`` -> future settled by the delivery report.  ``one_record_per_batch`` as in
    ``Settings.producer_conf`` (None: the profile's default)."""

    def __init__(self, settings: Settings, *, one_record_per_batch: bool | None = None) -> None:
        self._producer = Producer(settings.producer_conf(one_record_per_batch=one_record_per_batch))
        self._queue_full_s = settings.delivery_timeout_ms / 1000

    def send(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        headers: Sequence[tuple[str, bytes | None]] = (),
    ) -> asyncio.Future[None]:
        """Hand one record to librdkafka; the future resolves once the broker acknowledged it
        (or fails with ``OutputNotDelivered``).  Call from the event loop's thread."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        report = partial(_settle, future)
        deadline: float | None = None
        while True:
            try:
                self._producer.produce(
                    topic, value=value, key=key, headers=list(headers), on_delivery=report
                )
                return future
            except BufferError:  # local queue full: serve reports until there is room
                now = time.monotonic()
                deadline = deadline or now + self._queue_full_s
                if now > deadline:
                    raise OutputNotDelivered(
                        f"local producer queue stayed full for {self._queue_full_s:.0f}s "
                        f"while sending to {topic!r} (broker unreachable?)"
                    ) from None
                self._producer.poll(_ROOM_WAIT_S)
            except KafkaException as exc:
                raise OutputNotDelivered(
                    f"cannot send to {topic!r}: {exc.args[0].str() if exc.args else exc}"
                ) from None

    def in_flight(self) -> int:
        """Records handed over whose delivery report was not served yet."""
        return len(self._producer)

    def serve(self) -> int:
        """Serve the delivery reports that arrived (never blocks); returns how many."""
        return int(self._producer.poll(0))

    async def flush(self, poll_interval_s: float = 0.002) -> None:
        """Wait until every record sent so far has its delivery report (success or failure;
        librdkafka reports each one within ``delivery.timeout.ms``)."""
        self._producer.poll(0)
        while len(self._producer):
            await asyncio.sleep(poll_interval_s)
            self._producer.poll(0)

    def close(self, timeout_s: float = 10.0) -> int:
        """Deliver what is queued (blocking, for shutdown); returns how many were left."""
        return int(self._producer.flush(timeout_s))
