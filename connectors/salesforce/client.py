"""HTTP client of the Salesforce REST API (``/services/data/vNN.0``).

One ``httpx.AsyncClient`` with the OAuth flow for API calls, another (no auth) for the token
endpoint.  Every response's ``Sforce-Limit-Info: api-usage=N/M`` is read and handed to
``on_api_usage`` (the connector exports it as a gauge).  Methods return parsed results or raise
the classified errors of ``errors.py``; a 412 is returned to the caller as
``PreconditionFailed`` because only the caller knows what a conflict means for its operation.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from connectors.base.auth import OAuth2Auth
from connectors.base.errors import ConnectorError, DataError, RetryableError
from connectors.salesforce.auth import SalesforceAuth, make_auth
from connectors.salesforce.config import SalesforceSettings
from connectors.salesforce.errors import (
    classify_response,
    classify_transport,
    multiple_choices,
)
from pipeline.resilience.http import make_http_client

log = logging.getLogger(__name__)

_USAGE = re.compile(r"(?:^|[\s,])api-usage=(\d+)/(\d+)")

ApiUsageObserver = Callable[[int, int], object]


class PreconditionFailed(Exception):
    """The record changed after ``If-Unmodified-Since`` (HTTP 412)."""


@dataclass(frozen=True)
class UpsertResult:
    id: str | None
    created: bool


def soql_quote(value: str) -> str:
    """A SOQL string literal: escape sequences of the SOQL reference (backslash first)."""
    escaped = (
        value.replace("\\", "\\\\")
        .replace("'", "\\'")
        .replace('"', '\\"')
        .replace("\n", "\\n")
        .replace("\r", "\\r")
        .replace("\t", "\\t")
        .replace("\b", "\\b")
        .replace("\f", "\\f")
    )
    return f"'{escaped}'"


def parse_api_usage(value: str | None) -> tuple[int, int] | None:
    match = _USAGE.search(value or "")
    return (int(match.group(1)), int(match.group(2))) if match else None


class SalesforceClient:
    def __init__(
        self,
        settings: SalesforceSettings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        on_api_usage: ApiUsageObserver | None = None,
        user_agent: str = "voicebus-salesforce",
    ) -> None:
        self.settings = settings
        self._token_http = make_http_client(
            settings.http, transport=transport, user_agent=user_agent
        )
        self.auth: SalesforceAuth = make_auth(settings, self._token_http)
        self._http = make_http_client(
            settings.http,
            auth=self.auth,
            transport=transport,
            user_agent=user_agent,
            headers={"accept": "application/json"},
        )
        self._on_api_usage = on_api_usage
        self.api_usage: tuple[int, int] | None = None

    async def data_url(self) -> str:
        """``{instance_url}/services/data/vNN.0`` (instance from settings or the token)."""
        instance = self.settings.instance_url
        if instance is None and isinstance(self.auth, OAuth2Auth):
            token = await self.auth.provider.token()
            value = token.extra.get("instance_url")
            instance = str(value).rstrip("/") if value else None
        if not instance:
            raise RetryableError(
                "salesforce: the token response named no instance_url; set "
                "VOICEBUS_SALESFORCE_INSTANCE_URL"
            )
        return f"{instance}/services/data/v{self.settings.api_version}"

    async def request(
        self,
        method: str,
        path: str,
        *,
        operation: str,
        json: Any = None,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        url = await self.data_url() + path
        try:
            response = await self._http.request(
                method, url, json=json, params=params, headers=dict(headers or {})
            )
        except httpx.TransportError as exc:
            raise classify_transport(exc, operation=operation) from None
        usage = parse_api_usage(response.headers.get("sforce-limit-info"))
        if usage is not None:
            self.api_usage = usage
            if self._on_api_usage is not None:
                self._on_api_usage(*usage)
        return response

    def _fail(self, response: httpx.Response, operation: str) -> ConnectorError:
        return classify_response(
            response,
            operation=operation,
            limit_retry_after_s=self.settings.limit_retry_after_s,
        )

    async def upsert(
        self,
        sobject: str,
        field: str,
        value: str,
        fields: Mapping[str, Any],
        *,
        if_unmodified_since: str | None = None,
    ) -> UpsertResult:
        """PATCH /sobjects/{sobject}/{field}/{value}: 201 created, 200/204 updated."""
        operation = f"upsert {sobject} by {field}"
        headers = {"If-Unmodified-Since": if_unmodified_since} if if_unmodified_since else {}
        response = await self.request(
            "PATCH",
            f"/sobjects/{sobject}/{field}/{quote(value, safe='')}",
            operation=operation,
            json=dict(fields),
            headers=headers,
        )
        if response.status_code in (200, 201):
            body = response.json() if response.content else {}
            return UpsertResult(body.get("id"), response.status_code == 201)
        if response.status_code == 204:
            return UpsertResult(None, False)
        if response.status_code == 300:
            raise multiple_choices(response, operation=operation)
        if response.status_code == 412:
            raise PreconditionFailed(operation)
        error = self._fail(response, operation)
        if isinstance(error, DataError) and error.vendor_code == "DUPLICATE_VALUE":
            # two upserts of one new external id raced; the retry finds the record and updates
            raise RetryableError(
                f"{error.message} (concurrent upsert of the same external id; retrying)",
                status_code=error.status_code,
                vendor_code=error.vendor_code,
            )
        raise error

    async def update(
        self,
        sobject: str,
        record_id: str,
        fields: Mapping[str, Any],
        *,
        if_unmodified_since: str | None = None,
    ) -> None:
        operation = f"update {sobject}"
        headers = {"If-Unmodified-Since": if_unmodified_since} if if_unmodified_since else {}
        response = await self.request(
            "PATCH",
            f"/sobjects/{sobject}/{quote(record_id, safe='')}",
            operation=operation,
            json=dict(fields),
            headers=headers,
        )
        if response.status_code == 204:
            return
        if response.status_code == 412:
            raise PreconditionFailed(operation)
        raise self._fail(response, operation)

    async def get(self, sobject: str, record_id: str, fields: Sequence[str]) -> dict[str, Any]:
        operation = f"read {sobject}"
        response = await self.request(
            "GET",
            f"/sobjects/{sobject}/{quote(record_id, safe='')}",
            operation=operation,
            params={"fields": ",".join(fields)} if fields else None,
        )
        if response.status_code != 200:
            raise self._fail(response, operation)
        data: dict[str, Any] = response.json()
        return data

    async def query(self, soql: str) -> list[dict[str, Any]]:
        """GET /query?q=... (the SOQL travels URL-encoded as a parameter, never spliced)."""
        response = await self.request("GET", "/query", operation="query", params={"q": soql})
        if response.status_code != 200:
            raise self._fail(response, "query")
        records = response.json().get("records") or []
        return [r for r in records if isinstance(r, dict)]

    async def collection_upsert(
        self, sobject: str, field: str, records: Sequence[Mapping[str, Any]]
    ) -> list[dict[str, Any]]:
        """PATCH /composite/sobjects/{sobject}/{field}: per-record results, in order."""
        operation = f"collection upsert {sobject} by {field}"
        body = {
            "allOrNone": False,
            "records": [{"attributes": {"type": sobject}, **dict(r)} for r in records],
        }
        response = await self.request(
            "PATCH", f"/composite/sobjects/{sobject}/{field}", operation=operation, json=body
        )
        if response.status_code != 200:
            raise self._fail(response, operation)
        results = response.json()
        if not isinstance(results, list) or len(results) != len(records):
            raise RetryableError(
                f"salesforce {operation}: {len(records)} records sent but the response has "
                "a different number of results"
            )
        return [r if isinstance(r, dict) else {} for r in results]

    async def aclose(self) -> None:
        await self._http.aclose()
        await self._token_http.aclose()
