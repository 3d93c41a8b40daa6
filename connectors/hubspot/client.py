"""HTTP client of the HubSpot connector: one place for auth, client-side rate limiting,
rate-limit header feedback, classification and HubSpot's batch response shapes.

Every API call takes a token from ``bucket`` (search calls also from ``search_bucket``:
HubSpot limits search to about 4 requests/s per portal).  The ``X-HubSpot-RateLimit-*``
headers of every response feed back into the buckets (``RateLimitObserver``): the bucket's
rate drops to what the portal publishes, and a window reported as used up pauses every
caller until it frees, so concurrent deliveries do not each discover the 429.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from connectors.base.errors import ConnectorError, PermanentError, ThrottledError
from connectors.hubspot.config import HubSpotSettings
from connectors.hubspot.errors import (
    classify_response,
    classify_transport,
    seconds_until_daily_reset,
)
from pipeline.observability import inject_trace_headers
from pipeline.resilience.http import make_http_client
from pipeline.resilience.ratelimit import TokenBucket

BATCH_LIMIT = 100  # HubSpot: at most 100 inputs per batch call
SEARCH_PAGE_LIMIT = 200
SEARCH_IN_LIMIT = 100

H_DAILY_REMAINING = "x-hubspot-ratelimit-daily-remaining"
H_INTERVAL_MS = "x-hubspot-ratelimit-interval-milliseconds"
H_MAX = "x-hubspot-ratelimit-max"
H_REMAINING = "x-hubspot-ratelimit-remaining"
H_SECONDLY = "x-hubspot-ratelimit-secondly"
H_SECONDLY_REMAINING = "x-hubspot-ratelimit-secondly-remaining"


def _int(headers: Mapping[str, str], name: str) -> int | None:
    value = headers.get(name)
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


class RateLimitObserver:
    """Turns ``X-HubSpot-RateLimit-*`` headers into bucket adjustments: the rate never goes
    above what the portal publishes (nor above the configured one), a used-up 1 s / 10 s
    window pauses every caller for one pacing interval, and a used-up daily quota blocks
    requests until
    the reset (``daily_blocked_for``: the client then answers ``ThrottledError`` without
    calling, so the runtime parks records on the retry topic instead of holding them)."""

    def __init__(
        self,
        bucket: TokenBucket,
        configured_rate: float,
        daily_reset_tz: str = "UTC",
        *,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.bucket = bucket
        self.configured_rate = configured_rate
        self.daily_reset_tz = daily_reset_tz
        self.last: dict[str, int] = {}
        self._clock = clock
        self._daily_blocked_until = 0.0

    @property
    def daily_blocked_for(self) -> float:
        return max(0.0, self._daily_blocked_until - self._clock())

    def observe(self, headers: httpx.Headers) -> float | None:
        """Returns the pause applied, if any."""
        values = {
            name: v
            for name in (
                H_DAILY_REMAINING,
                H_INTERVAL_MS,
                H_MAX,
                H_REMAINING,
                H_SECONDLY,
                H_SECONDLY_REMAINING,
            )
            if (v := _int(headers, name)) is not None
        }
        if not values:
            return None
        self.last = values
        published: list[float] = []
        if values.get(H_MAX) and values.get(H_INTERVAL_MS):
            published.append(values[H_MAX] / (values[H_INTERVAL_MS] / 1000.0))
        if values.get(H_SECONDLY):
            published.append(float(values[H_SECONDLY]))
        if published and self.configured_rate > 0:
            self.bucket.rate_per_s = min([self.configured_rate, *published])
        if values.get(H_DAILY_REMAINING) == 0:
            wait = seconds_until_daily_reset(self.daily_reset_tz)
            self._daily_blocked_until = self._clock() + wait
            return wait
        if values.get(H_SECONDLY_REMAINING) == 0 or values.get(H_REMAINING) == 0:
            # The window is used up: hold back one pacing interval (the bucket already paces
            # at the published rate; a 429 that still comes is a throttle, not a failure).
            # A whole second here halved throughput at a 10/s pace against a 10/s window.
            rate = self.bucket.rate_per_s
            pause = 1.0 / rate if rate > 0 else 1.0
            self.bucket.penalise(pause)
            return pause
        return None


@dataclass
class BatchAnswer:
    """A batch endpoint's answer: ``results`` and the 207's ``errors`` entries."""

    status: int
    results: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)


class HubSpotClient:
    def __init__(
        self,
        settings: HubSpotSettings,
        auth: httpx.Auth,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        user_agent: str = "voicebus-hubspot",
    ) -> None:
        self.settings = settings
        self.auth = auth
        self.bucket = TokenBucket(settings.requests_per_s, settings.burst, clock=clock, sleep=sleep)
        self.search_bucket = TokenBucket(
            settings.search_requests_per_s, 1, clock=clock, sleep=sleep
        )
        self.observer = RateLimitObserver(self.bucket, settings.requests_per_s, clock=clock)
        self.requests_sent = 0
        self._http = make_http_client(
            settings.http,
            base_url=settings.base_url,
            auth=auth,
            transport=transport,
            user_agent=user_agent,
            headers={"content-type": "application/json", "accept": "application/json"},
        )

    async def request(
        self,
        method: str,
        path: str,
        *,
        operation: str,
        json: Any = None,
        search: bool = False,
        missing_is_data: bool = False,
        params: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """One API call; the response on 2xx (207 included), else a ``ConnectorError``."""
        if (blocked := self.observer.daily_blocked_for) > 0:
            raise ThrottledError(
                f"hubspot {operation}: the portal's daily API quota is used up "
                f"(X-HubSpot-RateLimit-Daily-Remaining: 0); waiting {blocked:.0f}s for the reset",
                retry_after=blocked,
                vendor_code="DAILY",
            )
        if search:
            await self.search_bucket.acquire()
        await self.bucket.acquire()
        self.requests_sent += 1
        try:
            response = await self._http.request(
                method, path, json=json, params=params, headers=inject_trace_headers({})
            )
        except httpx.TransportError as exc:
            raise classify_transport(exc, operation=operation) from None
        if response.status_code != 429:
            self.observer.observe(response.headers)
        error = classify_response(response, operation=operation, missing_is_data=missing_is_data)
        if error is not None:
            raise error
        return response

    async def batch(
        self,
        object_type: str,
        action: str,
        inputs: Sequence[Mapping[str, Any]],
        *,
        missing_is_data: bool = False,
    ) -> BatchAnswer:
        """``POST /crm/v3/objects/{type}/batch/{action}`` (create, update, upsert)."""
        response = await self.request(
            "POST",
            f"/crm/v3/objects/{object_type}/batch/{action}",
            json={"inputs": list(inputs)},
            operation=f"batch {action} of {len(inputs)} {object_type}",
            missing_is_data=missing_is_data,
        )
        return _batch_answer(response)

    async def associate_default(
        self, from_type: str, to_type: str, pairs: Sequence[tuple[str, str]]
    ) -> BatchAnswer:
        """``POST /crm/v4/associations/{from}/{to}/batch/associate/default`` (idempotent:
        an existing association is answered as a result again)."""
        response = await self.request(
            "POST",
            f"/crm/v4/associations/{from_type}/{to_type}/batch/associate/default",
            json={"inputs": [{"from": {"id": f}, "to": {"id": t}} for f, t in pairs]},
            operation=f"associate {len(pairs)} {from_type} with {to_type}",
            missing_is_data=True,
        )
        return _batch_answer(response)

    async def search(
        self,
        object_type: str,
        filter_groups: list[dict[str, Any]],
        properties: Iterable[str],
    ) -> list[dict[str, Any]]:
        """``POST /crm/v3/objects/{type}/search``, all pages."""
        found: list[dict[str, Any]] = []
        after = "0"
        while True:
            body = {
                "filterGroups": filter_groups,
                "properties": list(properties),
                "sorts": [],
                "limit": SEARCH_PAGE_LIMIT,
                "after": after,
            }
            response = await self.request(
                "POST",
                f"/crm/v3/objects/{object_type}/search",
                json=body,
                operation=f"search {object_type}",
                search=True,
            )
            data = _json(response)
            found.extend(r for r in data.get("results", []) if isinstance(r, dict))
            next_after = ((data.get("paging") or {}).get("next") or {}).get("after")
            if not next_after:
                return found
            after = str(next_after)

    async def get(
        self, object_type: str, object_id: str, properties: Iterable[str]
    ) -> dict[str, Any]:
        """``GET /crm/v3/objects/{type}/{id}?properties=...`` (a missing record is a data
        error: the event names a record that is gone)."""
        response = await self.request(
            "GET",
            f"/crm/v3/objects/{object_type}/{object_id}",
            params={"properties": ",".join(properties)},
            operation=f"read {object_type} {object_id}",
            missing_is_data=True,
        )
        return _json(response)

    async def aclose(self) -> None:
        await self._http.aclose()


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        raise PermanentError(
            f"hubspot: HTTP {response.status_code} answer is not JSON (is "
            "VOICEBUS_HUBSPOT_BASE_URL pointing at the HubSpot API?)"
        ) from None
    return data if isinstance(data, dict) else {}


def _batch_answer(response: httpx.Response) -> BatchAnswer:
    data = _json(response)
    return BatchAnswer(
        status=response.status_code,
        results=[r for r in data.get("results", []) if isinstance(r, dict)],
        errors=[e for e in data.get("errors", []) if isinstance(e, dict)],
    )


def chunks(items: Sequence[Any], size: int = BATCH_LIMIT) -> list[Sequence[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def phone_filter_groups(phones: Sequence[str]) -> list[dict[str, Any]]:
    """EQ on phone / mobilephone for one number; IN for several (one group per property:
    groups are OR-ed, filters inside a group AND-ed)."""
    if len(phones) == 1:
        return [
            {"filters": [{"propertyName": prop, "operator": "EQ", "value": phones[0]}]}
            for prop in ("phone", "mobilephone")
        ]
    return [
        {"filters": [{"propertyName": prop, "operator": "IN", "values": list(phones)}]}
        for prop in ("phone", "mobilephone")
    ]


def error_ids(error: Mapping[str, Any]) -> set[str]:
    """Input ids an error entry names (``context.ids`` / ``objectWriteTraceId`` /
    association ``fromObjectId``)."""
    context = error.get("context")
    ids: set[str] = set()
    if isinstance(context, Mapping):
        for key in ("ids", "objectWriteTraceId", "fromObjectId", "id"):
            values = context.get(key)
            if isinstance(values, list):
                ids.update(str(v) for v in values)
    return ids


ErrorMap = dict[str, ConnectorError]
