"""HTTP layer: Confluent paths, JSON shapes, content types and error bodies."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestClient, TestServer

from pipeline.registry.server import CONTENT_TYPE, create_app
from pipeline.registry.service import RegistryService
from pipeline.registry.store import MemoryLog

V1 = json.dumps({"type": "record", "name": "A", "fields": [{"name": "x", "type": "int"}]})
V2_BREAKING = json.dumps(
    {"type": "record", "name": "A", "fields": [{"name": "x", "type": "string"}]}
)


@pytest.fixture
async def client() -> AsyncIterator[TestClient]:
    app = create_app(RegistryService(MemoryLog()))
    async with TestClient(TestServer(app)) as test_client:
        yield test_client


async def answer(response) -> tuple[int, object]:  # type: ignore[no-untyped-def]
    assert response.headers["Content-Type"].startswith(CONTENT_TYPE)
    return response.status, await response.json(content_type=None)


async def test_root_types_and_empty_subjects(client: TestClient) -> None:
    assert await answer(await client.get("/")) == (200, {})
    assert await answer(await client.get("/schemas/types")) == (200, ["AVRO"])
    assert await answer(await client.get("/subjects")) == (200, [])


@pytest.mark.parametrize(
    "content_type",
    [
        "application/vnd.schemaregistry.v1+json",
        "application/vnd.schemaregistry+json",
        "application/json",
    ],
)
async def test_register_accepts_json_content_types(client: TestClient, content_type: str) -> None:
    response = await client.post(
        "/subjects/s-value/versions",
        data=json.dumps({"schema": V1}),
        headers={"Content-Type": content_type},
    )
    assert await answer(response) == (200, {"id": 1})


async def test_full_round_trip_shapes(client: TestClient) -> None:
    await client.post("/subjects/s/versions", json={"schema": V1})
    assert await answer(await client.get("/subjects/s/versions")) == (200, [1])
    assert await answer(await client.get("/subjects/s/versions/latest")) == (
        200,
        {"subject": "s", "version": 1, "id": 1, "schema": V1},
    )
    raw = await client.get("/subjects/s/versions/1/schema")
    assert json.loads(await raw.text()) == json.loads(V1)
    assert await answer(await client.get("/schemas/ids/1?subject=s")) == (200, {"schema": V1})
    assert await answer(await client.get("/schemas/ids/1/versions")) == (
        200,
        [{"subject": "s", "version": 1}],
    )
    assert await answer(await client.get("/schemas/ids/1/subjects")) == (200, ["s"])
    assert await answer(await client.post("/subjects/s", json={"schema": V1})) == (
        200,
        {"subject": "s", "version": 1, "id": 1, "schema": V1},
    )
    assert await answer(await client.delete("/subjects/s/versions/1")) == (200, 1)
    assert await answer(await client.get("/subjects?deleted=true")) == (200, ["s"])
    assert await answer(await client.delete("/subjects/s/versions/1?permanent=true")) == (200, 1)
    assert await answer(await client.get("/subjects?deleted=true")) == (200, [])


async def test_incompatible_is_http_409(client: TestClient) -> None:
    await client.post("/subjects/s/versions", json={"schema": V1})
    status, body = await answer(
        await client.post("/subjects/s/versions", json={"schema": V2_BREAKING})
    )
    assert status == 409 and body["error_code"] == 409  # type: ignore[index]
    assert "TYPE_MISMATCH" in body["message"]  # type: ignore[index]
    status, body = await answer(
        await client.post(
            "/compatibility/subjects/s/versions/latest?verbose=True", json={"schema": V2_BREAKING}
        )
    )
    assert status == 200 and body["is_compatible"] is False  # type: ignore[index]
    assert any("TYPE_MISMATCH" in m for m in body["messages"])  # type: ignore[index]
    status, body = await answer(
        await client.post("/compatibility/subjects/s/versions", json={"schema": V1})
    )
    assert body == {"is_compatible": True}


async def test_config_shapes(client: TestClient) -> None:
    assert await answer(await client.put("/config", json={"compatibility": "FULL"})) == (
        200,
        {"compatibility": "FULL"},
    )
    assert await answer(await client.get("/config")) == (200, {"compatibilityLevel": "FULL"})
    status, body = await answer(await client.get("/config/s"))
    assert status == 404 and body["error_code"] == 40408  # type: ignore[index]
    assert await answer(await client.get("/config/s?defaultToGlobal=true")) == (
        200,
        {"compatibilityLevel": "FULL"},
    )
    await client.put("/config/s", json={"compatibility": "none"})
    assert await answer(await client.delete("/config/s")) == (200, {"compatibilityLevel": "NONE"})
    status, body = await answer(await client.put("/config", json={"compatibility": "BAD"}))
    assert status == 422 and body["error_code"] == 42203  # type: ignore[index]


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("GET", "/subjects/none/versions", 404, 40401),
        ("GET", "/subjects/s/versions/9", 404, 40402),
        ("GET", "/schemas/ids/99", 404, 40403),
        ("GET", "/schemas/ids/abc", 404, 40403),
        ("GET", "/subjects/s/versions/zero", 422, 42202),
        ("GET", "/no/such/path", 404, 404),
        ("PATCH", "/subjects", 405, 405),
    ],
)
async def test_error_bodies(
    client: TestClient, method: str, path: str, status: int, code: int
) -> None:
    await client.post("/subjects/s/versions", json={"schema": V1})
    got_status, body = await answer(await client.request(method, path))
    assert got_status == status and body["error_code"] == code  # type: ignore[index]
    assert body["message"]  # type: ignore[index]


async def test_bad_bodies(client: TestClient) -> None:
    status, body = await answer(
        await client.post(
            "/subjects/s/versions", data="{oops", headers={"Content-Type": "application/json"}
        )
    )
    assert status == 400 and "not valid JSON" in body["message"]  # type: ignore[index]
    status, body = await answer(
        await client.post("/subjects/s/versions", data="x", headers={"Content-Type": "text/plain"})
    )
    assert status == 415 and body["error_code"] == 415  # type: ignore[index]
    status, body = await answer(await client.post("/subjects/s/versions", json={"schema": "{}"}))
    assert status == 422 and body["error_code"] == 42201  # type: ignore[index]
