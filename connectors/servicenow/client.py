"""ServiceNow Table API client (``/api/now/table/<table>``): query, create, patch.

Every response's rate-limit headers (``Retry-After``, ``X-RateLimit-*``) go to
``observe_headers`` (the shared token bucket) so the whole sink slows down, not only the call
that got the 429.  Values are sent as JSON bodies or as an encoded query of checked values
(``query.checked_value``); the URL of a failed call is never put into an error (its query can
hold an e-mail or phone number).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import httpx

from connectors.base.errors import RetryableError
from connectors.servicenow.errors import classify_response, classify_transport
from pipeline.observability import inject_trace_headers
from pipeline.resilience.http import HttpClientSettings, make_http_client

HeadersObserver = Callable[[Mapping[str, str]], object]
API_PREFIX = "/api/now/table/"


class TableClient:
    def __init__(
        self,
        instance_url: str,
        auth: httpx.Auth,
        http: HttpClientSettings | None = None,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        observe_headers: HeadersObserver | None = None,
        user_agent: str = "voicebus-servicenow",
    ) -> None:
        self.observe_headers = observe_headers
        self.calls = 0
        self._http = make_http_client(
            http,
            base_url=instance_url,
            auth=auth,
            transport=transport,
            user_agent=user_agent,
            headers={"Accept": "application/json"},
        )

    async def _send(
        self,
        method: str,
        path: str,
        operation: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Mapping[str, Any] | None = None,
        sent: Iterable[str] = (),
    ) -> Any:
        self.calls += 1
        try:
            response = await self._http.request(
                method,
                path,
                params=dict(params or {}),
                json=dict(body) if body is not None else None,
                headers=inject_trace_headers({}),
            )
        except httpx.TransportError as exc:
            raise classify_transport(exc, operation=operation) from None
        if self.observe_headers is not None:
            self.observe_headers(response.headers)
        error = classify_response(response, operation=operation, sent=sent)
        if error is not None:
            raise error
        try:
            data = response.json()
        except ValueError:
            raise RetryableError(
                f"servicenow {operation}: HTTP {response.status_code} without a JSON body "
                "(instance hibernating or a proxy answered?)"
            ) from None
        if not isinstance(data, dict) or "result" not in data:
            raise RetryableError(f"servicenow {operation}: response has no 'result'")
        return data["result"]

    async def query(
        self,
        table: str,
        query: str,
        *,
        fields: Sequence[str] = (),
        limit: int = 100,
        offset: int = 0,
        sent: Iterable[str] = (),
    ) -> list[dict[str, Any]]:
        params = {
            "sysparm_query": query,
            "sysparm_limit": str(limit),
            "sysparm_exclude_reference_link": "true",
        }
        if offset:
            params["sysparm_offset"] = str(offset)
        if fields:
            params["sysparm_fields"] = ",".join(fields)
        result = await self._send(
            "GET", API_PREFIX + table, f"query {table}", params=params, sent=sent
        )
        return [r for r in result if isinstance(r, dict)] if isinstance(result, list) else []

    async def create(self, table: str, fields: Mapping[str, Any]) -> dict[str, Any]:
        result = await self._send(
            "POST",
            API_PREFIX + table,
            f"create {table}",
            params={"sysparm_exclude_reference_link": "true"},
            body=fields,
            sent=[str(v) for v in fields.values()],
        )
        return dict(result) if isinstance(result, dict) else {}

    async def patch(self, table: str, sys_id: str, fields: Mapping[str, Any]) -> dict[str, Any]:
        result = await self._send(
            "PATCH",
            f"{API_PREFIX}{table}/{sys_id}",
            f"update {table}/{sys_id}",
            params={"sysparm_exclude_reference_link": "true"},
            body=fields,
            sent=[str(v) for v in fields.values()],
        )
        return dict(result) if isinstance(result, dict) else {}

    async def aclose(self) -> None:
        await self._http.aclose()
