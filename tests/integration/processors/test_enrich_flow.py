"""200 simulated calls through `voicebus process`: every event once, in per-call order, with
the customer the directory knows."""

from __future__ import annotations

from collections import defaultdict

import pytest

from pipeline.serde import AvroCodec
from pipeline.simulate import build_scenario, publish_scenario
from pipeline.topics import ENRICHED_TOPIC
from tests.integration.processors.conftest import read_topic

pytestmark = pytest.mark.integration


def test_200_calls_enriched_once_in_order_with_customers(fresh_settings, workers):
    scenario = build_scenario(200, seed=11, tenant_id="acme")
    publish_scenario(fresh_settings, scenario, contacts=True)
    events = scenario.events()
    expected_ids = {str(e.event_id) for e in events}
    worker = workers.start()

    msgs = read_topic(
        fresh_settings,
        ENRICHED_TOPIC,
        lambda got: len(got) >= len(expected_ids),
        alive=lambda: worker.proc.poll() is None,
    )
    codec = AvroCodec(fresh_settings)
    out = [codec.decode(m.value()) for m in sorted(msgs, key=lambda m: (m.partition(), m.offset()))]
    ids = [str(r["event_id"]) for r in out]
    assert len(ids) == len(set(ids)), "an event appeared twice on the enriched topic"
    assert set(ids) == expected_ids, worker.log()[-3000:]

    # per-call order: output order (within its partition) equals publish order per call
    published: dict[str, list[str]] = defaultdict(list)
    for e in events:
        published[e.call_id].append(str(e.event_id))
    seen: dict[str, list[str]] = defaultdict(list)
    for r in out:
        seen[r["call_id"]].append(str(r["event_id"]))
    assert seen == published

    # the directory, independently of the processors' index: (tenant, number) -> keys
    directory: dict[str, set[str]] = defaultdict(set)
    for c in scenario.contacts:
        for n in c.phone_numbers:
            directory[n].add(c.key)
    matched = ambiguous = 0
    for r in out:
        number = (
            r["call"]["from_number"]
            if r["call"]["direction"] == "INBOUND"
            else r["call"]["to_number"]
        )
        keys = directory.get(number, set())
        cust = r["customer"]
        assert cust["matched"] is bool(keys), (number, cust)
        if keys:
            matched += 1
            assert f"{cust['match']['crm']}:{cust['match']['record_id']}" in keys
            if len(keys) > 1:
                ambiguous += 1
                assert cust["ambiguous"] is True
                assert {f"{c['crm']}:{c['record_id']}" for c in cust["candidates"]} == keys
        else:
            assert cust["match"] is None
    assert matched and matched < len(out)  # the scenario has known and unknown callers

    # aggregates on the last event of each call count every event of that call once
    last = {}
    for r in out:
        last[r["call_id"]] = r
    for call_id, r in last.items():
        assert r["call"]["events_seen"] == len(published[call_id])
