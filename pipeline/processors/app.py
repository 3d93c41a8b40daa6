"""The faust app "voicebus-processors": decode, dedupe, enrich, route.

Topology (details in pipeline/processors/README.md)::

    voice.call-events --(raw bytes; Avro decoded here)--> enrich agent (micro-batches)
        undecodable -> voice.call-events.dlq (original bytes + error headers)
        per-call state: Table "calls" (key call_id, changelog-backed)
        customer:       SourceGlobalTable over crm.contacts  -> ContactIndex
        open items:     SourceGlobalTable over business.events -> BusinessContext
        -> voice.call-events.enriched (key call_id)
        -> router decisions -> redacted copies on sync.<target>

Values are raw bytes in faust; Avro goes through ``pipeline.serde.AvroCodec`` so a poison pill
is an ordinary dead letter, not a crash inside faust's deserializer.

The agent takes the stream in micro-batches (``stream.take_events``): records are processed
one by one, in order, but a call's state is written to the table (and its changelog) once per
batch instead of once per event, and the outputs go through librdkafka (``outputs.py``).  The
changelog write of a call counts as an output of each of the call's records in the batch, so
the commit gate (``offsets.SequenceGuard``) commits a source offset only once the state it
led to is stored as well.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import faust

from pipeline import headers as h
from pipeline import topics as catalogue_topics
from pipeline.config import Settings
from pipeline.observability import inject_trace_headers, span_from_headers
from pipeline.processors.business import BusinessContext
from pipeline.processors.call_state import Disposition, apply_event
from pipeline.processors.customers import ContactIndex, lookup_number
from pipeline.processors.dlq import dead_letter_headers
from pipeline.processors.enrich import build_enriched, to_avro
from pipeline.processors.faust_support import add_source_table, build_faust_app, write_table_entry
from pipeline.processors.offsets import SequenceGuard
from pipeline.processors.outputs import OutputProducer
from pipeline.processors.redaction import redact_event
from pipeline.processors.routing_hook import RouterLike, plan_routes
from pipeline.serde import AvroCodec, DecodeError, load_schema

__all__ = [
    "APP_ID",
    "BUSINESS_SCHEMA",
    "ENRICHED_SCHEMA",
    "ENRICHED_SUBJECT",
    "ProcessorStats",
    "Processors",
    "build_faust_app",
]

log = logging.getLogger(__name__)

APP_ID = "voicebus-processors"
ENRICHED_SCHEMA = "voice/enriched_call_event.avsc"
BUSINESS_SCHEMA = "business/business_event.avsc"
ENRICHED_SUBJECT = f"{catalogue_topics.ENRICHED_TOPIC}-value"
DECODE_ERROR_CLASS = "decode"
_REGISTRY_RETRY_MAX_S = 5.0
#: micro-batch bounds: at most BATCH_MAX records, or what arrived within BATCH_WINDOW_S
BATCH_MAX = 500
BATCH_WINDOW_S = 0.02
_SERVE_REPORTS_EVERY_S = 0.05
#: how often the sequence guard looks for records faust left undelivered at partition ends
_CHECK_TAILS_EVERY_S = 1.0


@dataclass
class ProcessorStats:
    """Counters of this worker since start (logged on stop; read by tests and the bench)."""

    enriched: int = 0
    replayed: int = 0
    duplicates_dropped: int = 0
    dead_lettered: int = 0
    routed: dict[str, int] = field(default_factory=dict)


def _header_list(raw: Any) -> list[tuple[str, bytes | None]]:
    if not raw:
        return []
    if isinstance(raw, Mapping):
        return [(str(k), v) for k, v in raw.items()]
    return [(str(k), v) for k, v in raw]


def _key_bytes(key: Any) -> bytes | None:
    if key is None or isinstance(key, bytes):
        return key
    return str(key).encode()


class Processors:
    """Builds the faust app and holds the state its agents use.

    ``router`` is anything with ``route(enriched) -> [RouteDecision]`` (the routing package's
    ``Router``/``RouterHolder``) or None to enrich without routing.  ``partitions`` is the
    partition count of ``voice.call-events`` (the per-call table is co-partitioned with it);
    ``ensure_topics`` returns the real count from the broker.  ``batch_max`` and
    ``batch_window_s`` bound the agent's micro-batches."""

    def __init__(
        self,
        settings: Settings,
        *,
        router: RouterLike | None = None,
        app_id: str = APP_ID,
        partitions: int = 6,
        contacts_partitions: int = 3,
        business_partitions: int = 3,
        datadir: Path | str | None = None,
        web_port: int | None = None,
        codec: AvroCodec | None = None,
        one_record_per_batch: bool | None = None,
        batch_max: int = BATCH_MAX,
        batch_window_s: float = BATCH_WINDOW_S,
    ) -> None:
        self.settings = settings
        self.router = router
        self.app_id = app_id
        self.batch_max, self.batch_window_s = batch_max, batch_window_s
        self.codec = codec or AvroCodec(settings)
        self.call_event_schema = load_schema("voice/call_event.avsc")
        self.contact_schema = load_schema("crm/contact.avsc")
        self.business_schema = load_schema(BUSINESS_SCHEMA)
        self.enriched_schema = load_schema(ENRICHED_SCHEMA)
        self.contacts = ContactIndex()
        self.business = BusinessContext()
        self.stats = ProcessorStats()
        self.outputs = OutputProducer(settings, one_record_per_batch=one_record_per_batch)
        self.sequence = SequenceGuard(self, settings, topics=[catalogue_topics.CALL_EVENTS_TOPIC])
        self.app = build_faust_app(
            settings,
            app_id,
            partitions=partitions,
            datadir=datadir,
            web_port=web_port,
            one_record_per_batch=one_record_per_batch,
        )
        # source offsets are committed only past records whose outputs were acknowledged
        self.app.commit_gate = self.sequence
        self._raw: Any = faust.Schema(key_serializer="raw", value_serializer="raw")
        self.source = self.app.topic(
            catalogue_topics.CALL_EVENTS_TOPIC, schema=self._raw, partitions=partitions
        )
        self.calls = self.app.Table(
            "calls",
            default=None,
            partitions=partitions,
            # no Schema: faust tables ignore a Schema's serializers and use JSON for keys
            # and values; keys are str so the changelog decodes to what the agent writes
            help="per-call state (call_state.apply_event), key call_id",
        )
        contacts_topic = self.app.topic(
            catalogue_topics.CONTACTS_TOPIC, schema=self._raw, partitions=contacts_partitions
        )
        self.contacts_table = add_source_table(
            self.app, "contacts", contacts_topic, contacts_partitions
        )
        self.contacts_table.on_apply = self._apply_contact
        business_topic = self.app.topic(
            catalogue_topics.BUSINESS_EVENTS_TOPIC, schema=self._raw, partitions=business_partitions
        )
        self.business_table = add_source_table(
            self.app, "business", business_topic, business_partitions
        )
        self.business_table.on_apply = self._apply_business_event
        self.app.agent(self.source, name=f"{app_id}.enrich")(self._enrich_agent)
        self.app.timer(_SERVE_REPORTS_EVERY_S, name=f"{app_id}.delivery-reports")(
            self._serve_reports
        )
        self.app.timer(_CHECK_TAILS_EVERY_S, name=f"{app_id}.tail-check")(self._check_tails)

    # ---- side inputs ------------------------------------------------------------------------
    def _apply_contact(self, key: bytes, value: bytes | None) -> None:
        contact_key = key.decode("utf-8", "replace")
        if value is None:
            self.contacts.apply(contact_key, None)
            return
        try:
            contact = self.codec.decode(value, self.contact_schema)
        except DecodeError as exc:
            log.warning("crm.contacts record %s ignored: %s (%s)", contact_key, exc, exc.reason)
            return
        self.contacts.apply(contact_key, contact)

    def _apply_business_event(self, key: bytes, value: bytes | None) -> None:
        if value is None:
            return
        try:
            event = self.codec.decode(value, self.business_schema)
        except DecodeError as exc:
            log.warning("business.events record ignored: %s (%s)", exc, exc.reason)
            return
        self.business.apply(event)

    # ---- the stream -------------------------------------------------------------------------
    async def _enrich_agent(self, stream: Any) -> None:
        async for events in stream.take_events(self.batch_max, within=self.batch_window_s):
            await self.sequence.handle_batch([event.message for event in events])

    async def _serve_reports(self) -> None:
        self.outputs.serve()

    async def _check_tails(self) -> None:
        await self.sequence.check_tails()

    async def flush(self) -> None:
        """Every output and changelog write sent so far gets its delivery report."""
        await self.outputs.flush()
        await self.app.producer.flush()

    async def _decode(self, message: Any) -> dict[str, Any]:
        delay = 0.2
        while True:
            try:
                record = self.codec.decode(message.value, self.call_event_schema)
            except DecodeError as exc:
                if exc.reason != "registry-unavailable":
                    raise
                # an outage, not a bad record: wait (offsets stay uncommitted) and try again
                log.warning("%s; retrying in %.1f s", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, _REGISTRY_RETRY_MAX_S)
                continue
            if not isinstance(record, dict):
                raise DecodeError("malformed", "decoded value is not a CallEvent record")
            return record

    async def process_batch(self, records: Sequence[Any]) -> list[list[Awaitable[Any]]]:
        """Handle records of voice.call-events (faust Messages or anything alike), in order;
        returns, per record, the futures of what it produced, including the changelog write
        of the call state it changed (the commit gate waits for them)."""
        produced: list[list[Awaitable[Any]]] = []
        states: dict[str, dict[str, Any]] = {}  # call_id -> state after this batch so far
        changed: dict[str, int] = {}  # call_id -> source partition, for calls to write back
        waiting: dict[str, list[list[Awaitable[Any]]]] = {}  # call_id -> outputs lists
        for record in records:
            outputs: list[Awaitable[Any]] = []
            produced.append(outputs)
            try:
                event = await self._decode(record)
            except DecodeError as exc:
                outputs.append(self._dead_letter(record, f"{exc.reason}: {exc}"))
                continue
            call_id = str(event["call_id"])
            state = states[call_id] if call_id in states else self.calls.get(call_id)
            update = apply_event(state, event, int(record.offset))
            if update.disposition is Disposition.DUPLICATE:
                self.stats.duplicates_dropped += 1
                continue
            if update.disposition is Disposition.NEW:
                states[call_id] = update.state
                changed[call_id] = int(record.partition)
            else:
                self.stats.replayed += 1
            waiting.setdefault(call_id, []).append(outputs)
            outputs += self._emit(record, event, update.state)
        for call_id, partition in changed.items():
            stored = write_table_entry(self.calls, call_id, states[call_id], partition)
            for outputs in waiting[call_id]:
                outputs.append(stored)
        self.outputs.serve()
        return produced

    def _emit(
        self, record: Any, event: dict[str, Any], state: dict[str, Any]
    ) -> list[Awaitable[Any]]:
        """Send the enriched record of ``event`` and its routed copies."""
        call_id = str(event["call_id"])
        key = call_id.encode()
        customer = self.contacts.match(str(event["tenant_id"]), lookup_number(state))
        self.business.annotate(customer)
        enriched = build_enriched(event, state, customer)
        trace = self._trace_headers(record, enriched["event_id"], call_id)
        value = self.codec.encode(
            to_avro(enriched), subject=ENRICHED_SUBJECT, schema=self.enriched_schema
        )
        outputs: list[Awaitable[Any]] = [
            self.outputs.send(catalogue_topics.ENRICHED_TOPIC, key, value, trace)
        ]
        for routed in plan_routes(enriched, self.router, redact_event, trace):
            encoded = self.codec.encode(
                to_avro(routed.value), subject=f"{routed.topic}-value", schema=self.enriched_schema
            )
            outputs.append(self.outputs.send(routed.topic, key, encoded, routed.headers))
            self.stats.routed[routed.target] = self.stats.routed.get(routed.target, 0) + 1
        self.stats.enriched += 1
        return outputs

    @staticmethod
    def _trace_headers(record: Any, event_id: str, call_id: str) -> list[tuple[str, bytes]]:
        """Continue the producer's trace (never start one here): a consumer span when the
        record carries a traceparent, its context on the outputs."""
        incoming = {
            k: v.decode("latin-1")
            for k, v in _header_list(getattr(record, "headers", None))
            if k in (h.TRACEPARENT, h.TRACESTATE) and v is not None
        }
        if h.TRACEPARENT not in incoming:
            return []
        with span_from_headers(
            "voicebus.processors.enrich",
            incoming,
            {"voicebus.event_id": event_id, "voicebus.call_id": call_id},
        ):
            trace = [(k, v.encode()) for k, v in inject_trace_headers().items()]
        return trace or [(k, v.encode("latin-1")) for k, v in incoming.items()]

    def _dead_letter(self, message: Any, error: str) -> Awaitable[Any]:
        self.stats.dead_lettered += 1
        topic, partition, offset = message.topic, int(message.partition), int(message.offset)
        log.warning("dead-lettering %s[%s]@%s: %s", topic, partition, offset, error)
        return self.outputs.send(
            catalogue_topics.CALL_EVENTS_DLQ_TOPIC,
            _key_bytes(message.key),
            message.value,
            dead_letter_headers(
                _header_list(getattr(message, "headers", None)),
                error_class=DECODE_ERROR_CLASS,
                message=error,
                topic=topic,
                partition=partition,
                offset=offset,
            ),
        )


