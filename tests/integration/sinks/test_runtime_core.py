"""SinkRuntime against the real broker with a scripted connector: order, concurrency,
commits, retry topic, DLQ, barriers."""

from __future__ import annotations

from connectors.base.errors import PermanentError, RetryableError
from pipeline import headers as H
from pipeline.config import Settings
from pipeline.sinks.forwarding import headers_to_dict

from .helpers import (
    ScriptedConnector,
    create_topic,
    event,
    make_runtime,
    produce_json,
    produce_raw,
    read_all,
    running,
    wait_until,
)


def committed(settings: Settings, group: str, topic: str, partitions: int) -> list[int]:
    from confluent_kafka import Consumer, TopicPartition

    c = Consumer(settings.consumer_conf(group))
    try:
        return [
            tp.offset
            for tp in c.committed([TopicPartition(topic, p) for p in range(partitions)], 10)
        ]
    finally:
        c.close()


async def test_many_keys_delivered_once_in_per_key_order(settings: Settings, unique: str) -> None:
    target = f"it{unique}"
    create_topic(settings, f"sync.{target}", 4)
    events = [event(f"call-{i % 100}", i // 100) for i in range(1000)]
    produce_json(settings, f"sync.{target}", events)
    connector = ScriptedConnector(target=target, delay_s=0.002)
    runtime = make_runtime(settings, connector, max_in_flight=32)
    async with running(runtime):
        await wait_until(lambda: len(connector.effects) >= 1000, 90, "1000 deliveries")
        await wait_until(
            lambda: (
                sum(committed(settings, f"voicebus-sink-{target}", f"sync.{target}", 4)) == 1000
            ),
            30,
            "offsets committed",
        )
        consumer = runtime.consumer
        assert consumer is not None
        main_parts = [(f"sync.{target}", p) for p in range(4)]
        # lag from the watermark API: 250 records per partition were read, now 0 behind
        await wait_until(lambda: all(consumer.lag.get(tp) == 0 for tp in main_parts), 10, "lag 0")
    ids = connector.delivered_ids()
    assert len(ids) == 1000 and len(set(ids)) == 1000
    assert connector.order_by_key() == {f"call-{k}": list(range(10)) for k in range(100)}
    assert read_all(settings, f"sync.{target}.dlq") == []


async def test_blocked_key_parks_later_records_until_the_blocker_is_delivered(
    settings: Settings, unique: str
) -> None:
    target = f"it{unique}"
    create_topic(settings, f"sync.{target}", 2)
    connector = ScriptedConnector(
        target=target,
        failures={"call-A-1": [RetryableError("503 from target"), RetryableError("503 again")]},
    )
    events = [event("call-A", s) for s in range(5)] + [event("call-B", s) for s in range(5)]
    produce_json(settings, f"sync.{target}", events)
    runtime = make_runtime(settings, connector, max_in_flight=8, retry_delays_s=[0.6, 0.6])
    retry_paused: list[bool] = []
    async with running(runtime):
        consumer = runtime.consumer
        assert consumer is not None

        def observe() -> bool:
            # while a retry record waits for its not-before, its partition is paused
            if any(t.endswith(".retry") for t, _ in consumer.paused_partitions()):
                retry_paused.append(True)
            return len(connector.effects) >= 10

        await wait_until(observe, 60, "all delivered")
    assert retry_paused
    order = connector.order_by_key()
    assert order["call-A"] == [0, 1, 2, 3, 4]
    assert order["call-B"] == [0, 1, 2, 3, 4]
    # B was not held up by A's failure
    b_done = max(e.at for e in connector.effects if e.key == "call-B")
    a1_done = next(e.at for e in connector.effects if e.event_id == "call-A-1")
    assert b_done < a1_done
    retry = read_all(settings, f"sync.{target}.retry")
    blocker_copies = [m for m in retry if H.PARKED_BEHIND not in headers_to_dict(m.headers())]
    parked = [m for m in retry if H.PARKED_BEHIND in headers_to_dict(m.headers())]
    assert len(blocker_copies) == 2  # two failed rounds
    rounds = [headers_to_dict(m.headers())[H.RETRY_ROUND] for m in blocker_copies]
    assert rounds == ["1", "2"]
    first = headers_to_dict(blocker_copies[0].headers())
    assert first[H.ERROR_CLASS] == "retryable" and int(first[H.NOT_BEFORE]) > 0
    assert first[H.SOURCE_TOPIC] == f"sync.{target}"
    assert {headers_to_dict(m.headers())[H.PARKED_BEHIND] for m in parked} == {
        f"sync.{target}:{first[H.SOURCE_PARTITION]}:{first[H.SOURCE_OFFSET]}"
    }
    assert runtime.processor is not None and runtime.processor.barriers.blocked_keys() == {}


async def test_permanent_error_and_garbage_go_to_the_dlq_with_headers_stream_continues(
    settings: Settings, unique: str
) -> None:
    target = f"it{unique}"
    create_topic(settings, f"sync.{target}", 1)
    connector = ScriptedConnector(
        target=target, failures={"call-P-0": [PermanentError("HTTP 400: field x rejected")]}
    )
    produce_json(
        settings,
        f"sync.{target}",
        [event("call-P", 0)],
        headers={"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"},
    )
    produce_raw(settings, f"sync.{target}", "call-G", b"\x00\x01garbage")
    produce_json(settings, f"sync.{target}", [event("call-P", 1), event("call-G", 1)])
    runtime = make_runtime(settings, connector)
    async with running(runtime):
        await wait_until(lambda: len(connector.effects) >= 2, 60, "later records delivered")
        await wait_until(lambda: len(read_all(settings, f"sync.{target}.dlq")) >= 2, 30, "dlq")
    dlq = read_all(settings, f"sync.{target}.dlq")
    by_class = {headers_to_dict(m.headers())[H.ERROR_CLASS]: m for m in dlq}
    assert set(by_class) == {"permanent", "decode"}
    perm = headers_to_dict(by_class["permanent"].headers())
    for name in (
        H.ERROR_MESSAGE,
        H.ATTEMPTS,
        H.FIRST_FAILURE_AT,
        H.LAST_FAILURE_AT,
        H.SOURCE_TOPIC,
        H.SOURCE_PARTITION,
        H.SOURCE_OFFSET,
        H.TARGET,
        H.CONNECTOR,
        H.CONNECTOR_VERSION,
    ):
        assert perm.get(name), name
    assert perm[H.ERROR_MESSAGE] == "HTTP 400: field x rejected"
    assert perm[H.ATTEMPTS] == "1" and perm[H.SOURCE_OFFSET] == "0"
    assert perm[H.TARGET] == target and perm[H.CONNECTOR_VERSION] == "9.9.9"
    assert perm["traceparent"].startswith("00-0af7651916cd43dd")  # original headers kept
    assert by_class["permanent"].key() == b"call-P"
    garbage = by_class["decode"]
    assert garbage.value() == b"\x00\x01garbage" and garbage.key() == b"call-G"
    assert sorted(connector.delivered_ids()) == ["call-G-1", "call-P-1"]
