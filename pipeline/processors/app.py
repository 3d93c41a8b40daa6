"""The faust app "voicebus-processors": decode, dedupe, enrich, route.

Topology (details in pipeline/processors/README.md)::

    voice.call-events --(raw bytes; Avro decoded here)--> enrich agent
        undecodable -> voice.call-events.dlq (original bytes + error headers)
        per-call state: Table "calls" (key call_id, changelog-backed)
        customer:       SourceGlobalTable over crm.contacts  -> ContactIndex
        open items:     SourceGlobalTable over business.events -> BusinessContext
        -> voice.call-events.enriched (key call_id)
        -> router decisions -> redacted copies on sync.<target>

Values are raw bytes in faust; Avro goes through ``pipeline.serde.AvroCodec`` so a poison pill
is an ordinary dead letter, not a crash inside faust's deserializer.
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
from pipeline.config import Profile, Settings
from pipeline.observability import inject_trace_headers, span_from_headers
from pipeline.processors.business import BusinessContext
from pipeline.processors.call_state import Disposition, apply_event
from pipeline.processors.customers import ContactIndex, lookup_number
from pipeline.processors.dlq import dead_letter_headers
from pipeline.processors.enrich import build_enriched, to_avro
from pipeline.processors.faust_support import TunedApp, add_source_table
from pipeline.processors.offsets import SequenceGuard
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
]

log = logging.getLogger(__name__)

APP_ID = "voicebus-processors"
ENRICHED_SCHEMA = "voice/enriched_call_event.avsc"
BUSINESS_SCHEMA = "business/business_event.avsc"
ENRICHED_SUBJECT = f"{catalogue_topics.ENRICHED_TOPIC}-value"
DECODE_ERROR_CLASS = "decode"
_REGISTRY_RETRY_MAX_S = 5.0


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
    ``ensure_topics`` returns the real count from the broker."""

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
    ) -> None:
        self.settings = settings
        self.one_record_per_batch = one_record_per_batch
        self.router = router
        self.app_id = app_id
        self.codec = codec or AvroCodec(settings)
        self.call_event_schema = load_schema("voice/call_event.avsc")
        self.contact_schema = load_schema("crm/contact.avsc")
        self.business_schema = load_schema(BUSINESS_SCHEMA)
        self.enriched_schema = load_schema(ENRICHED_SCHEMA)
        self.contacts = ContactIndex()
        self.business = BusinessContext()
        self.stats = ProcessorStats()
        self.sequence = SequenceGuard(self, settings, topics=[catalogue_topics.CALL_EVENTS_TOPIC])
        self.app = self._build_app(datadir, web_port, partitions)
        # source offsets are committed only past records whose outputs were acknowledged
        self.app.commit_gate = self.sequence
        self._raw: Any = faust.Schema(key_serializer="raw", value_serializer="raw")
        self.source = self.app.topic(
            catalogue_topics.CALL_EVENTS_TOPIC, schema=self._raw, partitions=partitions
        )
        self.enriched = self.app.topic(catalogue_topics.ENRICHED_TOPIC, schema=self._raw)
        self.dlq = self.app.topic(catalogue_topics.CALL_EVENTS_DLQ_TOPIC, schema=self._raw)
        self._sync_topics: dict[str, faust.TopicT] = {}
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

    # ---- faust app ----------------------------------------------------------------------
    def _build_app(self, datadir: Path | str | None, web_port: int | None, partitions: int) -> Any:
        return build_faust_app(
            self.settings,
            self.app_id,
            partitions=partitions,
            datadir=datadir,
            web_port=web_port,
            one_record_per_batch=self.one_record_per_batch,
        )

    def sync_topic(self, name: str) -> faust.TopicT:
        topic = self._sync_topics.get(name)
        if topic is None:
            topic = self._sync_topics[name] = self.app.topic(name, schema=self._raw)
        return topic

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
        async for event in stream.events():
            await self.sequence.handle(event.message)

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

    async def process(self, message: Any) -> list[Awaitable[Any]]:
        """Handle one record of voice.call-events (faust Message or anything alike); returns
        the delivery futures of what it produced (the commit gate waits for them)."""
        try:
            record = await self._decode(message)
        except DecodeError as exc:
            return [await self._dead_letter(message, f"{exc.reason}: {exc}")]
        call_id = str(record["call_id"])
        key = call_id.encode()
        update = apply_event(self.calls.get(call_id), record, int(message.offset))
        if update.disposition is Disposition.DUPLICATE:
            self.stats.duplicates_dropped += 1
            return []
        if update.disposition is Disposition.NEW:
            self.calls[call_id] = update.state
        else:
            self.stats.replayed += 1
        customer = self.contacts.match(str(record["tenant_id"]), lookup_number(update.state))
        self.business.annotate(customer)
        enriched = build_enriched(record, update.state, customer)
        incoming = {
            k: v.decode("latin-1")
            for k, v in _header_list(getattr(message, "headers", None))
            if k in (h.TRACEPARENT, h.TRACESTATE) and v is not None
        }
        trace: list[tuple[str, bytes]] = []
        if h.TRACEPARENT in incoming:  # continue the producer's trace; never start one here
            with span_from_headers(
                "voicebus.processors.enrich",
                incoming,
                {"voicebus.event_id": enriched["event_id"], "voicebus.call_id": call_id},
            ):
                trace = [(k, v.encode()) for k, v in inject_trace_headers().items()]
            trace = trace or [(k, v.encode("latin-1")) for k, v in incoming.items()]
        value = self.codec.encode(
            to_avro(enriched), subject=ENRICHED_SUBJECT, schema=self.enriched_schema
        )
        outputs = [await self.enriched.send(key=key, value=value, headers=trace)]
        for routed in plan_routes(enriched, self.router, redact_event, trace):
            encoded = self.codec.encode(
                to_avro(routed.value), subject=f"{routed.topic}-value", schema=self.enriched_schema
            )
            sync = self.sync_topic(routed.topic)
            outputs.append(await sync.send(key=key, value=encoded, headers=routed.headers))
            self.stats.routed[routed.target] = self.stats.routed.get(routed.target, 0) + 1
        self.stats.enriched += 1
        return outputs

    async def _dead_letter(self, message: Any, error: str) -> Awaitable[Any]:
        self.stats.dead_lettered += 1
        topic, partition, offset = message.topic, int(message.partition), int(message.offset)
        log.warning("dead-lettering %s[%s]@%s: %s", topic, partition, offset, error)
        return await self.dlq.send(
            key=_key_bytes(message.key),
            value=message.value,
            headers=dead_letter_headers(
                _header_list(getattr(message, "headers", None)),
                error_class=DECODE_ERROR_CLASS,
                message=error,
                topic=topic,
                partition=partition,
                offset=offset,
            ),
        )


