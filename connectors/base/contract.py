"""The contract every connector passes, as a pytest class to inherit (meltano-style).

Each connector's ``tests/integration/<target>/test_contract.py`` subclasses
``ConnectorContract`` and provides three things: a running sandbox, a connector pointed at
it, and records.  The tests drive the connector through the real ``Deliverer`` (ledger,
retries, token bucket, circuit breaker) against the vendor sandbox, so they check the
behaviour the sink runtime relies on, not the connector in isolation::

    class TestAcmeContract(ConnectorContract):
        @pytest.fixture
        def sandbox(self):
            with SandboxServer(acme_sandbox.make_app()) as srv:
                yield srv

        @pytest.fixture
        async def connector(self, sandbox):
            c = AcmeConnector(AcmeSettings(base_url=sandbox.url, ...))
            yield c
            await c.aclose()

        def make_record(self, **event_overrides): ...
        def make_invalid_record(self): return record_without_call_id, "call_id"
        def count_effects(self, sandbox, record): ...

Waits are observed through an injected sleep (nothing really waits), so "429 with
Retry-After: 2 waits at least 2 s" is checked exactly and the suite stays fast.
"""

from __future__ import annotations

from typing import Any, ClassVar

import pytest

from connectors.base.connector import Connector, SyncRecord
from connectors.base.sandbox import SandboxServer
from pipeline.resilience.target import ResilienceSettings, TargetResilience
from pipeline.sinks.delivery import Deliverer, DeliveryOutcome, OutcomeKind
from pipeline.sinks.ledger import InMemoryLedger


