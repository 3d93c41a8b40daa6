"""Rate limits: a token bucket at the vendor's rate keeps 429s/REQUEST_LIMIT_EXCEEDED out of the
DLQ; Sforce-Limit-Info is exported as a metric.  (Counts, not timings.)"""

from __future__ import annotations

import asyncio

from connectors.base.contract import RecordingClock
from connectors.salesforce.sandbox import SalesforceSandbox
from connectors.salesforce.sandbox_state import SalesforceOrg
from connectors.salesforce.sink import SalesforceConnector
from pipeline.observability import configure_telemetry
from pipeline.resilience.target import ResilienceSettings
from pipeline.sinks.delivery import OutcomeKind

from .conftest import make_deliverer
from .helpers import enriched_event, record_of, settings_for

VENDOR_RATE = 10.0


async def run_at_vendor_rate(sf: SalesforceSandbox, prefix: str, count: int) -> list:
    connector = SalesforceConnector(
        settings_for(sf, limit_retry_after_s=0.5, lookup_unmatched_callers=False)
    )
    resilience = ResilienceSettings(
        rate_per_s=VENDOR_RATE, burst=1, jitter_s=0, initial_backoff_s=0.05, max_attempts=3
    )
    deliverer = make_deliverer(connector, settings=resilience)  # real clock and sleep
    records = [record_of(enriched_event(f"{prefix}-{i:02d}")) for i in range(count)]
    outcomes = await asyncio.gather(*(deliverer.deliver_record(r) for r in records))
    await connector.aclose()
    return outcomes


async def test_vendor_rate_limit_429_never_reaches_the_dlq() -> None:
    with SalesforceSandbox() as sf:
        sf.instance.controls.limit_rate(VENDOR_RATE, retry_after=0.2)
        outcomes = await run_at_vendor_rate(sf, "r429", 15)
        assert not [o for o in outcomes if o.kind is OutcomeKind.DEAD_LETTER]
        assert {o.kind for o in outcomes} == {OutcomeKind.DELIVERED}
        assert len(sf.org.all("Task")) == 15


async def test_request_limit_exceeded_403_is_throttling_not_a_dead_letter() -> None:
    org = SalesforceOrg(limit_status=403)  # Salesforce's own answer: 403 REQUEST_LIMIT_EXCEEDED
    with SalesforceSandbox(org) as sf:
        sf.instance.controls.limit_rate(VENDOR_RATE)
        sf.instance.controls.throttle_next(2)  # and two refusals on top, whatever the bucket does
        outcomes = await run_at_vendor_rate(sf, "r403", 8)
        assert not [o for o in outcomes if o.kind is OutcomeKind.DEAD_LETTER]
        assert {o.kind for o in outcomes} == {OutcomeKind.DELIVERED}
        assert len(sf.org.all("Task")) == 8


async def test_daily_api_limit_exhausted_is_throttled_with_the_error_code(
    sf: SalesforceSandbox, connector: SalesforceConnector
) -> None:
    clock = RecordingClock()  # waits are recorded, not waited
    sf.org.daily_api_limit = 2  # the first call: one SOQL lookup + one upsert
    deliverer = make_deliverer(
        connector,
        settings=ResilienceSettings(rate_per_s=0, throttle_max_waits=1, jitter_s=0),
        sleep=clock.sleep,
        clock=clock,
    )
    assert (
        await deliverer.deliver_record(record_of(enriched_event("d-1")))
    ).kind is OutcomeKind.DELIVERED
    outcome = await deliverer.deliver_record(record_of(enriched_event("d-2")))
    assert outcome.kind is OutcomeKind.RETRY_LATER
    assert outcome.error_class == "throttled"
    assert "REQUEST_LIMIT_EXCEEDED" in (outcome.message or "")
    assert clock.sleeps and min(clock.sleeps) >= connector.settings.limit_retry_after_s


async def test_sforce_limit_info_is_exported_as_a_gauge(
    sf: SalesforceSandbox, connector: SalesforceConnector
) -> None:
    telemetry = configure_telemetry(in_memory=True)
    deliverer = make_deliverer(connector)
    for i in range(3):
        await deliverer.deliver_record(record_of(enriched_event(f"m-{i}")))
    assert connector.client.api_usage == (sf.org.api_calls, sf.org.daily_api_limit)
    points = telemetry.metric_points()
    used = [
        v for a, v in points.get("voicebus.target.api_usage", []) if a.get("target") == "salesforce"
    ]
    limit = [
        v for a, v in points.get("voicebus.target.api_limit", []) if a.get("target") == "salesforce"
    ]
    assert used == [float(sf.org.api_calls)]
    assert limit == [float(sf.org.daily_api_limit)]
