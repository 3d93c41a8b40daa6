"""Operator commands over Kafka: ``voicebus routes reload`` reaches every worker, wherever the
CLI runs, through the small broadcast topic ``_voicebus.control``.

Every worker reads the whole topic itself (``assign``, no group, no commits), so each instance
sees each command.  It reads from the beginning rather than seeking to the end, so a command
published between the worker loading its rules and starting to watch is never missed.  A command
is applied if it arrived after the watcher started (offset at or past the end offset seen at
start; immune to clock skew between machines) or if it is newer than the holder's last load;
older ones are already reflected.  Reloading is idempotent, so an extra one costs nothing.

Record: key ``routes``, value JSON ``{"command": "routes.reload", "at": "<ISO 8601 UTC>",
"rules_sha256": "<hex of the file the CLI validated>", "origin": "<host>"}``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import threading
import uuid
from datetime import UTC, datetime
from typing import Any

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
from pipeline.processors.routing.holder import ReloadStatus, RouterHolder
from pipeline.processors.routing.settings import RoutingSettings

log = logging.getLogger("voicebus.routing.control")

RELOAD_COMMAND = "routes.reload"
_RETRY_SETUP_S = 5.0
# Commands matter only until every worker has read them; a week covers long outages.
_TOPIC_CONFIG = {"cleanup.policy": "delete", "retention.ms": str(7 * 24 * 3600 * 1000)}


class ControlError(RuntimeError):
    """A control command could not be published or the control topic not prepared."""


def _topic(topic: str | None) -> str:
    return topic if topic is not None else RoutingSettings().control_topic


def ensure_control_topic(settings: Settings, topic: str | None = None) -> None:
    """Create the control topic (1 partition: commands are few and must stay ordered) unless
    it exists.  Topics are always created explicitly, never auto-created.  ``topic`` defaults
    to ``RoutingSettings().control_topic`` ($VOICEBUS_CONTROL_TOPIC or ``_voicebus.control``)."""
    topic = _topic(topic)
    admin = AdminClient(settings.admin_conf())
    try:
        # All-topics metadata (never triggers auto-creation): an existing topic needs no
        # create permission, which production ACLs often withhold from workers.
        existing = admin.list_topics(timeout=settings.request_timeout_s).topics
    except Exception:
        existing = {}
    if topic in existing and existing[topic].error is None:
        return
    futures = admin.create_topics(
        [NewTopic(topic, num_partitions=1, replication_factor=-1, config=_TOPIC_CONFIG)],
        request_timeout=settings.request_timeout_s,
    )
    try:
        futures[topic].result(timeout=settings.request_timeout_s)
    except Exception as exc:
        error = exc.args[0] if exc.args else None
        if isinstance(error, KafkaError) and error.code() == KafkaError.TOPIC_ALREADY_EXISTS:
            return
        raise ControlError(
            f"could not create the control topic {topic!r} on {settings.bootstrap_servers}: "
            f"{error.str() if isinstance(error, KafkaError) else type(exc).__name__}; "
            "check that the broker is reachable and allows topic creation"
        ) from None


def reload_command(rules_sha256: str | None = None) -> dict[str, Any]:
    return {
        "command": RELOAD_COMMAND,
        "at": datetime.now(UTC).isoformat(timespec="milliseconds"),
        "rules_sha256": rules_sha256,
        "origin": socket.gethostname(),
    }


def publish_reload(
    settings: Settings, *, rules_sha256: str | None = None, topic: str | None = None
) -> dict[str, Any]:
    """Publish a ``routes.reload`` command and wait for the broker's acknowledgement."""
    topic = _topic(topic)
    ensure_control_topic(settings, topic)
    command = reload_command(rules_sha256)
    failures: list[KafkaError] = []

    def on_delivery(error: KafkaError | None, _msg: Message) -> None:
        if error is not None:
            failures.append(error)

    producer = Producer(settings.producer_conf())
    try:
        producer.produce(
            topic, key=b"routes", value=json.dumps(command).encode(), on_delivery=on_delivery
        )
        remaining = producer.flush(settings.delivery_timeout_ms / 1000 + 5)
    finally:
        close = getattr(producer, "close", None)  # confluent-kafka >= 2.10
        if close is not None:
            close()
    if remaining or failures:
        reason = failures[0].str() if failures else "no acknowledgement in time"
        raise ControlError(f"reload command not delivered to {topic!r}: {reason}")
    return command


