"""asyncio flavour of the producer SDK: ``await publish(event)`` returns the ``Delivery``
(partition, offset) once the broker acknowledged the record, or raises ``PublishError``.

A daemon thread serves librdkafka's delivery reports and resolves each future on its own event
loop (``loop.call_soon_threadsafe``).  Validation, encoding, headers and the producer span
are shared with ``CallEventProducer`` (``pipeline.producer``)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Mapping
from types import TracebackType
from typing import Any

from confluent_kafka import KafkaError, Message

from pipeline.config import Settings
from pipeline.events import CallEvent, Contact, contact_key
from pipeline.producer import (
    Delivery,
    FailedDelivery,
    HeaderInput,
    PublishError,
    _Core,
    _describe,
    _key_text,
)
from pipeline.schema_catalog import CALL_EVENTS_SUBJECT, CONTACTS_SUBJECT

__all__ = ["AsyncCallEventProducer"]


class AsyncCallEventProducer(_Core):
    """asyncio producer: ``await publish(event)`` -> ``Delivery``.  A daemon thread serves
    librdkafka's delivery reports and resolves the futures on their event loop."""

    def __init__(self, settings: Settings, **kwargs: Any) -> None:
        super().__init__(settings, **kwargs)
        self._stop = threading.Event()
        self._poller = threading.Thread(
            target=self._poll_loop, name="voicebus-producer-poll", daemon=True
        )
        self._poller.start()
        self._warm: set[str] = set()

    def _poll_loop(self) -> None:
        while not self._stop.is_set():
            self._producer.poll(0.05)

    def _wait_for_room(self) -> None:
        time.sleep(0.05)  # the poll thread serves the reports

    async def _ensure_schema(self, subject: str, schema: Mapping[str, Any]) -> None:
        """The first registry round trip runs in a thread so the loop never blocks on HTTP."""
        if subject not in self._warm:
            await asyncio.to_thread(self.codec.schema_id, subject, schema)
            self._warm.add(subject)

    async def publish(self, event: CallEvent | Mapping[str, Any]) -> Delivery:
        model = self._event(event)
        await self._ensure_schema(CALL_EVENTS_SUBJECT, self._event_schema)
        attrs = {
            "voicebus.event_type": model.event_type.value,
            "voicebus.event_id": str(model.event_id),
        }
        return await self._send(self.topic, model.call_id, self._encode_event(model), None, attrs)

    async def publish_contact(self, contact: Contact | Mapping[str, Any]) -> Delivery:
        model = self._contact(contact)
        await self._ensure_schema(CONTACTS_SUBJECT, self._contact_schema)
        return await self._send(self.contacts_topic, model.key, self._encode_contact(model), None)

    async def delete_contact(self, crm: str, record_id: str) -> Delivery:
        return await self._send(self.contacts_topic, contact_key(crm, record_id), None, None)

    async def publish_raw(
        self, topic: str, key: str | bytes | None, value: bytes | None, headers: HeaderInput = None
    ) -> Delivery:
        return await self._send(topic, key, value, headers)

    async def _send(
        self,
        topic: str,
        key: str | bytes | None,
        value: bytes | None,
        headers: HeaderInput,
        attributes: Mapping[str, Any] | None = None,
    ) -> Delivery:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Delivery] = loop.create_future()

        def settle(err: KafkaError | None, partition: int, offset: int) -> None:
            if future.done():
                return
            if err is not None:
                failure = FailedDelivery(topic, _key_text(key), _describe(err))
                future.set_exception(PublishError.from_failures([failure]))
            else:
                future.set_result(Delivery(partition, offset))

        def on_delivery(err: KafkaError | None, msg: Message) -> None:
            loop.call_soon_threadsafe(settle, err, msg.partition() or 0, msg.offset() or 0)

        self._produce(topic, key, value, headers, on_delivery, attributes)
        try:
            return await asyncio.wait_for(future, self.report_deadline_s)
        except TimeoutError:
            raise PublishError(
                f"no delivery report for topic {topic!r}, key {_key_text(key)!r} within "
                f"{self.report_deadline_s:.0f}s"
            ) from None

    async def close(self) -> None:
        """Wait for outstanding deliveries (their awaiting callers get the outcome), then stop
        the poll thread."""
        if self._closed:
            return
        self._closed = True
        await asyncio.to_thread(self._producer.flush, self.report_deadline_s)
        self._stop.set()
        await asyncio.to_thread(self._poller.join, 5.0)
        self._release()

    async def __aenter__(self) -> AsyncCallEventProducer:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
