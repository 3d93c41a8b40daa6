"""Topics a sink needs, checked (and where safe, created) before it consumes.

``sync.<target>`` must exist (the router's catalogue creates it): a missing one is a
configuration error, reported with the fix.  The retry topic and the DLQ are created with the
*same partition count* as the main topic, and the sink writes each retry/DLQ copy to the
partition *index* its record came from (not by key hash, so the result does not depend on
which partitioner the router used).  With the range assignor, partition i of the main and of
the retry topic belong to the same group member, which therefore owns a key's whole history
and its barrier.  The barrier topic is compacted with one partition.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from pipeline.config import Settings

if TYPE_CHECKING:
    from pipeline.sinks.processing import SinkTopics
    from pipeline.sinks.settings import SinkSettings


class SinkTopicError(RuntimeError):
    """A topic the sink needs is missing or has the wrong shape."""


def ensure_sink_topics(settings: Settings, topics: SinkTopics, sink: SinkSettings) -> None:
    admin = AdminClient(settings.admin_conf())
    timeout = settings.request_timeout_s
    try:
        existing = admin.list_topics(timeout=timeout).topics
    except KafkaException as exc:
        raise SinkTopicError(
            f"cannot reach Kafka at {settings.bootstrap_servers} to check the sink topics "
            f"({exc}); is the broker up and VOICEBUS_BOOTSTRAP_SERVERS right?"
        ) from exc
    if topics.main not in existing:
        raise SinkTopicError(
            f"topic {topics.main} does not exist on {settings.bootstrap_servers}; create it "
            "first (voicebus topics apply) with the partition count the router uses"
        )
    partitions = len(existing[topics.main].partitions)
    wanted: list[NewTopic] = []
    for name in (topics.retry, topics.dlq):
        if name in existing:
            have = len(existing[name].partitions)
            if have != partitions:
                raise SinkTopicError(
                    f"{name} has {have} partitions but {topics.main} has {partitions}; they "
                    "must match: retry and dead-letter copies go to their source partition "
                    "index, so a key's retries stay with its owner (recreate the topic)"
                )
        else:
            wanted.append(NewTopic(name, partitions, 1))
    if sink.barrier_topic not in existing:
        wanted.append(NewTopic(sink.barrier_topic, 1, 1, config={"cleanup.policy": "compact"}))
    if not wanted:
        return
    for name, future in admin.create_topics(wanted, request_timeout=timeout).items():
        try:
            future.result(timeout)
        except KafkaException as exc:
            if "TOPIC_ALREADY_EXISTS" in str(exc) or "already exists" in str(exc):
                continue  # another sink instance won the race
            raise SinkTopicError(f"could not create topic {name}: {exc}") from exc
