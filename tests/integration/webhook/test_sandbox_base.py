"""The shared sandbox base (connectors/base/sandbox.py): knobs via Python and admin HTTP."""

from __future__ import annotations

import httpx
import pytest
from aiohttp import web

from connectors.base.sandbox import SandboxAdmin, SandboxServer, install_controls


def demo_app() -> web.Application:
    app = web.Application()
    controls = install_controls(app)
    records = {"c-1": {"name": "Ada"}}

    async def get_record(request: web.Request) -> web.Response:
        return web.json_response(records[request.match_info["id"]])

    def rename(record_id: str, name: str) -> dict:
        records[record_id]["name"] = name
        return records[record_id]

    controls.register_mutation("rename", rename)
    app.router.add_get("/records/{id}", get_record)
    app.router.add_get("/other", get_record)
    return app


@pytest.fixture
def server():
    with SandboxServer(demo_app()) as srv:
        yield srv


def test_fail_next_is_counted_and_path_scoped(server):
    server.controls.fail_next(2, status=502, path="/records/c-1")
    with httpx.Client(base_url=server.url) as client:
        statuses = [client.get("/records/c-1").status_code for _ in range(3)]
    assert statuses == [502, 502, 200]
    assert server.controls.counts() == {"/records/c-1": 3}


def test_throttle_sends_retry_after(server):
    server.controls.throttle_next(1, retry_after=3)
    with httpx.Client(base_url=server.url) as client:
        first = client.get("/records/c-1")
        second = client.get("/records/c-1")
    assert first.status_code == 429 and first.headers["Retry-After"] == "3"
    assert second.status_code == 200


def test_rate_limit_above_configured_rate(server):
    server.controls.limit_rate(3, retry_after=2)
    with httpx.Client(base_url=server.url) as client:
        statuses = [client.get("/records/c-1").status_code for _ in range(5)]
    assert statuses.count(200) == 3 and statuses.count(429) == 2


def test_admin_http_drives_the_same_controls(server):
    admin = SandboxAdmin(server.url)
    try:
        admin.fail_next(1, status=500)
        with httpx.Client(base_url=server.url) as client:
            assert client.get("/records/c-1").status_code == 500
            assert admin.mutate("rename", record_id="c-1", name="Grace") == {"name": "Grace"}
            assert client.get("/records/c-1").json() == {"name": "Grace"}
        assert admin.stats() == {"requests": {"/records/c-1": 2}, "total": 2}
        admin.reset()
        assert admin.stats()["total"] == 0
        with pytest.raises(httpx.HTTPStatusError):
            admin.mutate("nope")
    finally:
        admin.close()


def test_latency_is_added(server):
    server.controls.set_latency(300)
    with httpx.Client(base_url=server.url, timeout=0.1) as client, pytest.raises(httpx.ReadTimeout):
        client.get("/records/c-1")