def build_faust_app(
    settings: Settings,
    app_id: str,
    *,
    partitions: int,
    datadir: Path | str | None = None,
    web_port: int | None = None,
    one_record_per_batch: bool | None = None,
) -> TunedApp:
    """A faust app with the processors' client settings (also used by the benchmark's
    passthrough baseline, so both run with identical tuning).

    ``one_record_per_batch`` defaults to the dev profile, like ``Settings.producer_conf``: on
    Tansu the changelog end offsets that faust's recovery reads are only exact with one record
    per batch.  ``False`` keeps faust's normal producer batching (what the prod profile uses)
    and every other dev setting; for runs that never recover a changelog, e.g. the benchmark."""
    s = settings
    dev = s.profile is Profile.DEV
    if one_record_per_batch is None:
        one_record_per_batch = dev
    data_root = Path(datadir or Path(s.state_dir) / "processors")
    (data_root / app_id).mkdir(parents=True, exist_ok=True)
    conf: dict[str, Any] = {
        "broker": [f"kafka://{hp.strip()}" for hp in s.bootstrap_servers.split(",")],
        "broker_client_id": s.client_id,
        "store": "memory://",  # state is rebuilt from the changelogs (README: State)
        "processing_guarantee": "at_least_once",  # exactly_once needs aiokafka txns
        "topic_partitions": partitions,
        "topic_replication_factor": 1 if dev else 3,
        "table_standby_replicas": 0,
        "consumer_auto_offset_reset": "earliest",
        "web_enabled": web_port is not None,
        "web_port": web_port or 6066,
        "datadir": str(data_root / "{conf.name}"),
        "broker_credentials": _credentials(s),
    }
    if dev:
        conf.update(
            broker_session_timeout=6.0,
            broker_heartbeat_interval=1.0,
            broker_rebalance_timeout=6.0,
        )
    if one_record_per_batch:
        # exact end offsets on Tansu (BROKER.md); costs one produce batch per record
        conf.update(producer_max_batch_size=1, producer_linger_ms=0)
    return TunedApp(app_id, fetch_max_wait_ms=20 if dev else None, autodiscover=False, **conf)


def _credentials(settings: Settings) -> Any:
    """faust credentials from ``Settings.security`` (None for PLAINTEXT)."""
    sec = settings.security
    proto = sec.protocol.value
    if proto == "PLAINTEXT":
        return None
    from aiokafka.helpers import create_ssl_context

    ssl_context = None
    if proto in ("SSL", "SASL_SSL"):
        ssl_context = create_ssl_context(
            cafile=sec.ssl_ca_location,
            certfile=sec.ssl_certificate_location,
            keyfile=sec.ssl_key_location,
            password=sec.ssl_key_password.get_secret_value() if sec.ssl_key_password else None,
        )
    if proto == "SSL":
        return faust.SSLCredentials(ssl_context)
    return faust.SASLCredentials(
        username=sec.sasl_username,
        password=sec.sasl_password.get_secret_value() if sec.sasl_password else None,
        mechanism=sec.sasl_mechanism.value if sec.sasl_mechanism else "PLAIN",
        ssl_context=ssl_context,
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
