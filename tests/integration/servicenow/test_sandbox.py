"""The sandbox behaves like an instance: auth, error shapes, spec validation, paging."""

from __future__ import annotations

import httpx

from connectors.base.sandbox import SandboxServer
from tests.integration.servicenow.conftest import PASSWORD, USER


async def test_unauthenticated_and_spec_violations_answer_servicenow_errors(
    sn_sandbox: SandboxServer,
) -> None:
    async with httpx.AsyncClient(base_url=sn_sandbox.url) as anon:
        r = await anon.get("/api/now/table/incident")
    assert r.status_code == 401
    assert r.json() == {
        "error": {
            "message": "User Not Authenticated",
            "detail": "Required to provide Auth information",
        },
        "status": "failure",
    }
    async with httpx.AsyncClient(base_url=sn_sandbox.url, auth=(USER, PASSWORD)) as http:
        bad_id = await http.patch("/api/now/table/incident/not-a-sys-id", json={})
        bad_limit = await http.get("/api/now/table/incident", params={"sysparm_limit": "0"})
        bad_body = await http.post("/api/now/table/incident", json=["not", "an", "object"])
        bad_path = await http.get("/api/now/tables/incident")
        missing = await http.patch("/api/now/table/incident/" + "0" * 32, json={"state": "2"})
    for response, words in ((bad_id, "sys_id"), (bad_limit, "sysparm_limit"), (bad_body, "body")):
        assert response.status_code == 400
        assert response.json()["status"] == "failure"
        assert words in response.json()["error"]["detail"]
    assert bad_path.status_code == 400 and bad_path.json()["status"] == "failure"
    assert missing.status_code == 404 and missing.json()["error"]["message"] == "No Record found"


async def test_paging_fields_display_values_and_numbers(sn_sandbox: SandboxServer) -> None:
    async with httpx.AsyncClient(base_url=sn_sandbox.url, auth=(USER, PASSWORD)) as http:
        created = [
            (await http.post("/api/now/table/incident", json={"short_description": f"n{i}"}))
            for i in range(3)
        ]
        assert [c.status_code for c in created] == [201] * 3
        numbers = [c.json()["result"]["number"] for c in created]
        assert numbers == ["INC0010001", "INC0010002", "INC0010003"]
        sys_id = created[0].json()["result"]["sys_id"]
        assert len(sys_id) == 32 and int(sys_id, 16) >= 0
        page = await http.get(
            "/api/now/table/incident",
            params={
                "sysparm_query": "short_descriptionSTARTSWITHn^ORDERBYDESCnumber",
                "sysparm_limit": "2",
                "sysparm_offset": "1",
                "sysparm_fields": "number,state",
                "sysparm_display_value": "true",
            },
        )
    assert page.json()["result"] == [
        {"number": "INC0010002", "state": "New"},
        {"number": "INC0010001", "state": "New"},
    ]
    assert page.headers["X-Total-Count"] == "3"
