"""The Table API client's requests (httpx.MockTransport) and header observation."""

from __future__ import annotations

import httpx

from connectors.servicenow import query as q
from connectors.servicenow.client import TableClient


async def test_query_sends_the_encoded_query_and_reports_rate_headers() -> None:
    seen: list[httpx.Request] = []
    observed: list[dict] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(
            200, json={"result": [{"sys_id": "1"}]}, headers={"X-RateLimit-Remaining": "10"}
        )

    client = TableClient(
        "https://a.service-now.com",
        httpx.BasicAuth("u", "p"),
        transport=httpx.MockTransport(handler),
        observe_headers=lambda h: observed.append(dict(h)),
    )
    try:
        rows = await client.query("sys_user", q.eq("email", "a=b ORc"), fields=("sys_id",), limit=2)
    finally:
        await client.aclose()
    assert rows == [{"sys_id": "1"}]
    [request] = seen
    assert request.url.path == "/api/now/table/sys_user"
    assert request.url.params["sysparm_query"] == "email=a=b ORc"  # one literal value
    assert request.url.params["sysparm_limit"] == "2"
    assert request.headers["authorization"].startswith("Basic ")
    assert observed and observed[0]["x-ratelimit-remaining"] == "10"
