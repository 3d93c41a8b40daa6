"""The running registry over real HTTP: ids, 409 reasons, and every error code."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

pytestmark = pytest.mark.integration

CT = "application/vnd.schemaregistry.v1+json"


def record(name: str, **fields: str) -> str:
    return json.dumps(
        {
            "type": "record",
            "name": name,
            "fields": [{"name": k, "type": v} for k, v in fields.items()],
        }
    )


@pytest.fixture
def http(registry) -> Iterator[httpx.Client]:  # type: ignore[no-untyped-def]
    with httpx.Client(base_url=registry.url, headers={"Content-Type": CT}) as client:
        yield client


def error(response: httpx.Response) -> tuple[int, int, str]:
    assert response.headers["content-type"].startswith(CT)
    body = response.json()
    return response.status_code, body["error_code"], body["message"]


def test_identical_schema_twice_same_id_and_version(http: httpx.Client, unique: str) -> None:
    schema = record("Call", call_id="string")
    first = http.post(f"/subjects/a-{unique}/versions", json={"schema": schema})
    assert first.status_code == 200 and first.headers["content-type"].startswith(CT)
    spaced = json.dumps(json.loads(schema), indent=4)
    again = http.post(f"/subjects/a-{unique}/versions", json={"schema": spaced})
    other = http.post(f"/subjects/b-{unique}/versions", json={"schema": schema})
    assert first.json() == again.json() == other.json()
    assert http.get(f"/subjects/a-{unique}/versions").json() == [1]
    assert http.get(f"/schemas/ids/{first.json()['id']}").json() == {"schema": schema}


def test_incompatible_schema_is_409_with_the_reason(http: httpx.Client, unique: str) -> None:
    subject = f"c-{unique}"
    http.post(f"/subjects/{subject}/versions", json={"schema": record("Call", call_id="string")})
    response = http.post(
        f"/subjects/{subject}/versions",
        json={"schema": record("Call", call_id="string", tenant="string")},
    )
    status, code, message = error(response)
    assert (status, code) == (409, 409)
    assert f'incompatible with an earlier schema for subject "{subject}"' in message
    assert "READER_FIELD_MISSING_DEFAULT_VALUE" in message and "tenant" in message
    assert "BACKWARD_TRANSITIVE" in message  # the server default level
    assert http.get(f"/subjects/{subject}/versions").json() == [1]


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"schema": '{"type": "record", "name": "X", "fields": [{"name": "a"}]}'}, "Invalid"),
        ({"schema": '{"type": "recrod", "name": "X"}'}, "recrod"),
        ({"schema": "not json at all"}, "not valid JSON"),
        ({"schema": '{"type": "string"}', "schemaType": "JSON"}, "Avro schemas only"),
    ],
)
def test_malformed_schema_is_42201(http: httpx.Client, unique: str, body: dict, says: str) -> None:
    status, code, message = error(http.post(f"/subjects/m-{unique}/versions", json=body))
    assert (status, code) == (422, 42201)
    assert says in message
    assert error(http.get(f"/subjects/m-{unique}/versions"))[1] == 40401


def test_bad_level_is_42203(http: httpx.Client, unique: str) -> None:
    status, code, message = error(http.put(f"/config/l-{unique}", json={"compatibility": "LOOSE"}))
    assert (status, code) == (422, 42203) and "LOOSE" in message
    assert error(http.get(f"/config/l-{unique}"))[1] == 40408


def test_each_not_found_variant(http: httpx.Client, unique: str) -> None:
    s = f"nf-{unique}"
    v1, v2 = record("N", a="int"), record("N", a="int", b=["null", "int"])
    v2 = json.dumps(
        {
            **json.loads(v2),
            "fields": [
                {"name": "a", "type": "int"},
                {"name": "b", "type": ["null", "int"], "default": None},
            ],
        }
    )
    assert error(http.get(f"/subjects/{s}/versions"))[:2] == (404, 40401)
    http.post(f"/subjects/{s}/versions", json={"schema": v1})
    http.post(f"/subjects/{s}/versions", json={"schema": v2})
    assert error(http.get(f"/subjects/{s}/versions/3"))[:2] == (404, 40402)
    assert error(http.post(f"/subjects/{s}", json={"schema": record("Other", z="int")}))[:2] == (
        404,
        40403,
    )
    assert error(http.get("/schemas/ids/987654"))[:2] == (404, 40403)
    assert error(http.delete(f"/subjects/{s}/versions/2?permanent=true"))[:2] == (404, 40407)
    assert http.delete(f"/subjects/{s}/versions/2").json() == 2
    assert error(http.delete(f"/subjects/{s}/versions/2"))[:2] == (404, 40406)
    assert error(http.delete(f"/subjects/{s}?permanent=true"))[:2] == (404, 40405)
    assert http.delete(f"/subjects/{s}").json() == [1]
    assert error(http.delete(f"/subjects/{s}"))[:2] == (404, 40404)
    assert error(http.get(f"/subjects/{s}/versions/latest"))[:2] == (404, 40401)
    assert http.get(f"/subjects/{s}/versions?deleted=true").json() == [1, 2]
    assert error(http.get(f"/subjects/{s}/versions/one"))[:2] == (422, 42202)