class ControlTopicWatcher(threading.Thread):
    """Daemon thread applying control commands to ``holder`` until ``stop()``."""

    def __init__(
        self,
        settings: Settings,
        holder: RouterHolder,
        *,
        topic: str | None = None,
        poll_timeout_s: float = 0.5,
    ) -> None:
        super().__init__(name="voicebus-control-watch", daemon=True)
        self.settings = settings
        self.holder = holder
        self.topic = _topic(topic)
        self.poll_timeout_s = poll_timeout_s
        self.ready = threading.Event()  # set once the topic is assigned and being read
        self.commands_applied = 0
        self._end_at_start: dict[int, int] = {}
        self._stop_requested = threading.Event()

    def stop(self) -> None:
        self._stop_requested.set()

    def run(self) -> None:
        while not self._stop_requested.is_set():
            try:
                self._consume()
                return
            except Exception as exc:
                log.error(
                    "control topic %r unavailable (%s); retrying in %.0f s",
                    self.topic,
                    exc,
                    _RETRY_SETUP_S,
                )
                self._stop_requested.wait(_RETRY_SETUP_S)

    def _consume(self) -> None:
        ensure_control_topic(self.settings, self.topic)
        group = f"voicebus-control-{uuid.uuid4().hex[:12]}"  # never committed: no shared state
        consumer = Consumer(self.settings.consumer_conf(group))
        try:
            metadata = consumer.list_topics(self.topic, timeout=self.settings.request_timeout_s)
            described = metadata.topics.get(self.topic)
            if described is None or described.error is not None or not described.partitions:
                raise ControlError(f"no partitions visible for {self.topic!r} yet")
            for partition in described.partitions:
                _low, high = consumer.get_watermark_offsets(
                    TopicPartition(self.topic, partition),
                    timeout=self.settings.request_timeout_s,
                )
                self._end_at_start[partition] = high
            consumer.assign(
                [TopicPartition(self.topic, p, OFFSET_BEGINNING) for p in described.partitions]
            )
            self.ready.set()
            while not self._stop_requested.is_set():
                message = consumer.poll(self.poll_timeout_s)
                if message is not None:
                    self._handle(message)
        finally:
            consumer.close()

    def _handle(self, message: Message) -> None:
        error = message.error()
        if error is not None:
            if error.fatal():
                raise ControlError(f"fatal consumer error: {error.str()}")
            log.warning("control topic read error: %s", error.str())
            return
        where = f"{message.topic()}[{message.partition()}]@{message.offset()}"
        try:
            command = json.loads(message.value() or b"")
            name = command["command"]
            at = datetime.fromisoformat(command["at"])
        except (ValueError, KeyError, TypeError):
            log.warning(
                "ignoring malformed control record at %s (expected JSON with 'command' "
                "and ISO 'at')",
                where,
            )
            return
        if name != RELOAD_COMMAND:
            log.debug("ignoring control command %r at %s (not for routing)", name, where)
            return
        if at.tzinfo is None:
            at = at.replace(tzinfo=UTC)
        origin = command.get("origin") or "unknown host"
        offset, partition = message.offset() or 0, message.partition() or 0
        arrived_after_start = offset >= self._end_at_start.get(partition, 0)
        if not arrived_after_start and at <= self.holder.loaded_at:
            log.info(
                "reload command from %s at %s is already reflected (rules read at %s)",
                origin,
                at.isoformat(),
                self.holder.loaded_at.isoformat(),
            )
            return
        outcome = self.holder.reload(reason=f"`voicebus routes reload` from {origin}")
        self.commands_applied += 1
        expected = command.get("rules_sha256")
        if expected and outcome.status is not ReloadStatus.REJECTED and outcome.sha256 != expected:
            log.warning(
                "the rules file here (%s, sha256 %s) differs from the one validated by the CLI "
                "on %s (sha256 %s); deploy the same file to every worker",
                self.holder.path,
                outcome.sha256[:12],
                origin,
                str(expected)[:12],
            )


def start_control_watcher(
    settings: Settings, holder: RouterHolder, *, topic: str | None = None
) -> ControlTopicWatcher:
    """Sync helper: start the watcher thread; call ``.stop()`` and ``.join()`` at shutdown."""
    watcher = ControlTopicWatcher(settings, holder, topic=topic)
    watcher.start()
    return watcher


async def watch_control_topic(
    settings: Settings,
    holder: RouterHolder,
    *,
    topic: str | None = None,
    ready: asyncio.Event | None = None,
) -> None:
    """Run until cancelled, applying ``voicebus routes reload`` commands to ``holder``.

    Start it as a background task of the worker (e.g. a faust ``@app.task``); cancel it at
    shutdown.  The Kafka consumer runs in a thread, so the event loop is never blocked.
    ``ready`` (optional) is set once the topic is being read."""
    watcher = start_control_watcher(settings, holder, topic=topic)
    try:
        # Poll the thread instead of parking an executor thread in join() for the worker's
        # whole life (faust's default executor is small).
        while watcher.is_alive():
            if ready is not None and not ready.is_set() and watcher.ready.is_set():
                ready.set()
            await asyncio.sleep(0.05 if ready is not None and not ready.is_set() else 0.5)
    finally:
        watcher.stop()
        await asyncio.shield(asyncio.to_thread(watcher.join, 10.0))
