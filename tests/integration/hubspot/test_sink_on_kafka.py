"""``voicebus sink hubspot`` end to end on the real broker and registry: Avro-encoded
enriched events on sync.hubspot, the real SinkRuntime in batch mode, the HubSpot sandbox."""

from __future__ import annotations

from confluent_kafka import Producer

from connectors.hubspot.sink import HubSpotConnector
from pipeline.config import Settings
from pipeline.observability import SinkMetrics
from pipeline.resilience.target import ResilienceSettings, TargetResilience
from pipeline.schema_catalog import load_schema
from pipeline.serde import AvroCodec
from pipeline.sinks.delivery import Deliverer
from pipeline.sinks.ledger import InMemoryLedger
from pipeline.sinks.runtime import SinkRuntime
from pipeline.sinks.settings import SinkSettings
from tests.integration.hubspot.conftest import (
    add_contact,
    calls_with,
    enriched_event,
    hubspot_settings,
)
from tests.integration.sinks.helpers import (
    TEST_CONSUMER,
    create_topic,
    read_all,
    running,
    wait_until,
)

TOPIC = "sync.hubspot"


async def test_batch_sink_syncs_every_call_once_from_kafka(
    fresh_settings: Settings, hubspot_sandbox, hubspot_state
):
    create_topic(fresh_settings, TOPIC, 2)
    codec = AvroCodec(fresh_settings)
    schema = load_schema("voice/enriched_call_event.avsc")
    events, contact_of = [], {}
    for n in range(30):
        phone = f"+1650555{n:04d}"
        contact_of[f"k-{n}"] = add_contact(hubspot_state, phone)
        items = [
            {"description": f"Follow up #{n}", "owner": None, "due_date": 20800, "kind": "task"}
        ]
        named = contact_of[f"k-{n}"] if n % 3 else None  # every third found by phone
        events.append(enriched_event(f"k-{n}", contact_id=named, phone=phone))
        events.append(
            enriched_event(
                f"k-{n}",
                event_type="call_summary",
                contact_id=named,
                phone=phone,
                action_items=items,
            )
        )
    producer = Producer(fresh_settings.producer_conf())
    for ev in [*events, *events[:10]]:  # the first ten again: upstream is at-least-once
        value = codec.encode(ev, subject=f"{TOPIC}-value", schema=schema)
        producer.produce(TOPIC, key=ev["call_id"], value=value)
    assert producer.flush(15) == 0
    del producer  # librdkafka handle gone before the broker stops

    connector = HubSpotConnector(hubspot_settings(hubspot_sandbox.url))
    metrics = SinkMetrics("hubspot")
    resilience = ResilienceSettings(rate_per_s=0, initial_backoff_s=0.05, jitter_s=0)
    deliverer = Deliverer(
        connector,
        InMemoryLedger(),
        TargetResilience.from_settings("hubspot", resilience, metrics=metrics),
        metrics,
    )
    sink = SinkSettings(
        mode="batch",
        batch_size=20,
        batch_linger_s=0.1,
        retry_delays_s=[0.2],
        commit_interval_s=0.2,
        drain_timeout_s=10,
        lag_interval_s=0.5,
        consumer_overrides=TEST_CONSUMER,
    )
    runtime = SinkRuntime(
        "hubspot",
        deliverer,
        settings=fresh_settings,
        sink=sink,
        metrics_=metrics,
        connector_name="HubSpotConnector",
    )
    try:
        async with running(runtime):
            await wait_until(
                lambda: len(hubspot_state.store.all("tasks")) >= 30, 60, "30 tasks in HubSpot"
            )
            consumer = runtime.consumer
            assert consumer is not None
            parts = [(TOPIC, p) for p in range(2)]
            await wait_until(lambda: all(consumer.lag.get(tp) == 0 for tp in parts), 30, "lag 0")
    finally:
        await connector.aclose()
    assert len(hubspot_state.store.all("calls")) == 30
    assert len(hubspot_state.store.all("tasks")) == 30
    for call_id, contact in contact_of.items():
        (call,) = calls_with(hubspot_state, call_id)
        assert hubspot_state.store.associated("calls", call["id"], "contacts") == [contact]
        assert call["properties"]["hs_timestamp"] == "2026-11-24T20:00:00.000Z"
    upserts = hubspot_sandbox.controls.requests("/crm/v3/objects/calls/batch/upsert")
    assert upserts < 30, upserts  # batched: far fewer calls than the 70 records
    assert read_all(fresh_settings, f"{TOPIC}.dlq") == []
