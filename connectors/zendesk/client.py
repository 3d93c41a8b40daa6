"""HTTP client of the Zendesk connector: the /api/v2 calls we use, classified errors.

Every response's rate-limit headers (``X-Rate-Limit-Remaining``, ``ratelimit-remaining`` /
``ratelimit-reset``, ``Retry-After``) go to ``observe_headers`` (the shared token bucket,
wired by ``bind_rate_limiter``), so the sink slows down before Zendesk answers 429.
Jobs (``create_many`` / ``update_many``) are polled with bounded exponential backoff.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import httpx

from connectors.base.errors import PermanentError, RetryableError
from connectors.zendesk.errors import (
    CONFLICT_CODE,
    classify_body,
    classify_transport,
    error_code,
)
from pipeline.observability import inject_trace_headers
from pipeline.resilience.http import HttpClientSettings, make_http_client

HeadersObserver = Callable[[Mapping[str, str]], object]
API = "/api/v2"
FINISHED_JOB = ("completed", "failed", "killed")


class UpdateConflict(Exception):
    """Zendesk answered 409 UpdateConflict to a ``safe_update`` (the ticket changed after
    ``updated_stamp``); the connector turns it into a ``ConflictError`` with the ticket's
    current values."""

    def __init__(self, ticket_id: int) -> None:
        super().__init__(f"ticket {ticket_id} changed after updated_stamp")
        self.ticket_id = ticket_id


class ZendeskClient:
    def __init__(
        self,
        base_url: str,
        auth: httpx.Auth,
        http: HttpClientSettings | None = None,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        observe_headers: HeadersObserver | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        user_agent: str = "voicebus-zendesk",
    ) -> None:
        self.observe_headers = observe_headers
        self._sleep = sleep
        self._http = make_http_client(
            http,
            base_url=base_url,
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
        json: Mapping[str, Any] | None = None,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        conflict_ticket: int | None = None,
    ) -> tuple[dict[str, Any], httpx.Headers]:
        """One call; the JSON body on 2xx, else a classified ``ConnectorError`` (or
        ``UpdateConflict`` when ``conflict_ticket`` is given and Zendesk says so)."""
        try:
            response = await self._http.request(
                method,
                API + path,
                json=json,
                params=params,
                headers=inject_trace_headers(dict(headers or {})),
            )
        except httpx.TransportError as exc:
            raise classify_transport(exc, operation=operation) from None
        if self.observe_headers is not None:
            self.observe_headers(rate_limit_headers(response.headers))
        try:
            body: Any = response.json() if response.content else {}
        except ValueError:
            body = None
        if (
            response.status_code == 409
            and conflict_ticket is not None
            and error_code(body) == CONFLICT_CODE
        ):
            raise UpdateConflict(conflict_ticket)
        error = classify_body(response.status_code, body, response.headers, operation=operation)
        if error is not None:
            raise error
        if not isinstance(body, dict):
            raise RetryableError(
                f"zendesk {operation}: HTTP {response.status_code} without a JSON object body "
                "(proxy or outage page?); will retry"
            )
        return body, response.headers

    # ---- tickets -----------------------------------------------------------------------
    async def find_tickets(self, external_id: str, *, use_search: bool) -> list[dict[str, Any]]:
        """Every ticket with this external_id (Zendesk does not keep it unique)."""
        if use_search:
            query = f'type:ticket external_id:"{_quote(external_id)}"'
            body, _ = await self.request(
                "GET", "/search", operation="search tickets", params={"query": query}
            )
            return [
                r for r in body.get("results") or [] if r.get("result_type", "ticket") == "ticket"
            ]
        body, _ = await self.request(
            "GET", "/tickets", operation="list tickets", params={"external_id": external_id}
        )
        return list(body.get("tickets") or [])

    async def get_ticket(self, ticket_id: int) -> dict[str, Any]:
        body, _ = await self.request("GET", f"/tickets/{ticket_id}", operation="show ticket")
        return dict(body.get("ticket") or {})

    async def create_ticket(
        self, ticket: Mapping[str, Any], idempotency_key: str
    ) -> tuple[dict[str, Any], bool]:
        """(ticket, replayed): ``replayed`` when Zendesk answered from its idempotency cache
        (``x-idempotency-lookup: hit``)."""
        body, headers = await self.request(
            "POST",
            "/tickets",
            operation="create ticket",
            json={"ticket": dict(ticket)},
            headers={"Idempotency-Key": idempotency_key},
        )
        return dict(body.get("ticket") or {}), headers.get("x-idempotency-lookup") == "hit"

    async def update_ticket(self, ticket_id: int, ticket: Mapping[str, Any]) -> dict[str, Any]:
        safe = bool(ticket.get("safe_update"))
        body, _ = await self.request(
            "PUT",
            f"/tickets/{ticket_id}",
            operation="update ticket",
            json={"ticket": dict(ticket)},
            conflict_ticket=ticket_id if safe else None,
        )
        return dict(body.get("ticket") or {})

    async def comments(self, ticket_id: int) -> list[dict[str, Any]]:
        body, _ = await self.request(
            "GET", f"/tickets/{ticket_id}/comments", operation="list ticket comments"
        )
        return list(body.get("comments") or [])

    # ---- users -------------------------------------------------------------------------
    async def create_or_update_user(self, user: Mapping[str, Any]) -> int:
        body, _ = await self.request(
            "POST", "/users/create_or_update", operation="create/update user", json={"user": user}
        )
        user_id = (body.get("user") or {}).get("id")
        if not isinstance(user_id, int):
            raise PermanentError("zendesk create/update user: the answer has no user id")
        return user_id

    # ---- jobs --------------------------------------------------------------------------
    async def create_many(self, tickets: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        body, _ = await self.request(
            "POST",
            "/tickets/create_many",
            operation="create many tickets",
            json={"tickets": [dict(t) for t in tickets]},
        )
        return await self.wait_job(body.get("job_status") or {}, "create many tickets")

    async def update_many(self, tickets: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        body, _ = await self.request(
            "PUT",
            "/tickets/update_many",
            operation="update many tickets",
            json={"tickets": [dict(t) for t in tickets]},
        )
        return await self.wait_job(body.get("job_status") or {}, "update many tickets")

    async def wait_job(
        self,
        job: Mapping[str, Any],
        operation: str,
        *,
        interval_s: float = 0.05,
        max_interval_s: float = 2.0,
        timeout_s: float = 60.0,
    ) -> dict[str, Any]:
        """Poll ``GET /job_statuses/{id}`` until the job is finished (bounded backoff);
        ``RetryableError`` if it takes longer than ``timeout_s``."""
        job_id = job.get("id")
        if not job_id:
            raise PermanentError(f"zendesk {operation}: the answer has no job_status id")
        deadline = time.monotonic() + timeout_s
        current = dict(job)
        wait = interval_s
        while current.get("status") not in FINISHED_JOB:
            if time.monotonic() > deadline:
                raise RetryableError(
                    f"zendesk {operation}: job {job_id} still {current.get('status')} after "
                    f"{timeout_s:g}s; will retry (already created items are found by "
                    "external_id)"
                )
            await self._sleep(wait)
            wait = min(wait * 2, max_interval_s)
            body, _ = await self.request(
                "GET", f"/job_statuses/{job_id}", operation="show job status"
            )
            current = dict(body.get("job_status") or {})
        if current.get("status") != "completed" and not current.get("results"):
            raise RetryableError(
                f"zendesk {operation}: job {job_id} ended {current.get('status')}; will retry"
            )
        return current

    async def aclose(self) -> None:
        await self._http.aclose()


def _quote(value: str) -> str:
    """Escape a value for a search query phrase (never string-build raw input)."""
    return value.replace("\\", "\\\\").replace('"', '\\"')


def rate_limit_headers(headers: httpx.Headers) -> dict[str, str]:
    """Zendesk's ``X-Rate-Limit-Remaining`` (with a dash) under the name the shared token
    bucket reads (``X-RateLimit-Remaining``), besides the ``ratelimit-*`` ones it sends."""
    out = {k.lower(): v for k, v in headers.items()}
    if "x-rate-limit-remaining" in out and "x-ratelimit-remaining" not in out:
        out["x-ratelimit-remaining"] = out["x-rate-limit-remaining"]
    return out
