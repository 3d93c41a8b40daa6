"""Zendesk rate-limit headers and 429s from the sandbox drive the client and the shared
token bucket."""

from __future__ import annotations

import pytest

from connectors.base.errors import ThrottledError
from connectors.base.sandbox import SandboxServer
from connectors.zendesk.sandbox import make_app
from connectors.zendesk.sink import ZendeskConnector
from pipeline.resilience.ratelimit import TokenBucket
from tests.integration.zendesk.conftest import API_TOKEN, EMAIL, zendesk_settings


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_remaining_zero_pauses_the_bucket_and_over_limit_is_throttled() -> None:
    with SandboxServer(make_app(email=EMAIL, api_token=API_TOKEN, rate_per_minute=2)) as srv:
        settings = zendesk_settings(srv.url)
        connector = ZendeskConnector(settings, reload_settings=lambda: settings)
        clock = Clock()
        bucket = TokenBucket(0, clock=clock)
        connector.bind_rate_limiter(bucket)
        try:
            assert await connector.client.find_tickets("c-1", use_search=False) == []
            assert bucket.paused_for == 0.0  # one request left in the window
            await connector.client.find_tickets("c-1", use_search=True)
            assert 0 < bucket.paused_for <= 61  # X-Rate-Limit-Remaining: 0 -> wait for reset
            with pytest.raises(ThrottledError) as caught:
                await connector.client.find_tickets("c-1", use_search=False)
        finally:
            await connector.aclose()
    assert 0 < caught.value.retry_after <= 61
    assert caught.value.status_code == 429
    assert API_TOKEN not in caught.value.message
