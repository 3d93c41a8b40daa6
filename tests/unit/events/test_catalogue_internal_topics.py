"""The catalogue names the internal topics exactly as their owners do, and sizes the sink
side topics as the sink runtime requires."""

from pipeline.dlq.floors import FLOORS_TOPIC
from pipeline.dlq.tasks import TASKS_TOPIC
from pipeline.processors.routing.settings import CONTROL_TOPIC
from pipeline.sinks.settings import SinkSettings
from pipeline.topics import CONTROL_TOPIC as CATALOGUE_CONTROL_TOPIC
from pipeline.topics import (
    INTERNAL_COMPACTED_TOPICS,
    catalogue,
    sync_dlq_topic,
    sync_retry_topic,
    sync_topic,
)


def test_internal_topic_names_match_their_owners() -> None:
    assert set(INTERNAL_COMPACTED_TOPICS) == {
        SinkSettings.model_fields["barrier_topic"].default,
        FLOORS_TOPIC,
        TASKS_TOPIC,
    }
    assert CATALOGUE_CONTROL_TOPIC == CONTROL_TOPIC
    names = {spec.name for spec in catalogue()}
    assert set(INTERNAL_COMPACTED_TOPICS) | {CONTROL_TOPIC} <= names


def test_retry_and_dlq_topics_have_the_main_topics_partition_count() -> None:
    specs = {spec.name: spec for spec in catalogue(["webhook", "slack"])}
    for target in ("webhook", "slack"):
        main = specs[sync_topic(target)].partitions
        assert specs[sync_retry_topic(target)].partitions == main
        assert specs[sync_dlq_topic(target)].partitions == main
