"""Barrier policies, restart survival of barriers, replay release, batch mode, auth pause,
rebalance between two sink instances."""

from __future__ import annotations

import asyncio
import time

from confluent_kafka import Producer

from connectors.base.errors import AuthError, RetryableError
from pipeline import headers as H
from pipeline.config import Settings
from pipeline.sinks.forwarding import headers_to_dict
from pipeline.sinks.ledger import InMemoryLedger, LedgerError

from .helpers import (
    ScriptedConnector,
    create_topic,
    event,
    make_runtime,
    produce_json,
    read_all,
    running,
    wait_until,
)


def replay(settings: Settings, target: str) -> None:
    """What ``voicebus dlq replay`` does: re-publish the DLQ records to sync.<target> with
    the original key/value, the vb-* error headers stripped and a replay id added."""
    producer = Producer(settings.producer_conf())
    for msg in read_all(settings, f"sync.{target}.dlq"):
        kept = [(n, v) for n, v in (msg.headers() or []) if not n.startswith("vb-")]
        kept.append((H.REPLAY_ID, b"replay-1"))
        producer.produce(f"sync.{target}", key=msg.key(), value=msg.value(), headers=kept)
    assert producer.flush(10) == 0


async def test_barrier_survives_restart_and_a_replay_releases_the_key_in_order(
    settings: Settings, unique: str
) -> None:
    target = f"it{unique}"
    create_topic(settings, f"sync.{target}", 1)
    always_down = RetryableError("503 target down")
    connector = ScriptedConnector(target=target, failures={"call-K-0": [always_down] * 3})
    produce_json(settings, f"sync.{target}", [event("call-K", 0), event("call-K", 1)])
    produce_json(settings, f"sync.{target}", [event("call-other", 0)])
    ledger = InMemoryLedger()
    runtime = make_runtime(
        settings,
        connector,
        ledger=ledger,
        max_retry_rounds=1,
        retry_delays_s=[0.1],
        parked_recheck_s=0.3,
    )
    async with running(runtime):
        await wait_until(lambda: len(read_all(settings, f"sync.{target}.dlq")) == 1, 60, "dlq")
        await wait_until(lambda: "call-other-0" in connector.delivered_ids(), 30, "other key")
    assert "call-K-1" not in connector.delivered_ids()  # parked behind the dead blocker
    [dead] = read_all(settings, f"sync.{target}.dlq")
    assert headers_to_dict(dead.headers())[H.ERROR_CLASS] == "retryable"
    assert "retry budget spent" in headers_to_dict(dead.headers())[H.ERROR_MESSAGE]

    # a new process: the barrier is rebuilt from the barrier topic; a new record of K parks
    connector2 = ScriptedConnector(target=target)
    produce_json(settings, f"sync.{target}", [event("call-K", 2)])
    runtime2 = make_runtime(settings, connector2, ledger=ledger, parked_recheck_s=0.3)
    async with running(runtime2):
        processor = runtime2.processor
        assert processor is not None
        await wait_until(
            lambda: len(processor.barriers.blocked_keys().get("call-K", [])) == 3,
            30,
            "K-2 parked behind the blocker",
        )
        await asyncio.sleep(1.0)
        assert connector2.delivered_ids() == []
        replay(settings, target)
        await wait_until(lambda: len(connector2.effects) >= 3, 30, "released after replay")
        await wait_until(lambda: processor.barriers.blocked_keys() == {}, 10, "lifted")
    assert connector2.order_by_key() == {"call-K": [0, 1, 2]}


async def test_skip_ahead_lets_later_records_overtake_a_failing_one(
    settings: Settings, unique: str
) -> None:
    target = f"it{unique}"
    create_topic(settings, f"sync.{target}", 1)
    connector = ScriptedConnector(target=target, failures={"call-S-0": [RetryableError("503")]})
    produce_json(settings, f"sync.{target}", [event("call-S", s) for s in range(3)])
    runtime = make_runtime(settings, connector, barrier="skip-ahead", retry_delays_s=[0.5])
    async with running(runtime):
        await wait_until(lambda: len(connector.effects) >= 3, 30, "all delivered")
    assert connector.order_by_key() == {"call-S": [1, 2, 0]}
    retry = read_all(settings, f"sync.{target}.retry")
    assert [H.PARKED_BEHIND in headers_to_dict(m.headers()) for m in retry] == [False]


