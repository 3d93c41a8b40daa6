from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from connectors.salesforce.sandbox import SalesforceSandbox
from connectors.salesforce.sink import SalesforceConnector
from pipeline.resilience.target import ResilienceSettings, TargetResilience
from pipeline.sinks.delivery import Deliverer
from pipeline.sinks.ledger import InMemoryLedger

from .helpers import settings_for


@pytest.fixture
def sf() -> Iterator[SalesforceSandbox]:
    with SalesforceSandbox() as sandbox:
        yield sandbox


@pytest.fixture
async def connector(sf: SalesforceSandbox) -> AsyncIterator[SalesforceConnector]:
    connector = SalesforceConnector(settings_for(sf))
    yield connector
    await connector.aclose()


class Sleeps:
    """Injected sleep for the resilience layer: records waits, does not wait."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def make_deliverer(
    connector: SalesforceConnector, *, settings: ResilienceSettings | None = None, **kwargs
) -> Deliverer:
    resilience = TargetResilience.from_settings(
        connector.name,
        settings or ResilienceSettings(rate_per_s=0, jitter_s=0, initial_backoff_s=0.01),
        **kwargs,
    )
    return Deliverer(connector, InMemoryLedger(), resilience)
