"""faust-streaming plumbing: client tuning, commit gating, table writes from a batch, and
global tables read from an existing topic.

What faust does not offer as settings, each a small subclass or helper instead of a fork:

- ``fetch_max_wait_ms`` is hard-coded to 1500 ms in faust's aiokafka consumer.  Tansu does not
  wake a waiting fetch when data arrives, so every hop would cost ~0.75 s; the dev profile
  sets it to 20 ms (``TunedApp(fetch_max_wait_ms=...)``).
- ``GlobalTable(changelog_topic=<existing topic>)`` hangs the group: faust's partition assignor
  looks the changelog up by the *default* name ``<app>-<table>-changelog`` (KeyError inside
  the assignment, the group never syncs).  ``SourceGlobalTable`` reports the real topic name.
- Derived state: ``SourceGlobalTable.on_apply`` sees every record applied from the source
  topic, in order, during recovery and afterwards, so indexes (number -> contacts, customer
  -> open deals) stay exactly in step with the table.
- Commit gating (``TunedApp.commit_gate``): faust commits the offsets it considers acked, and
  it acks records it skips without handing them to the stream (fetched under an older consumer
  generation, or while the flow is suspended).  For the gate's topics the consumer commits the
  gate's ``committable()`` offsets instead, after flushing the producer, so a committed offset
  never passes a record whose outputs were not produced and acknowledged.
- Table writes from a micro-batch (``write_table_entry``): ``table[key] = value`` takes the
  changelog partition from the *current* event, which in a batch is the last one taken, not
  the record that changed the key; the helper names the partition and returns the changelog
  write's future, so the commit gate can wait for it.
- ``QuietWorker``: at a log level of WARNING or above faust's ``Worker`` hooks its terminal
  spinner into the root logger and sets the root logger to DEBUG, so every ``log.debug`` in
  faust and aiokafka (several per record sent) builds a LogRecord.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, Protocol

import faust
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP, EventT, TableT, TransportT
from faust.types.tuples import FutureMessage

from pipeline.config import Profile, Settings

__all__ = [
    "CommitGate",
    "QuietWorker",
    "SourceGlobalTable",
    "TunedApp",
    "add_source_table",
    "build_faust_app",
    "write_table_entry",
]

log = logging.getLogger(__name__)


class _TunedConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        wait_ms = getattr(self.app, "fetch_max_wait_ms", None)
        if wait_ms is not None:
            # read by AIOKafkaConsumer.start() when it builds its Fetcher
            consumer._fetch_max_wait_ms = int(wait_ms)
        return consumer


class CommitGate(Protocol):
    """Decides the committed offsets of ``topics`` (see ``offsets.SequenceGuard``)."""

    topics: frozenset[str]

    def has_pending(self) -> bool: ...

    async def flush(self) -> None: ...

    def committable(self) -> Mapping[Any, int]: ...


class _TunedConsumer(faust_aiokafka.Consumer):
    def _new_consumer_thread(self) -> faust_aiokafka.AIOKafkaConsumerThread:
        return _TunedConsumerThread(self, loop=self.loop, beacon=self.beacon)

    async def force_commit(self, topics: Any = None, start_new_transaction: bool = True) -> bool:
        # every faust commit (periodic, on rebalance, on stop) comes through here: deliver
        # what was produced so far, so the gate can count those records as done
        gate: CommitGate | None = getattr(self.app, "commit_gate", None)
        if gate is not None and gate.has_pending():
            await gate.flush()
        return bool(await super().force_commit(topics, start_new_transaction=start_new_transaction))

    def _filter_committable_offsets(self, tps: Iterable[TP]) -> dict[TP, int]:
        offsets: dict[TP, int] = super()._filter_committable_offsets(tps)
        gate: CommitGate | None = getattr(self.app, "commit_gate", None)
        if gate is None:
            return offsets
        # faust's ack-derived offsets may pass records it skipped: never use them for the
        # gate's topics
        offsets = {tp: off for tp, off in offsets.items() if tp.topic not in gate.topics}
        for tp, off in gate.committable().items():
            if self._should_commit(tp, off):
                offsets[tp] = off
        return offsets


class _TunedTransport(faust_aiokafka.Transport):
    Consumer = _TunedConsumer


class TunedApp(faust.App):
    """A faust App on the aiokafka transport with a configurable fetch wait and an optional
    ``commit_gate`` deciding the committed offsets of its topics."""

    commit_gate: CommitGate | None = None

    def __init__(self, *args: Any, fetch_max_wait_ms: int | None = None, **kwargs: Any) -> None:
        self.fetch_max_wait_ms = fetch_max_wait_ms
        super().__init__(*args, **kwargs)

    def _new_transport(self) -> TransportT:
        return _TunedTransport(self.conf.broker_consumer, self)

    def _new_producer_transport(self) -> TransportT:
        return _TunedTransport(self.conf.broker_producer, self)


class SourceGlobalTable(faust.GlobalTable):
    """A GlobalTable materialised from an existing topic (raw bytes in, raw bytes stored).

    ``on_apply(key, value)`` is called for every record applied, in offset order per
    partition; ``value`` is None for a tombstone."""

    on_apply: Callable[[bytes, bytes | None], None] | None = None

    def _changelog_topic_name(self) -> str:
        topic = getattr(self, "_changelog_topic", None)
        if topic is not None:
            return str(topic.get_topic_name())
        return str(super()._changelog_topic_name())

    def apply_changelog_batch(self, batch: Iterable[EventT]) -> None:
        events = list(batch)
        super().apply_changelog_batch(events)
        hook = self.on_apply
        if hook is None:
            return
        for event in events:
            key = event.message.key
            if key is None:
                log.warning(
                    "%s: record without key at %s[%s]@%s ignored (the topic is keyed)",
                    self.name,
                    event.message.topic,
                    event.message.partition,
                    event.message.offset,
                )
                continue
            raw_key = key if isinstance(key, bytes) else str(key).encode()
            hook(raw_key, event.message.value)


def add_source_table(
    app: faust.App, name: str, topic: faust.TopicT, partitions: int
) -> SourceGlobalTable:
    """Register a ``SourceGlobalTable`` over ``topic`` (what ``app.GlobalTable`` does, with
    our class, and buffers of 1 so each record is applied as it arrives)."""
    table = SourceGlobalTable(
        app,
        name=name,
        beacon=app.tables.beacon,
        partitions=partitions,
        changelog_topic=topic,
        schema=faust.Schema(key_serializer="raw", value_serializer="raw"),
        recovery_buffer_size=1,
        standby_buffer_size=1,
        # every worker reads every partition (what app.GlobalTable passes; without it the
        # assignor hands each worker only its share of the topic)
        is_global=True,
    )
    return app.tables.add(table)  # type: ignore[return-value]


def write_table_entry(
    table: TableT[Any, Any], key: Any, value: Any, partition: int
) -> FutureMessage:
    """``table[key] = value`` with the changelog record sent to ``partition`` (the partition of
    the source record that changed ``key``); returns the changelog write, which resolves once
    the broker acknowledged it.  Why not ``table[key] = value``: see the module docstring.
    For plain tables only (a windowed table also tracks key expiry on a set)."""
    table.data[key] = value
    written: FutureMessage = table.send_changelog(partition, key, value)
    return written


class QuietWorker(faust.Worker):
    """``faust.Worker`` without the terminal spinner (module docstring: it turns on DEBUG for
    the root logger).  The worker of ``voicebus process`` and the benchmark's baseline."""

    def on_setup_root_logger(self, logger: logging.Logger, level: int) -> None:
        self.spinner = None
        super().on_setup_root_logger(logger, level)


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
