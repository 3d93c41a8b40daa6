"""`voicebus lag` with exactly known produced/committed state (dev-profile producer: one
record per batch, so high watermarks are exact on the embedded broker)."""

from __future__ import annotations

from confluent_kafka import Consumer, Producer, TopicPartition

from tests.integration.dlq.conftest import create_topics, json_out


def _commit(settings, group: str, topic: str, offsets: dict[int, int]) -> None:
    consumer = Consumer(settings.consumer_conf(group))
    consumer.commit(
        offsets=[TopicPartition(topic, p, o) for p, o in offsets.items()], asynchronous=False
    )
    consumer.close()


def test_lag_per_group_and_partition(cli, sre_settings, unique):
    topic = f"sync.t{unique}"
    create_topics(sre_settings, topic, partitions=2)
    producer = Producer(sre_settings.producer_conf())
    for i in range(5):
        producer.produce(topic, value=b"x", partition=0)
    for i in range(3):
        producer.produce(topic, value=b"x", partition=1)
    assert producer.flush(10) == 0
    sink_group = f"voicebus-sink-t{unique}"
    other_group = f"someone-else-{unique}"
    _commit(sre_settings, sink_group, topic, {0: 2, 1: 3})
    _commit(sre_settings, other_group, topic, {0: 1})

    rows = json_out(cli("lag", "--group", sink_group, "--json"))
    assert rows == [
        {
            "group": sink_group,
            "topic": topic,
            "partition": 0,
            "committed": 2,
            "high_watermark": 5,
            "lag": 3,
        },
        {
            "group": sink_group,
            "topic": topic,
            "partition": 1,
            "committed": 3,
            "high_watermark": 3,
            "lag": 0,
        },
    ]

    by_default = json_out(cli("lag", "--json"))
    groups = {r["group"] for r in by_default}
    assert sink_group in groups and other_group not in groups

    explicit = json_out(cli("lag", "--group", other_group, "--json"))
    assert [(r["partition"], r["lag"]) for r in explicit] == [(0, 4)]

    table = cli("lag", "--group", sink_group).stdout
    assert sink_group in table and "consumer lag" in table