def internal_topic_specs(app_id: str, partitions: int) -> list[catalogue_topics.TopicSpec]:
    """faust's own topics, created up front with the right counts (faust would auto-create
    them too, but with topic_partitions and whatever the broker defaults to)."""
    return [
        catalogue_topics.TopicSpec(
            f"{app_id}-calls-changelog",
            partitions,
            1,
            {"cleanup.policy": "compact", "retention.ms": "-1"},
        ),
        catalogue_topics.TopicSpec(f"{app_id}-__assignor-__leader", 1, 1, {}),
    ]


def ensure_topics(
    settings: Settings, *, app_id: str = APP_ID, targets: Sequence[str] | None = None
) -> dict[str, int]:
    """Create every topic the worker reads or writes (catalogue + faust internals) and return
    the actual partition counts of its inputs.  Raises ``RuntimeError`` naming the topics the
    broker refused."""
    from confluent_kafka.admin import AdminClient

    specs = catalogue_topics.catalogue(targets if targets is not None else None)
    changes = catalogue_topics.apply_topics(settings, specs)
    admin = AdminClient(settings.admin_conf())
    meta = admin.list_topics(timeout=settings.request_timeout_s)
    source = meta.topics.get(catalogue_topics.CALL_EVENTS_TOPIC)
    partitions = len(source.partitions) if source is not None else 6
    changes += catalogue_topics.apply_topics(settings, internal_topic_specs(app_id, partitions))
    errors = [f"{c.topic}: {c.detail}" for c in changes if c.action == "error"]
    if errors:
        raise RuntimeError("cannot prepare the processors' topics: " + "; ".join(errors))
    meta = admin.list_topics(timeout=settings.request_timeout_s)

    def count(name: str, default: int) -> int:
        topic = meta.topics.get(name)
        return len(topic.partitions) if topic is not None else default

    changelog = count(f"{app_id}-calls-changelog", partitions)
    if changelog != partitions:
        raise RuntimeError(
            f"{app_id}-calls-changelog has {changelog} partitions but "
            f"{catalogue_topics.CALL_EVENTS_TOPIC} has {partitions}; they must match "
            "(delete the changelog topic; it is rebuilt from the events)"
        )
    return {
        "partitions": partitions,
        "contacts_partitions": count(catalogue_topics.CONTACTS_TOPIC, 3),
        "business_partitions": count(catalogue_topics.BUSINESS_EVENTS_TOPIC, 3),
    }
