"""The topic catalogue: every topic voicebus uses, declared once, applied idempotently.

``catalogue()`` lists the topics with their final partition counts and configs (topics are
always created explicitly: auto-created topics get surprise partition counts, and not every
broker can add partitions later).  ``apply_topics()`` creates the missing ones, reconciles
configs with IncrementalAlterConfigs and reports what it cannot fix (a partition-count
mismatch, a change the broker refuses) as a ``TopicChange`` with ``action="error"`` or
``"warning"`` instead of raising: one bad topic never stops the others.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from confluent_kafka import KafkaException
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewPartitions,
    NewTopic,
)

from pipeline.config import Settings

__all__ = [
    "BUSINESS_EVENTS_TOPIC",
    "CALL_EVENTS_DLQ_TOPIC",
    "CALL_EVENTS_TOPIC",
    "CONFLICTS_TOPIC",
    "CONTACTS_TOPIC",
    "ENRICHED_TOPIC",
    "SYNC_LEDGER_TOPIC",
    "SYNC_TARGETS",
    "TopicChange",
    "TopicSpec",
    "apply_topics",
    "catalogue",
    "sync_dlq_topic",
    "sync_retry_topic",
    "sync_topic",
]

CALL_EVENTS_TOPIC = "voice.call-events"
ENRICHED_TOPIC = "voice.call-events.enriched"
CALL_EVENTS_DLQ_TOPIC = "voice.call-events.dlq"
CONTACTS_TOPIC = "crm.contacts"
BUSINESS_EVENTS_TOPIC = "business.events"
CONFLICTS_TOPIC = "sync.conflicts"
SYNC_LEDGER_TOPIC = "_voicebus.sync-ledger"
# Internal state topics their owners also create on first use (names kept in step by a test):
# sink barriers, DLQ purge floors, replay tasks (compacted, 1 partition) and the control topic.
INTERNAL_COMPACTED_TOPICS = ("_voicebus.barriers", "_voicebus.dlq-floors", "_voicebus.replay-tasks")
CONTROL_TOPIC = "_voicebus.control"
SYNC_TARGETS: tuple[str, ...] = (
    "salesforce",
    "hubspot",
    "zendesk",
    "servicenow",
    "slack",
    "teams",
    "gmail",
    "outlook",
    "webhook",
)

DAY_MS = 24 * 3600 * 1000
_STREAM_PARTITIONS = 6  # call streams: parallelism across calls, order per call
_SIDE_PARTITIONS = 3  # retry / contacts / ledger: moderate volume
_DLQ_PARTITIONS = 1  # dead letters: low volume, inspected in arrival order


def sync_topic(target: str) -> str:
    return f"sync.{target}"


def sync_retry_topic(target: str) -> str:
    return f"sync.{target}.retry"


def sync_dlq_topic(target: str) -> str:
    return f"sync.{target}.dlq"


@dataclass(frozen=True)
class TopicSpec:
    """One topic as it should exist."""

    name: str
    partitions: int
    replication_factor: int = 1
    config: dict[str, str] = field(default_factory=dict)

    @property
    def cleanup_policy(self) -> str:
        return self.config.get("cleanup.policy", "delete")


ChangeAction = Literal["create", "update-config", "add-partitions", "unchanged", "warning", "error"]


@dataclass(frozen=True)
class TopicChange:
    """What ``apply_topics`` did (or, with ``dry_run``, would do) to one topic."""

    topic: str
    action: ChangeAction
    detail: str
    applied: bool = False


def _delete(retention_days: int) -> dict[str, str]:
    return {"cleanup.policy": "delete", "retention.ms": str(retention_days * DAY_MS)}


def _compact() -> dict[str, str]:
    # retention.ms=-1: a compacted directory/ledger keeps the latest value per key forever
    return {"cleanup.policy": "compact", "retention.ms": "-1"}


def catalogue(
    source: Settings | Iterable[str] | None = None,
    *,
    replication_factor: int = 1,
) -> list[TopicSpec]:
    """Every voicebus topic.  ``source`` is the list of sync targets (default: all built-in
    connectors; a ``Settings`` means the defaults too).  ``replication_factor`` is 1 for the
    embedded broker; use 3 on a production cluster."""
    targets: Sequence[str] = (
        SYNC_TARGETS if source is None or isinstance(source, Settings) else tuple(source)
    )
    rf = replication_factor

    def spec(name: str, partitions: int, config: dict[str, str]) -> TopicSpec:
        return TopicSpec(name, partitions, rf, config)

    specs = [
        spec(CALL_EVENTS_TOPIC, _STREAM_PARTITIONS, _delete(7)),
        spec(ENRICHED_TOPIC, _STREAM_PARTITIONS, _delete(7)),
        spec(CALL_EVENTS_DLQ_TOPIC, _DLQ_PARTITIONS, _delete(30)),
        spec(CONTACTS_TOPIC, _SIDE_PARTITIONS, _compact()),
        spec(BUSINESS_EVENTS_TOPIC, _SIDE_PARTITIONS, _delete(7)),
    ]
    for target in targets:
        specs += [
            spec(sync_topic(target), _STREAM_PARTITIONS, _delete(7)),
            # the sink writes retry and dead-letter copies to their source partition index
            spec(sync_retry_topic(target), _STREAM_PARTITIONS, _delete(7)),
            spec(sync_dlq_topic(target), _STREAM_PARTITIONS, _delete(30)),
        ]
    specs += [
        spec(CONFLICTS_TOPIC, _DLQ_PARTITIONS, _delete(30)),
        spec(SYNC_LEDGER_TOPIC, _SIDE_PARTITIONS, _compact()),
        *(spec(name, 1, _compact()) for name in INTERNAL_COMPACTED_TOPICS),
        spec(CONTROL_TOPIC, 1, _delete(7)),
    ]
    return specs


def _error_text(exc: BaseException) -> str:
    if isinstance(exc, KafkaException) and exc.args:
        err = exc.args[0]
        name = getattr(err, "name", None)
        text = getattr(err, "str", None)
        if callable(name) and callable(text):
            return f"{name()}: {text()}"
    return f"{type(exc).__name__}: {exc}"


class _Applier:
    def __init__(self, settings: Settings, dry_run: bool) -> None:
        self.admin = AdminClient(settings.admin_conf())
        self.timeout = settings.request_timeout_s
        self.dry_run = dry_run

    def create(self, spec: TopicSpec) -> TopicChange:
        detail = (
            f"{spec.partitions} partitions, replication {spec.replication_factor}, "
            + ", ".join(f"{k}={v}" for k, v in spec.config.items())
        )
        if self.dry_run:
            return TopicChange(spec.name, "create", detail)
        new = NewTopic(spec.name, spec.partitions, spec.replication_factor, config=spec.config)
        future = self.admin.create_topics([new], request_timeout=self.timeout)[spec.name]
        try:
            future.result(timeout=self.timeout)
        except KafkaException as exc:
            return TopicChange(
                spec.name, "error", f"broker refused to create it: {_error_text(exc)}"
            )
        return TopicChange(spec.name, "create", detail, applied=True)

    def partitions(self, spec: TopicSpec, actual: int) -> TopicChange | None:
        if actual == spec.partitions:
            return None
        if actual > spec.partitions:
            return TopicChange(
                spec.name,
                "warning",
                f"has {actual} partitions, catalogue says {spec.partitions}; Kafka cannot "
                "remove partitions (recreate the topic if the count matters)",
            )
        want = f"has {actual} partitions, catalogue says {spec.partitions}"
        if self.dry_run:
            return TopicChange(spec.name, "warning", f"{want}; would add partitions")
        future = self.admin.create_partitions(
            [NewPartitions(spec.name, spec.partitions)], request_timeout=self.timeout
        )[spec.name]
        try:
            future.result(timeout=self.timeout)
        except KafkaException as exc:
            return TopicChange(
                spec.name,
                "error",
                f"{want}; the broker refused to add partitions ({_error_text(exc)}). "
                "Recreate the topic with the catalogue's count, or add them with the "
                "cluster's own tools",
            )
        return TopicChange(spec.name, "add-partitions", f"{want}; partitions added", applied=True)

    def configs(self, spec: TopicSpec) -> TopicChange | None:
        resource = ConfigResource("topic", spec.name)
        try:
            described = self.admin.describe_configs([resource], request_timeout=self.timeout)
            current = {k: e.value for k, e in described[resource].result(self.timeout).items()}
        except KafkaException as exc:
            return TopicChange(spec.name, "warning", f"cannot read its configs: {_error_text(exc)}")
        diff = {k: v for k, v in spec.config.items() if current.get(k) != v}
        if not diff:
            return None
        detail = ", ".join(f"{k}: {current.get(k)!r} -> {v!r}" for k, v in diff.items())
        if self.dry_run:
            return TopicChange(spec.name, "update-config", detail)
        entries = [
            ConfigEntry(k, v, incremental_operation=AlterConfigOpType.SET) for k, v in diff.items()
        ]
        update = ConfigResource("topic", spec.name, incremental_configs=entries)
        try:
            self.admin.incremental_alter_configs([update], request_timeout=self.timeout)[
                update
            ].result(self.timeout)
        except KafkaException as exc:
            return TopicChange(
                spec.name, "error", f"broker refused config change ({detail}): {_error_text(exc)}"
            )
        return TopicChange(spec.name, "update-config", detail, applied=True)


def apply_topics(
    settings: Settings, specs: Iterable[TopicSpec], *, dry_run: bool = False
) -> list[TopicChange]:
    """Make the broker match ``specs``; one ``TopicChange`` per topic (``unchanged`` included).
    Never raises for a single topic's problem; raises ``KafkaException`` only when the broker
    cannot be reached at all."""
    applier = _Applier(settings, dry_run)
    metadata = applier.admin.list_topics(timeout=settings.request_timeout_s)
    changes: list[TopicChange] = []
    for spec in specs:
        existing = metadata.topics.get(spec.name)
        if existing is None or existing.error is not None:
            changes.append(applier.create(spec))
            continue
        found = [
            c
            for c in (applier.partitions(spec, len(existing.partitions)), applier.configs(spec))
            if c is not None
        ]
        changes += found or [TopicChange(spec.name, "unchanged", "matches the catalogue")]
    return changes


def describe_topics(settings: Settings) -> list[TopicSpec]:
    """Every topic on the broker as a ``TopicSpec`` (partitions, replication, configs)."""
    admin = AdminClient(settings.admin_conf())
    metadata = admin.list_topics(timeout=settings.request_timeout_s)
    names = sorted(n for n, t in metadata.topics.items() if t.error is None)
    resources = [ConfigResource("topic", name) for name in names]
    configs: dict[str, dict[str, str]] = {}
    if resources:
        for resource, future in admin.describe_configs(
            resources, request_timeout=settings.request_timeout_s
        ).items():
            try:
                entries = future.result(settings.request_timeout_s)
                configs[resource.name] = {k: str(e.value) for k, e in entries.items()}
            except KafkaException:
                configs[resource.name] = {}
    out = []
    for name in names:
        topic = metadata.topics[name]
        replicas = max((len(p.replicas) for p in topic.partitions.values()), default=0)
        out.append(TopicSpec(name, len(topic.partitions), replicas, configs.get(name, {})))
    return out