async def test_block_retries_in_place_without_the_retry_topic(
    settings: Settings, unique: str
) -> None:
    target = f"it{unique}"
    create_topic(settings, f"sync.{target}", 1)
    connector = ScriptedConnector(
        target=target, failures={"call-B-0": [RetryableError("503"), RetryableError("503")]}
    )
    produce_json(settings, f"sync.{target}", [event("call-B", s) for s in range(3)])
    runtime = make_runtime(settings, connector, barrier="block", block_retry_s=0.2)
    async with running(runtime):
        await wait_until(lambda: len(connector.effects) >= 3, 30, "all delivered")
    assert connector.order_by_key() == {"call-B": [0, 1, 2]}
    assert [c for c, _ in connector.calls].count("call-B-0") == 3
    assert read_all(settings, f"sync.{target}.retry") == []


async def test_batch_mode_delivers_in_batches_and_only_failures_go_to_retry(
    settings: Settings, unique: str
) -> None:
    target = f"it{unique}"
    create_topic(settings, f"sync.{target}", 2)
    connector = ScriptedConnector(target=target, failures={"call-3-1": [RetryableError("503")]})
    events = [event(f"call-{i % 10}", i // 10) for i in range(100)]
    produce_json(settings, f"sync.{target}", events)
    runtime = make_runtime(
        settings, connector, mode="batch", batch_size=10, batch_linger_s=0.05, max_in_flight=20
    )
    async with running(runtime):
        await wait_until(lambda: len(connector.effects) >= 100, 60, "all delivered")
    assert runtime._batcher is not None
    assert runtime._batcher.batches_sent < 60  # records really travelled together
    assert sorted(connector.delivered_ids()) == sorted(e["event_id"] for e in events)
    assert connector.order_by_key() == {f"call-{k}": list(range(10)) for k in range(10)}
    retried = [
        m.key()
        for m in read_all(settings, f"sync.{target}.retry")
        if H.PARKED_BEHIND not in headers_to_dict(m.headers())
    ]
    assert retried == [b"call-3"]


async def test_auth_failure_pauses_everything_and_dead_letters_nothing(
    settings: Settings, unique: str
) -> None:
    target = f"it{unique}"
    create_topic(settings, f"sync.{target}", 2)
    until = time.monotonic() + 2.0

    def auth_down(_event_id: str) -> AuthError | None:
        return AuthError("401 credentials rejected") if time.monotonic() < until else None

    connector = ScriptedConnector(target=target, fail_when=auth_down)
    events = [event(f"call-{i % 4}", i // 4) for i in range(20)]
    produce_json(settings, f"sync.{target}", events)
    runtime = make_runtime(settings, connector, auth_retry_s=0.5, max_in_flight=4)
    paused: list[bool] = []
    async with running(runtime):
        consumer = runtime.consumer
        assert consumer is not None

        def observe() -> bool:
            if consumer.assignment() and consumer.paused_partitions() >= consumer.assignment():
                paused.append(True)
            return len(connector.effects) >= 20

        await wait_until(observe, 60, "delivered after credentials recover")
    assert paused
    assert sorted(connector.delivered_ids()) == sorted(e["event_id"] for e in events)
    assert read_all(settings, f"sync.{target}.dlq") == []
    assert read_all(settings, f"sync.{target}.retry") == []


async def test_rebalance_between_two_instances_loses_nothing_and_keeps_order(
    settings: Settings, unique: str
) -> None:
    target = f"it{unique}"
    create_topic(settings, f"sync.{target}", 4)
    ledger = InMemoryLedger()  # the shared ledger both instances would use
    first = ScriptedConnector(target=target, delay_s=0.03)
    second = ScriptedConnector(target=target, delay_s=0.03)
    events = [event(f"call-{i % 40}", i // 40) for i in range(800)]
    produce_json(settings, f"sync.{target}", events)
    runtime_a = make_runtime(settings, first, ledger=ledger, max_in_flight=8)
    runtime_b = make_runtime(settings, second, ledger=ledger, max_in_flight=8)
    async with running(runtime_a):
        await wait_until(lambda: len(first.effects) >= 100, 60, "first instance started")
        async with running(runtime_b):
            await wait_until(
                lambda: len({*first.delivered_ids(), *second.delivered_ids()}) >= 800,
                90,
                "all delivered by the pair",
            )
    both = first.effects + second.effects
    assert {e.event_id for e in both} == {e["event_id"] for e in events}
    assert len(second.effects) > 0  # the second instance really took partitions over
    assert len(both) == 800  # the shared ledger made redeliveries after the revoke no-ops
    merged: dict[str, list[int]] = {}
    for e in sorted(both, key=lambda e: e.at):
        merged.setdefault(e.key, []).append(e.seq)
    assert merged == {f"call-{k}": list(range(20)) for k in range(40)}


async def test_backpressure_pauses_fetching_when_too_much_is_buffered(
    settings: Settings, unique: str
) -> None:
    target = f"it{unique}"
    create_topic(settings, f"sync.{target}", 1)
    connector = ScriptedConnector(target=target, delay_s=0.01)
    events = [event(f"call-{i % 4}", i // 4) for i in range(120)]
    produce_json(settings, f"sync.{target}", events)
    runtime = make_runtime(settings, connector, max_in_flight=4, max_buffered=30)
    peak = 0
    paused: list[bool] = []
    async with running(runtime):
        consumer = runtime.consumer
        assert consumer is not None

        def observe() -> bool:
            nonlocal peak
            peak = max(peak, runtime.tracker.in_flight())
            if (f"sync.{target}", 0) in consumer.paused_partitions():
                paused.append(True)
            return len(connector.effects) >= 120

        await wait_until(observe, 60, "all delivered")
    assert paused
    assert peak <= 32  # max_buffered, plus at most a record or two fetched while pausing
    assert connector.order_by_key() == {f"call-{k}": list(range(30)) for k in range(4)}


class FlakyLedger(InMemoryLedger):
    """A ledger whose broker is unreachable for the first few reads."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures

    async def get(self, target: str, idempotency_key: str):  # type: ignore[no-untyped-def]
        if self.failures > 0:
            self.failures -= 1
            raise LedgerError("ledger topic unavailable")
        return await super().get(target, idempotency_key)


async def test_ledger_outage_is_retried_in_place_and_a_sink_bug_is_dead_lettered(
    settings: Settings, unique: str
) -> None:
    from .helpers import json_decode

    target = f"it{unique}"
    create_topic(settings, f"sync.{target}", 1)
    connector = ScriptedConnector(target=target)
    produce_json(settings, f"sync.{target}", [event("call-L", s) for s in range(3)])
    produce_json(settings, f"sync.{target}", [event("call-bug", 0)])
    runtime = make_runtime(settings, connector, ledger=FlakyLedger(failures=3), block_retry_s=0.1)

    def decode_with_bug(value: bytes | None):  # type: ignore[no-untyped-def]
        doc = json_decode(value)
        if doc["call_id"] == "call-bug":
            raise ZeroDivisionError("a bug in the sink")
        return doc

    runtime._decode = decode_with_bug
    async with running(runtime):
        await wait_until(lambda: len(connector.effects) >= 3, 30, "delivered after outage")
        await wait_until(lambda: len(read_all(settings, f"sync.{target}.dlq")) == 1, 30, "dlq")
    assert connector.order_by_key() == {"call-L": [0, 1, 2]}
    [dead] = read_all(settings, f"sync.{target}.dlq")
    hdrs = headers_to_dict(dead.headers())
    assert hdrs[H.ERROR_CLASS] == "internal" and "ZeroDivisionError" in hdrs[H.ERROR_MESSAGE]
    assert "a bug in the sink" not in hdrs[H.ERROR_MESSAGE]
