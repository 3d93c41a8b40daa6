"""Source offsets are committed by the processors' commit gate (SequenceGuard), not from faust's
acks: the gate must not stall commits, and must not commit beyond the records it processed
(test_restarts covers the no-loss side after a kill -9)."""

from __future__ import annotations

import time

import pytest
from confluent_kafka import Consumer, TopicPartition

from pipeline.processors.app import APP_ID
from pipeline.serde import AvroCodec
from pipeline.simulate import build_scenario, publish_scenario
from pipeline.topics import CALL_EVENTS_TOPIC, ENRICHED_TOPIC
from tests.integration.processors.conftest import TopicReader
from tests.integration.processors.test_restarts import _all_ids

pytestmark = pytest.mark.integration


def _committed(settings, partitions: list[int]) -> dict[int, int]:
    consumer = Consumer(settings.consumer_conf(APP_ID))
    try:
        tps = [TopicPartition(CALL_EVENTS_TOPIC, p) for p in partitions]
        return {tp.partition: tp.offset for tp in consumer.committed(tps, timeout=10)}
    finally:
        consumer.close()


def test_gate_commits_every_processed_record_and_no_further(fresh_settings, workers):
    scenario = build_scenario(30, seed=11)
    publish_scenario(fresh_settings, scenario, contacts=True)
    total = len(scenario.events())
    source = TopicReader(fresh_settings, CALL_EVENTS_TOPIC)
    source_records = source.poll_until(lambda got: len(got) >= total)
    source.close()
    ends: dict[int, int] = {}
    for m in source_records:
        ends[m.partition()] = max(ends.get(m.partition(), 0), (m.offset() or 0) + 1)
    worker = workers.start("w1")
    codec = AvroCodec(fresh_settings)
    reader = TopicReader(fresh_settings, ENRICHED_TOPIC)
    records = reader.poll_until(_all_ids(codec, total), alive=lambda: worker.proc.poll() is None)
    reader.close()
    assert {str(codec.decode(m.value())["event_id"]) for m in records} == {
        str(e.event_id) for e in scenario.events()
    }
    # all outputs are on the topic: the gate lets the periodic commit reach the end
    deadline = time.monotonic() + 30
    committed = _committed(fresh_settings, sorted(ends))
    while committed != ends and time.monotonic() < deadline and worker.proc.poll() is None:
        time.sleep(0.5)
        committed = _committed(fresh_settings, sorted(ends))
    assert committed == ends, worker.log()[-3000:]