class RecordingClock:
    """Monotonic clock + sleep for the resilience layer: sleeping advances time at once
    and is recorded, so tests see every wait without waiting."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class ConnectorContract:
    """Inherit and implement the fixtures/methods marked "connector provides"."""

    #: HTTP requests one delivery attempt of ``make_record()`` makes to the sandbox
    requests_per_attempt: ClassVar[int] = 1
    #: restrict injected faults to this sandbox path (e.g. skip an OAuth token endpoint)
    fault_path: ClassVar[str | None] = None
    #: status the vendor uses for rejected credentials
    auth_failure_status: ClassVar[int] = 401

    # ---- connector provides ------------------------------------------------------------
    @pytest.fixture
    def sandbox(self) -> SandboxServer:
        raise NotImplementedError("provide a running SandboxServer fixture")

    @pytest.fixture
    def connector(self, sandbox: SandboxServer) -> Connector:
        raise NotImplementedError("provide a connector pointed at the sandbox")

    def make_record(self, **event_overrides: Any) -> SyncRecord:
        """A valid record with fresh unique ids on every call."""
        raise NotImplementedError

    def make_invalid_record(self) -> tuple[SyncRecord, str]:
        """A record missing a required field, and that field's name."""
        raise NotImplementedError

    def count_effects(self, sandbox: SandboxServer, record: SyncRecord) -> int:
        """How many times the record's effect exists at the target (never deduped)."""
        raise NotImplementedError

    def secret_values(self, connector: Connector) -> list[str]:
        """Secrets that must never appear in an outcome message."""
        return []

    # ---- shared fixtures ---------------------------------------------------------------
    @pytest.fixture
    def resilience_clock(self) -> RecordingClock:
        return RecordingClock()

    @pytest.fixture
    def resilience_settings(self) -> ResilienceSettings:
        return ResilienceSettings(
            rate_per_s=0,
            max_attempts=3,
            initial_backoff_s=0.5,
            max_backoff_s=2,
            jitter_s=0,
            breaker_failure_threshold=50,
        )

    @pytest.fixture
    def deliverer(
        self,
        connector: Connector,
        resilience_settings: ResilienceSettings,
        resilience_clock: RecordingClock,
    ) -> Deliverer:
        resilience = TargetResilience.from_settings(
            connector.name,
            resilience_settings,
            sleep=resilience_clock.sleep,
            clock=resilience_clock,
        )
        return Deliverer(connector, InMemoryLedger(), resilience)

    # ---- the contract ------------------------------------------------------------------
    def _check_safe(self, connector: Connector, outcome: DeliveryOutcome) -> None:
        for secret in self.secret_values(connector):
            assert secret not in (outcome.message or ""), "a secret leaked into an outcome"

    async def test_delivers_a_record_once(
        self, deliverer: Deliverer, sandbox: SandboxServer
    ) -> None:
        record = self.make_record()
        outcome = await deliverer.deliver_record(record)
        assert outcome.kind is OutcomeKind.DELIVERED, outcome.message
        assert outcome.attempts == 1
        assert self.count_effects(sandbox, record) == 1

    async def test_duplicate_event_has_one_effect(
        self, deliverer: Deliverer, sandbox: SandboxServer
    ) -> None:
        record = self.make_record()
        first = await deliverer.deliver_record(record)
        requests_after_first = sandbox.controls.requests()
        second = await deliverer.deliver_record(record)
        assert first.kind is OutcomeKind.DELIVERED, first.message
        assert second.kind is OutcomeKind.DUPLICATE
        assert sandbox.controls.requests() == requests_after_first  # nothing resent
        assert self.count_effects(sandbox, record) == 1

    async def test_missing_required_field_is_dead_lettered_as_data(
        self, deliverer: Deliverer, sandbox: SandboxServer
    ) -> None:
        record, field = self.make_invalid_record()
        before = sandbox.controls.requests()
        outcome = await deliverer.deliver_record(record)
        assert outcome.kind is OutcomeKind.DEAD_LETTER
        assert outcome.error_class == "data"
        assert field in (outcome.message or ""), "the message must name the missing field"
        assert sandbox.controls.requests() == before

    async def test_throttled_waits_retry_after_then_delivers(
        self,
        deliverer: Deliverer,
        sandbox: SandboxServer,
        resilience_clock: RecordingClock,
        connector: Connector,
    ) -> None:
        record = self.make_record()
        sandbox.controls.throttle_next(1, retry_after=2, path=self.fault_path)
        outcome = await deliverer.deliver_record(record)
        assert outcome.kind is OutcomeKind.DELIVERED, outcome.message
        assert resilience_clock.sleeps and max(resilience_clock.sleeps) >= 2.0
        assert self.count_effects(sandbox, record) == 1
        self._check_safe(connector, outcome)

    async def test_server_errors_are_retried_then_delivered(
        self, deliverer: Deliverer, sandbox: SandboxServer, resilience_clock: RecordingClock
    ) -> None:
        record = self.make_record()
        sandbox.controls.fail_next(2, status=503, path=self.fault_path)
        outcome = await deliverer.deliver_record(record)
        assert outcome.kind is OutcomeKind.DELIVERED, outcome.message
        assert outcome.attempts == 3
        assert resilience_clock.sleeps == [0.5, 1.0]  # exponential backoff, no jitter
        assert self.count_effects(sandbox, record) == 1

    async def test_retry_budget_spent_asks_for_a_later_retry(
        self, deliverer: Deliverer, sandbox: SandboxServer, connector: Connector
    ) -> None:
        record = self.make_record()
        sandbox.controls.fail_next(100, status=500, path=self.fault_path)
        outcome = await deliverer.deliver_record(record, prior_attempts=3)
        assert outcome.kind is OutcomeKind.RETRY_LATER
        assert outcome.error_class == "retryable"
        assert outcome.attempts == 3 + 3
        assert outcome.first_failure_at is not None
        assert self.count_effects(sandbox, record) == 0
        self._check_safe(connector, outcome)

    async def test_auth_failure_refreshes_once_then_delivers(
        self, deliverer: Deliverer, sandbox: SandboxServer
    ) -> None:
        record = self.make_record()
        sandbox.controls.fail_next(1, status=self.auth_failure_status, path=self.fault_path)
        before = sandbox.controls.requests(self.fault_path)
        outcome = await deliverer.deliver_record(record)
        assert outcome.kind is OutcomeKind.DELIVERED, outcome.message
        assert sandbox.controls.requests(self.fault_path) - before == 2 * self.requests_per_attempt
        assert self.count_effects(sandbox, record) == 1

    async def test_auth_failure_that_persists_pauses_without_dead_lettering(
        self, deliverer: Deliverer, sandbox: SandboxServer, connector: Connector
    ) -> None:
        record = self.make_record()
        sandbox.controls.fail_next(100, status=self.auth_failure_status, path=self.fault_path)
        before = sandbox.controls.requests(self.fault_path)
        outcome = await deliverer.deliver_record(record)
        assert outcome.kind is OutcomeKind.PAUSE_AUTH
        assert outcome.error_class == "auth"
        # one attempt, one credentials refresh, one more attempt, then stop
        assert sandbox.controls.requests(self.fault_path) - before == 2 * self.requests_per_attempt
        assert self.count_effects(sandbox, record) == 0
        self._check_safe(connector, outcome)

    async def test_client_error_is_dead_lettered_without_retry(
        self, deliverer: Deliverer, sandbox: SandboxServer
    ) -> None:
        record = self.make_record()
        sandbox.controls.fail_next(1, status=400, path=self.fault_path)
        before = sandbox.controls.requests(self.fault_path)
        outcome = await deliverer.deliver_record(record)
        assert outcome.kind is OutcomeKind.DEAD_LETTER
        assert outcome.error_class == "permanent"
        assert sandbox.controls.requests(self.fault_path) - before == self.requests_per_attempt
        assert self.count_effects(sandbox, record) == 0

    async def test_batch_delivers_each_record_once_and_retries_only_failures(
        self, deliverer: Deliverer, sandbox: SandboxServer
    ) -> None:
        already = self.make_record()
        assert (await deliverer.deliver_record(already)).kind is OutcomeKind.DELIVERED
        fresh = [self.make_record(), self.make_record()]
        sandbox.controls.fail_next(1, status=503, path=self.fault_path)
        outcomes = await deliverer.deliver_batch([fresh[0], already, fresh[1]])
        assert [o.kind for o in outcomes] == [
            OutcomeKind.DELIVERED,
            OutcomeKind.DUPLICATE,
            OutcomeKind.DELIVERED,
        ], [o.message for o in outcomes]
        for record in (*fresh, already):
            assert self.count_effects(sandbox, record) == 1
