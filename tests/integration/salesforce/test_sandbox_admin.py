"""The sandbox's knobs over HTTP (``/_sandbox/``), as the demo and other processes drive it,
and the standalone ``python -m connectors.salesforce.sandbox`` server."""

from __future__ import annotations

import subprocess
import sys
import time

import httpx

from connectors.base.sandbox import SandboxAdmin
from connectors.salesforce.sandbox import SalesforceSandbox
from connectors.salesforce.sink import SalesforceConnector
from pipeline.broker import free_port
from pipeline.sinks.delivery import OutcomeKind

from .conftest import make_deliverer
from .helpers import enriched_event, record_of


async def test_admin_api_mutations(sf: SalesforceSandbox, connector: SalesforceConnector) -> None:
    admin = SandboxAdmin(sf.instance_url)
    try:
        contact = admin.mutate("insert_record", sobject="Contact", fields={"LastName": "Ada"})
        stamp = admin.mutate(
            "edit_record", sobject="Contact", record_id=contact, fields={"Phone": "+1555"}
        )
        assert sf.org.get("Contact", contact)["Phone"] == "+1555"
        assert sf.org.get("Contact", contact)["LastModifiedDate"] == stamp
        deliverer = make_deliverer(connector)
        assert (await deliverer.deliver_record(record_of(enriched_event("a-1")))).kind is (
            OutcomeKind.DELIVERED
        )
        grants = sf.org.token_requests["client_credentials"]
        assert admin.mutate("expire_tokens") >= 1
        assert (await deliverer.deliver_record(record_of(enriched_event("a-2")))).kind is (
            OutcomeKind.DELIVERED
        )
        assert sf.org.token_requests["client_credentials"] == grants + 1
        assert admin.stats()["total"] >= 2
    finally:
        admin.close()


def test_standalone_server_issues_tokens_and_serves_the_api() -> None:
    port = free_port("127.0.0.1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "connectors.salesforce.sandbox", "--port", str(port),
         "--client-id", "cid", "--client-secret", "csecret"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while True:
            try:
                token = httpx.post(
                    f"{base}/services/oauth2/token",
                    data={"grant_type": "client_credentials", "client_id": "cid",
                          "client_secret": "csecret"},
                )  # fmt: skip
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.1)
        assert token.status_code == 200
        body = token.json()
        assert body["instance_url"] == base and "expires_in" not in body
        response = httpx.get(
            f"{base}/services/data/v60.0/query",
            params={"q": "SELECT Id FROM Contact"},
            headers={"Authorization": f"Bearer {body['access_token']}"},
        )
        assert response.status_code == 200 and response.json()["totalSize"] == 0
        assert response.headers["Sforce-Limit-Info"] == "api-usage=1/15000"
    finally:
        proc.terminate()
        proc.wait(10)
