"""Worker crash and restart (kill -9), and two workers sharing the partitions."""

from __future__ import annotations

import re
import threading
import time
from collections import Counter

import pytest
from confluent_kafka import Consumer, TopicPartition

from pipeline.processors.app import APP_ID
from pipeline.serde import AvroCodec
from pipeline.simulate import build_scenario, publish_scenario
from pipeline.topics import CALL_EVENTS_TOPIC, ENRICHED_TOPIC
from tests.integration.processors.conftest import TopicReader

pytestmark = pytest.mark.integration

ENVELOPE = ("event_id", "event_type", "occurred_at", "tenant_id", "call_id", "source", "payload")


def _check_output(codec, records, scenario):
    """Every event present; duplicates are the same event; returns the duplicate count."""
    expected = {str(e.event_id) for e in scenario.events()}
    decoded = [codec.decode(m.value()) for m in records]
    counts = Counter(str(r["event_id"]) for r in decoded)
    assert set(counts) == expected, f"missing: {len(expected - set(counts))}"
    first: dict[str, dict] = {}
    for r in decoded:
        eid = str(r["event_id"])
        if eid in first:
            again, before = r, first[eid]
            assert {k: again[k] for k in ENVELOPE} == {k: before[k] for k in ENVELOPE}
            assert again["customer"] == before["customer"]
            assert again["call"]["events_seen"] >= before["call"]["events_seen"]
        else:
            first[eid] = r
    # state survived: the last record of each call counted each of its events exactly once
    per_call = Counter(e.call_id for e in scenario.events())
    last: dict[str, dict] = {}
    for r in decoded:
        last[r["call_id"]] = r
    for call_id, r in last.items():
        assert r["call"]["events_seen"] == per_call[call_id], call_id
    return sum(c - 1 for c in counts.values())


def test_kill_9_and_restart_loses_nothing(fresh_settings, workers):
    scenario = build_scenario(100, seed=5)
    publish_scenario(fresh_settings, scenario, contacts=True)
    total = len(scenario.events())
    codec = AvroCodec(fresh_settings)
    reader = TopicReader(fresh_settings, ENRICHED_TOPIC)
    first = workers.start("w1")
    reader.poll_until(lambda got: len(got) >= total // 2, alive=lambda: first.proc.poll() is None)
    assert len(reader.records) >= total // 2, first.log()[-3000:]
    first.kill9()
    second = workers.start("w1")
    records = reader.poll_until(_all_ids(codec, total), alive=lambda: second.proc.poll() is None)
    reader.close()
    duplicates = _check_output(codec, records, scenario)
    print(f"\nkill -9 at {total // 2}+ of {total} events: {duplicates} duplicates on the output")
    assert "Recovery" in second.log()  # the restarted worker restored its table


def test_kill_9_after_gated_commits_loses_nothing(fresh_settings, workers):
    """Events arrive while the worker runs, so it commits (through the gate) before it is
    killed: the restart resumes from those commits and must still miss nothing."""
    scenario = build_scenario(100, seed=6)
    publish_scenario(fresh_settings, scenario, contacts=True, calls=False)
    total = len(scenario.events())
    codec = AvroCodec(fresh_settings)
    reader = TopicReader(fresh_settings, ENRICHED_TOPIC)
    first = workers.start("w1")
    publisher = threading.Thread(
        target=publish_scenario, args=(fresh_settings, scenario), kwargs={"rate": 150.0}
    )
    publisher.start()
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and first.proc.poll() is None:
            reader.poll_until(lambda got: True, timeout_s=0.5)
            if len(reader.records) >= total // 2 and _committed_total(fresh_settings) > 0:
                break
        committed = _committed_total(fresh_settings)
        assert committed > 0 and len(reader.records) >= total // 2, first.log()[-3000:]
        assert committed < total, "the worker finished before the kill; nothing was tested"
        first.kill9()
    finally:
        publisher.join()
    second = workers.start("w1")
    records = reader.poll_until(_all_ids(codec, total), alive=lambda: second.proc.poll() is None)
    reader.close()
    duplicates = _check_output(codec, records, scenario)
    print(f"\nkill -9 after {committed} committed of {total} events: {duplicates} duplicates")


def _committed_total(settings) -> int:
    """Sum of the group's committed offsets on voice.call-events (0 before any commit)."""
    consumer = Consumer(settings.consumer_conf(APP_ID))  # never subscribes: not a member
    try:
        meta = consumer.list_topics(CALL_EVENTS_TOPIC, timeout=10).topics[CALL_EVENTS_TOPIC]
        tps = [TopicPartition(CALL_EVENTS_TOPIC, p) for p in meta.partitions]
        return sum(max(tp.offset, 0) for tp in consumer.committed(tps, timeout=10))
    finally:
        consumer.close()


def test_two_workers_split_partitions_through_a_rebalance(fresh_settings, workers):
    scenario = build_scenario(80, seed=9)
    calls = scenario.calls
    half = build_scenario(0, seed=9)
    half.contacts, half.calls = scenario.contacts, calls[:40]
    rest = build_scenario(0, seed=9)
    rest.calls = calls[40:]
    codec = AvroCodec(fresh_settings)
    reader = TopicReader(fresh_settings, ENRICHED_TOPIC)
    publish_scenario(fresh_settings, half, contacts=True)
    w1 = workers.start("w1")
    reader.poll_until(lambda got: len(got) >= 50, alive=lambda: w1.proc.poll() is None)
    w2 = workers.start("w2")
    deadline = time.monotonic() + 60
    while "[^Worker]: Ready" not in w2.log() and time.monotonic() < deadline:
        time.sleep(0.2)  # wait until w2 is in the group and has partitions
    publish_scenario(fresh_settings, rest)
    total = len(scenario.events())
    records = reader.poll_until(
        _all_ids(codec, total), alive=lambda: w1.proc.poll() is None and w2.proc.poll() is None
    )
    reader.close()
    duplicates = _check_output(codec, records, scenario)
    print(f"\nrebalance to two workers: {duplicates} duplicates on the output")
    # Tansu answers DescribeGroups without members, so the split is read from what each
    # worker reports on a clean stop (its own counters)
    w2.stop()
    w1.stop()
    enriched = [_enriched_count(w.log()) for w in (w1, w2)]
    assert all(n > 0 for n in enriched), enriched
    assert sum(enriched) >= total


def _enriched_count(log: str) -> int:
    found = re.findall(r"processors stopped: enriched=(\d+)", log)
    assert found, log[-2000:]
    return int(found[-1])


def _all_ids(codec, total):
    """A poll_until condition: ``total`` distinct event ids seen (each record decoded once)."""
    ids: set[str] = set()
    done = [0]

    def until(got):
        for m in got[done[0] :]:
            ids.add(str(codec.decode(m.value())["event_id"]))
        done[0] = len(got)
        return len(ids) >= total

    return until
