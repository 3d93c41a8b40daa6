"""Deliverer against a scripted in-memory connector (a test double of the *target*; the
Deliverer, resilience layer and ledger under test are the real ones)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest

from connectors.base.connector import Connector, DeliveryResult, Operation, SyncRecord
from connectors.base.errors import (
    AuthError,
    ConflictError,
    ConnectorError,
    DataError,
    PermanentError,
    RetryableError,
    ThrottledError,
)
from pipeline.observability import SinkMetrics, configure_telemetry
from pipeline.resilience.circuit import CircuitState
from pipeline.resilience.target import ResilienceSettings, TargetResilience
from pipeline.sinks.delivery import Deliverer, OutcomeKind
from pipeline.sinks.ledger import InMemoryLedger, LedgerEntry

NOW = datetime(2026, 11, 24, 21, 0, tzinfo=UTC)


class ScriptedConnector(Connector):
    """Maps a record to one operation per entry of ``event['ops']``; ``script[key]`` lists
    what successive deliveries of that operation raise before succeeding."""

    name = "scripted"

    def __init__(self) -> None:
        self.script: dict[str, list[Exception]] = {}
        self.calls: list[str] = []
        self.batch_calls: list[list[str]] = []
        self.refreshes = 0
        self.refresh_fixes_auth = False

    def map_record(self, record: SyncRecord) -> list[Operation]:
        if "event_id" not in record.event:
            raise DataError("record has no 'event_id'")
        if record.event.get("explode"):
            raise ZeroDivisionError("secret-pii-value")
        return [
            Operation(
                kind="post",
                idempotency_key=f"{record.event['event_id']}:{op}",
                payload={},
                key=record.key,
            )
            for op in record.event.get("ops", ["a"])
        ]

    async def deliver(self, operation: Operation) -> DeliveryResult:
        self.calls.append(operation.idempotency_key)
        queue = self.script.get(operation.idempotency_key, [])
        if queue:
            raise queue.pop(0)
        return DeliveryResult(external_id=f"ext-{operation.idempotency_key}")

    async def deliver_batch(
        self, operations: Sequence[Operation]
    ) -> list[DeliveryResult | ConnectorError]:
        self.batch_calls.append([o.idempotency_key for o in operations])
        return await super().deliver_batch(operations)

    async def refresh_credentials(self) -> None:
        self.refreshes += 1
        if self.refresh_fixes_auth:
            for queue in self.script.values():
                queue[:] = [e for e in queue if not isinstance(e, AuthError)]


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, s: float) -> None:
        self.sleeps.append(s)
        self.now += s


def record(event_id="e1", **event) -> SyncRecord:
    return SyncRecord(
        key="call-1",
        event={"event_id": event_id, "occurred_at": NOW - timedelta(seconds=3), **event},
    )


@pytest.fixture
def env():
    telemetry = configure_telemetry(in_memory=True)
    time = FakeTime()
    connector = ScriptedConnector()
    ledger = InMemoryLedger()
    settings = ResilienceSettings(
        rate_per_s=0,
        max_attempts=3,
        initial_backoff_s=1,
        max_backoff_s=1,
        jitter_s=0,
        breaker_failure_threshold=100,
    )
    target = f"scripted-{id(time)}"
    metrics = SinkMetrics(target)
    resilience = TargetResilience.from_settings(
        target, settings, metrics=metrics, sleep=time.sleep, clock=time
    )
    deliverer = Deliverer(connector, ledger, resilience, metrics, now=lambda: NOW)

    class Env:
        pass

    e = Env()
    e.telemetry, e.time, e.connector, e.ledger, e.deliverer, e.target = (
        telemetry,
        time,
        connector,
        ledger,
        deliverer,
        target,
    )
    return e


async def test_success_writes_ledger_and_metrics(env):
    outcome = await env.deliverer.deliver_record(record())
    assert outcome.kind is OutcomeKind.DELIVERED and outcome.finished
    assert outcome.attempts == 1 and outcome.error is None
    assert outcome.results[0].external_id == "ext-e1:a"
    entry = await env.ledger.get("scripted", "e1:a")
    assert entry == LedgerEntry("delivered", "ext-e1:a", NOW.isoformat())
    assert env.telemetry.metric_total("voicebus.sink.delivered", target=env.target) == 1


async def test_duplicate_is_skipped_via_ledger(env):
    await env.deliverer.deliver_record(record())
    again = await env.deliverer.deliver_record(record())
    assert again.kind is OutcomeKind.DUPLICATE
    assert env.connector.calls == ["e1:a"]
    assert again.results[0].detail == {"duplicate": True}
    assert env.telemetry.metric_total("voicebus.sink.duplicates_skipped", target=env.target) == 1


async def test_missing_field_is_dead_lettered_as_data(env):
    outcome = await env.deliverer.deliver_record(SyncRecord(key="k", event={}))
    assert outcome.kind is OutcomeKind.DEAD_LETTER
    assert outcome.error_class == "data"
    assert "event_id" in outcome.message
    assert env.connector.calls == []


async def test_crashing_mapping_is_dead_lettered_without_leaking_the_message(env):
    outcome = await env.deliverer.deliver_record(record(explode=True))
    assert outcome.kind is OutcomeKind.DEAD_LETTER and outcome.error_class == "data"
    assert "ZeroDivisionError" in outcome.message
    assert "secret-pii-value" not in outcome.message


async def test_retryable_then_success(env):
    env.connector.script["e1:a"] = [RetryableError("503"), RetryableError("503")]
    outcome = await env.deliverer.deliver_record(record(), prior_attempts=2)
    assert outcome.kind is OutcomeKind.DELIVERED
    assert outcome.attempts == 5
    assert env.time.sleeps == [1, 1]


async def test_retry_budget_spent_gives_retry_later_with_failure_times(env):
    env.connector.script["e1:a"] = [RetryableError(f"503 #{i}") for i in range(5)]
    outcome = await env.deliverer.deliver_record(record())
    assert outcome.kind is OutcomeKind.RETRY_LATER
    assert outcome.error_class == "retryable" and outcome.message == "503 #2"
    assert outcome.attempts == 3
    assert outcome.first_failure_at == NOW and outcome.last_failure_at == NOW
    assert await env.ledger.get("scripted", "e1:a") is None


async def test_throttle_waits_retry_after_without_spending_attempts(env):
    env.connector.script["e1:a"] = [ThrottledError("429", retry_after=2)] * 4
    outcome = await env.deliverer.deliver_record(record())
    assert outcome.kind is OutcomeKind.DELIVERED
    assert env.time.sleeps[:1] == [2] and sum(env.time.sleeps) >= 8


@pytest.mark.parametrize("error", [PermanentError("400"), DataError("bad phone")])
async def test_permanent_and_data_are_dead_lettered_without_retry(env, error):
    env.connector.script["e1:a"] = [error]
    outcome = await env.deliverer.deliver_record(record())
    assert outcome.kind is OutcomeKind.DEAD_LETTER
    assert outcome.error is error
    assert env.connector.calls == ["e1:a"]


async def test_auth_refreshes_once_then_succeeds(env):
    env.connector.script["e1:a"] = [AuthError("401")]
    env.connector.refresh_fixes_auth = True
    outcome = await env.deliverer.deliver_record(record())
    assert outcome.kind is OutcomeKind.DELIVERED
    assert env.connector.refreshes == 1
    assert env.connector.calls == ["e1:a", "e1:a"]


async def test_auth_still_failing_pauses(env):
    env.connector.script["e1:a"] = [AuthError("401")] * 5
    outcome = await env.deliverer.deliver_record(record())
    assert outcome.kind is OutcomeKind.PAUSE_AUTH and not outcome.finished
    assert env.connector.refreshes == 1
    assert env.connector.calls == ["e1:a", "e1:a"]


async def test_multi_operation_record_resumes_after_partial_failure(env):
    env.connector.script["e1:b"] = [PermanentError("400")]
    first = await env.deliverer.deliver_record(record(ops=["a", "b", "c"]))
    assert first.kind is OutcomeKind.DEAD_LETTER
    assert env.connector.calls == ["e1:a", "e1:b"]
    second = await env.deliverer.deliver_record(record(ops=["a", "b", "c"]))
    assert second.kind is OutcomeKind.DELIVERED
    assert env.connector.calls == ["e1:a", "e1:b", "e1:b", "e1:c"]  # a never resent


def conflict():
    return ConflictError(
        "newer in target", record_ref="c-1", event_values={"x": 1}, target_values={"x": 2}
    )


async def test_conflict_without_handler(env):
    env.connector.script["e1:a"] = [conflict()]
    outcome = await env.deliverer.deliver_record(record())
    assert outcome.kind is OutcomeKind.CONFLICT and outcome.error_class == "conflict"


async def test_conflict_handler_parks(env):
    class Park:
        seen = []

        async def handle(self, rec, op, error):
            self.seen.append((rec.key, op.idempotency_key, error.record_ref))
            return None

    env.deliverer.conflict_handler = handler = Park()
    env.connector.script["e1:a"] = [conflict()]
    outcome = await env.deliverer.deliver_record(record())
    assert outcome.kind is OutcomeKind.CONFLICT_PARKED and outcome.finished
    assert handler.seen == [("call-1", "e1:a", "c-1")]


async def test_conflict_handler_replacement_is_delivered_and_recorded(env):
    class Merge:
        async def handle(self, rec, op, error):
            return Operation(
                kind="post", idempotency_key=op.idempotency_key + ":merged", payload={}
            )

    env.deliverer.conflict_handler = Merge()
    env.connector.script["e1:a"] = [conflict()]
    outcome = await env.deliverer.deliver_record(record())
    assert outcome.kind is OutcomeKind.DELIVERED
    assert env.connector.calls == ["e1:a", "e1:a:merged"]
    assert (await env.ledger.get("scripted", "e1:a")).external_id == "ext-e1:a:merged"
    again = await env.deliverer.deliver_record(record())
    assert again.kind is OutcomeKind.DUPLICATE


async def test_open_circuit_waits_instead_of_spending_retries(env):
    breaker = env.deliverer.resilience.breaker
    for _ in range(breaker.failure_threshold):
        breaker.record_failure()
    assert env.deliverer.resilience.circuit_state is CircuitState.OPEN
    outcome = await env.deliverer.deliver_record(record())
    assert outcome.kind is OutcomeKind.DELIVERED and outcome.attempts == 1
    assert env.time.sleeps == [breaker.reset_timeout_s]
    assert breaker.state is CircuitState.CLOSED


async def test_unclassified_exception_in_deliver_is_dead_lettered(env):
    env.connector.script["e1:a"] = [RuntimeError("token=abc")]
    outcome = await env.deliverer.deliver_record(record())
    assert outcome.kind is OutcomeKind.DEAD_LETTER and outcome.error_class == "permanent"
    assert "RuntimeError" in outcome.message and "token=abc" not in outcome.message


async def test_batch_resends_only_failed_items(env):
    env.connector.script["e2:a"] = [RetryableError("503")]
    env.connector.script["e3:a"] = [PermanentError("400")]
    await env.deliverer.deliver_record(record("e4"))  # already delivered -> duplicate
    calls_before = len(env.connector.calls)
    outcomes = await env.deliverer.deliver_batch(
        [record("e1"), record("e2"), record("e3"), record("e4"), SyncRecord(key="k", event={})]
    )
    assert [o.kind for o in outcomes] == [
        OutcomeKind.DELIVERED,
        OutcomeKind.DELIVERED,
        OutcomeKind.DEAD_LETTER,
        OutcomeKind.DUPLICATE,
        OutcomeKind.DEAD_LETTER,
    ]
    assert env.connector.batch_calls == [["e1:a", "e2:a", "e3:a"], ["e2:a"]]
    assert env.connector.calls[calls_before:] == ["e1:a", "e2:a", "e3:a", "e2:a"]
    assert outcomes[1].attempts == 2 and outcomes[0].attempts == 1
    assert outcomes[4].error_class == "data"


async def test_batch_retry_budget_spent_and_auth_pause(env):
    env.connector.script["e1:a"] = [RetryableError("503")] * 10
    env.connector.script["e2:a"] = [AuthError("401")] * 10
    outcomes = await env.deliverer.deliver_batch([record("e1"), record("e2"), record("e3")])
    assert [o.kind for o in outcomes] == [
        OutcomeKind.RETRY_LATER,
        OutcomeKind.PAUSE_AUTH,
        OutcomeKind.DELIVERED,
    ]
    assert env.connector.refreshes == 1
    assert env.connector.calls.count("e2:a") == 2
    assert env.connector.calls.count("e3:a") == 1


async def test_span_continues_the_producer_trace(env):
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    rec = SyncRecord(
        key="call-1",
        event={"event_id": "e-span"},
        headers={"traceparent": f"00-{trace_id}-00f067aa0ba902b7-01"},
    )
    outcome = await env.deliverer.deliver_record(rec)
    spans = [
        s
        for s in env.telemetry.span_exporter.get_finished_spans()
        if s.name == "sink.deliver scripted"
    ]
    assert spans, "no delivery span exported"
    span = spans[-1]
    assert format(span.context.trace_id, "032x") == trace_id
    assert span.attributes["voicebus.outcome"] == outcome.kind.value == "delivered"
