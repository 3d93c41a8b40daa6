"""Producer SDK: publish call events and CRM contacts to voicebus.

Every event is validated (pydantic: a bad field raises ``ValidationError`` naming it and
nothing is produced), Avro-encoded in the Confluent wire format under the topic's subject,
keyed by ``call_id`` (so one call stays ordered on one partition) and sent with a W3C
``traceparent`` header from a producer span.  The Kafka producer is idempotent with
``acks=all`` (``Settings.producer_conf()``).

Delivery is asynchronous as in librdkafka: failures are collected from delivery reports and
raised as ``PublishError`` from ``flush()`` / ``close()``, or at once with ``wait=True``.  A
broker that cannot be reached yields a ``PublishError`` after ``settings.delivery_timeout_ms``,
never a hang.  Error messages name topic, key and the Kafka error, never the payload.

``AsyncCallEventProducer`` (``pipeline.async_producer``, importable from here too) offers the
same for asyncio: ``await publish(...)`` returns the
``Delivery`` (partition, offset) once the broker acknowledged it.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, NamedTuple

from confluent_kafka import KafkaError, KafkaException, Message, Producer
from opentelemetry import trace

from pipeline.config import Settings
from pipeline.events import CallEvent, Contact, contact_key
from pipeline.observability import inject_trace_headers, tracer
from pipeline.schema_catalog import (
    CALL_EVENT_SCHEMA,
    CALL_EVENTS_SUBJECT,
    CONTACT_SCHEMA,
    CONTACTS_SUBJECT,
    load_schema,
)
from pipeline.serde import AvroCodec
from pipeline.topics import CALL_EVENTS_TOPIC, CONTACTS_TOPIC

__all__ = ["CallEventProducer", "Delivery", "FailedDelivery", "PublishError"]

HeaderInput = Mapping[str, str | bytes] | Iterable[tuple[str, str | bytes]] | None


class Delivery(NamedTuple):
    """Where the broker stored a record."""

    partition: int
    offset: int


@dataclass(frozen=True)
class FailedDelivery:
    topic: str
    key: str | None
    error: str


class PublishError(Exception):
    """Records were not delivered.  The message names topic, key and Kafka error only."""

    def __init__(self, message: str, failures: list[FailedDelivery] | None = None) -> None:
        super().__init__(message)
        self.failures = failures or []

    @classmethod
    def from_failures(cls, failures: list[FailedDelivery]) -> PublishError:
        first = failures[0]
        more = f" (and {len(failures) - 1} more)" if len(failures) > 1 else ""
        return cls(
            f"delivery to topic {first.topic!r} failed for key {first.key!r}: {first.error}{more}",
            failures,
        )


def _describe(err: KafkaError | KafkaException) -> str:
    if isinstance(err, KafkaException):
        err = err.args[0] if err.args and isinstance(err.args[0], KafkaError) else err
    if isinstance(err, KafkaError):
        return f"{err.name()} ({err.str()})"
    return type(err).__name__


_POLL_EVERY = 64
_tracing_seen = False


def _tracing_configured() -> bool:
    """False while no SDK tracer provider is installed: spans would be no-ops and carry no
    context, so skipping them (and the header injection) saves work without changing what
    is exported or sent.  A provider, once installed, stays (OpenTelemetry's rule)."""
    global _tracing_seen
    if not _tracing_seen:
        if getattr(trace, "_TRACER_PROVIDER", True) is None:  # fast path: nothing set yet
            return False
        provider = trace.get_tracer_provider()
        _tracing_seen = not isinstance(
            provider, trace.ProxyTracerProvider | trace.NoOpTracerProvider
        )
    return _tracing_seen


def _key_text(key: str | bytes | None) -> str | None:
    if isinstance(key, bytes):
        return key.decode("utf-8", "replace")
    return key


class _Core:
    """What both producers share: configuration, encoding, headers, the producer span."""

    def __init__(
        self,
        settings: Settings,
        *,
        topic: str = CALL_EVENTS_TOPIC,
        contacts_topic: str = CONTACTS_TOPIC,
        codec: AvroCodec | None = None,
        one_record_per_batch: bool | None = None,
        conf_overrides: Mapping[str, Any] | None = None,
    ) -> None:
        self.settings = settings
        self.topic = topic
        self.contacts_topic = contacts_topic
        self.codec = codec or AvroCodec(settings)
        conf = settings.producer_conf(one_record_per_batch=one_record_per_batch)
        conf.update(conf_overrides or {})
        self._producer = Producer(conf)
        self._event_schema = load_schema(CALL_EVENT_SCHEMA)
        self._contact_schema = load_schema(CONTACT_SCHEMA)
        # librdkafka reports every message within delivery.timeout.ms; the margin covers
        # the report's own trip through poll().
        self.report_deadline_s = settings.delivery_timeout_ms / 1000 + 5.0
        self._closed = False

    @staticmethod
    def _event(event: CallEvent | Mapping[str, Any]) -> CallEvent:
        return event if isinstance(event, CallEvent) else CallEvent.model_validate(event)

    @staticmethod
    def _contact(contact: Contact | Mapping[str, Any]) -> Contact:
        return contact if isinstance(contact, Contact) else Contact.model_validate(contact)

    def _encode_event(self, event: CallEvent) -> bytes:
        return self.codec.encode(
            event.to_avro(), subject=CALL_EVENTS_SUBJECT, schema=self._event_schema
        )

    def _encode_contact(self, contact: Contact) -> bytes:
        return self.codec.encode(
            contact.to_avro(), subject=CONTACTS_SUBJECT, schema=self._contact_schema
        )

    def _produce(
        self,
        topic: str,
        key: str | bytes | None,
        value: bytes | None,
        headers: HeaderInput,
        on_delivery: Callable[[KafkaError | None, Message], None],
        attributes: Mapping[str, Any] | None = None,
    ) -> None:
        """Produce inside a PRODUCER span whose context goes out as ``traceparent``."""
        if self._closed:
            raise PublishError(f"producer for topic {topic!r} is closed")
        merged: list[tuple[str, str | bytes | None]] | None = None
        if headers:
            merged = list(headers.items() if isinstance(headers, Mapping) else headers)
        if not _tracing_configured():
            self._produce_now(topic, key, value, merged, on_delivery)
            return
        span_attrs = {
            "messaging.system": "kafka",
            "messaging.operation": "publish",
            "messaging.destination.name": topic,
            **(attributes or {}),
        }
        with tracer().start_as_current_span(
            f"{topic} publish", kind=trace.SpanKind.PRODUCER, attributes=span_attrs
        ):
            trace_headers = inject_trace_headers()
            names = set(trace_headers)
            merged = [h for h in merged or [] if h[0] not in names] + list(trace_headers.items())
            self._produce_now(topic, key, value, merged, on_delivery)

    def _produce_now(
        self,
        topic: str,
        key: str | bytes | None,
        value: bytes | None,
        headers: list[tuple[str, str | bytes | None]] | None,
        on_delivery: Callable[[KafkaError | None, Message], None],
    ) -> None:
        deadline: float | None = None
        while True:
            try:
                self._producer.produce(
                    topic, value=value, key=key, headers=headers, on_delivery=on_delivery
                )
                return
            except BufferError:  # local queue full: serve delivery reports, then retry
                now = time.monotonic()
                deadline = deadline or now + self.report_deadline_s
                if now > deadline:
                    raise PublishError(
                        f"local producer queue for topic {topic!r} stayed full for "
                        f"{self.report_deadline_s:.0f}s (broker unreachable?)"
                    ) from None
                self._wait_for_room()
            except KafkaException as exc:
                raise PublishError(
                    f"cannot produce to topic {topic!r} for key {_key_text(key)!r}: "
                    f"{_describe(exc)}"
                ) from None

    def _wait_for_room(self) -> None:
        self._producer.poll(0.1)

    def _release(self) -> None:
        """Stop librdkafka's threads now rather than at garbage collection (older
        confluent-kafka versions have no ``close``)."""
        close = getattr(self._producer, "close", None)
        if not callable(close):
            return
        with contextlib.suppress(Exception):
            if len(self._producer):  # undelivered (already reported): drop, do not wait again
                self._producer.purge()
                self._producer.poll(0)
            close()


class CallEventProducer(_Core):
    """Synchronous producer; use as a context manager (flushes and raises on exit)."""

    def __init__(self, settings: Settings, **kwargs: Any) -> None:
        super().__init__(settings, **kwargs)
        self._failures: list[FailedDelivery] = []
        self._since_poll = 0

    # ---- public API --------------------------------------------------------------------
    def publish(
        self, event: CallEvent | Mapping[str, Any], *, wait: bool = False
    ) -> Delivery | None:
        """Validate, encode and send one call event (key = ``call_id``).  With ``wait`` the
        call returns the ``Delivery`` or raises ``PublishError``."""
        model = self._event(event)
        value = self._encode_event(model)
        attrs = {
            "voicebus.event_type": model.event_type.value,
            "voicebus.event_id": str(model.event_id),
        }
        return self._send(self.topic, model.call_id, value, None, wait, attrs)

    def publish_contact(
        self, contact: Contact | Mapping[str, Any], *, wait: bool = False
    ) -> Delivery | None:
        """Upsert a directory entry on ``crm.contacts`` (key ``'<crm>:<record_id>'``)."""
        model = self._contact(contact)
        return self._send(self.contacts_topic, model.key, self._encode_contact(model), None, wait)

    def delete_contact(self, crm: str, record_id: str, *, wait: bool = False) -> Delivery | None:
        """A tombstone (null value) for ``'<crm>:<record_id>'`` on ``crm.contacts``."""
        return self._send(self.contacts_topic, contact_key(crm, record_id), None, None, wait)

    def publish_raw(
        self,
        topic: str,
        key: str | bytes | None,
        value: bytes | None,
        headers: HeaderInput = None,
        *,
        wait: bool = False,
    ) -> Delivery | None:
        """Send pre-encoded bytes as they are (for tools: replay, benchmarks, fault tests)."""
        return self._send(topic, key, value, headers, wait)

    def flush(self, timeout_s: float | None = None) -> None:
        """Wait for every outstanding delivery report; raise ``PublishError`` for failures."""
        timeout = self.report_deadline_s if timeout_s is None else timeout_s
        remaining = self._producer.flush(timeout)
        failures, self._failures = self._failures, []
        if failures:
            raise PublishError.from_failures(failures)
        if remaining:
            raise PublishError(
                f"{remaining} records still undelivered after {timeout:.1f}s "
                "(broker slow or unreachable)"
            )

    def close(self) -> None:
        """Flush (raising delivery failures) and refuse further publishes."""
        if self._closed:
            return
        try:
            self.flush()
        finally:
            self._closed = True
            self._release()

    def __enter__(self) -> CallEventProducer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()
            return
        with contextlib.suppress(PublishError):  # keep the body's exception in front
            self.close()

    # ---- internals ---------------------------------------------------------------------
    def _collect_failure(self, err: KafkaError | None, msg: Message) -> None:
        """Delivery report of a fire-and-forget record: keep failures for flush/close."""
        if err is not None:
            self._failures.append(
                FailedDelivery(msg.topic() or "?", _key_text(msg.key()), _describe(err))
            )

    def _send(
        self,
        topic: str,
        key: str | bytes | None,
        value: bytes | None,
        headers: HeaderInput,
        wait: bool,
        attributes: Mapping[str, Any] | None = None,
    ) -> Delivery | None:
        if not wait:
            self._produce(topic, key, value, headers, self._collect_failure, attributes)
            # serving delivery reports costs a C round trip: do it every few records, not
            # per record (flush/close serve the rest)
            self._since_poll += 1
            if self._since_poll >= _POLL_EVERY:
                self._since_poll = 0
                self._producer.poll(0)
            return None
        outcome: list[Delivery | FailedDelivery] = []

        def on_delivery(err: KafkaError | None, msg: Message) -> None:
            if err is not None:
                outcome.append(FailedDelivery(topic, _key_text(key), _describe(err)))
            else:
                outcome.append(Delivery(msg.partition() or 0, msg.offset() or 0))

        self._produce(topic, key, value, headers, on_delivery, attributes)
        deadline = time.monotonic() + self.report_deadline_s
        while not outcome:
            if time.monotonic() > deadline:
                raise PublishError(
                    f"no delivery report for topic {topic!r}, key {_key_text(key)!r} within "
                    f"{self.report_deadline_s:.0f}s"
                )
            self._producer.poll(0.05)
        result = outcome[0]
        if isinstance(result, FailedDelivery):
            raise PublishError.from_failures([result])
        return result


def __getattr__(name: str) -> Any:
    """``AsyncCallEventProducer`` lives in ``pipeline.async_producer`` (imported on first use,
    which keeps this module small and avoids a circular import)."""
    if name == "AsyncCallEventProducer":
        from pipeline.async_producer import AsyncCallEventProducer

        return AsyncCallEventProducer
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
