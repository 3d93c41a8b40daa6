"""Outlook (Graph) sandbox/connector fixtures; events come from the Gmail test helpers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from connectors.base.sandbox import SandboxServer
from connectors.outlook.config import OutlookSettings
from connectors.outlook.sandbox import make_app
from connectors.outlook.sink import OutlookConnector

TENANT = "contoso-tenant"
CLIENT_SECRET = "outlook-client-secret-do-not-log"  # noqa: S105 - test value
MAILBOX = "care@contoso.example"
SEND_PATH = f"/v1.0/users/{MAILBOX}/sendMail"


def outlook_settings(url: str, **overrides: Any) -> OutlookSettings:
    values: dict[str, Any] = {
        "tenant_id": TENANT,
        "client_id": "sandbox-client",
        "client_secret": CLIENT_SECRET,
        "user_id": MAILBOX,
        "graph_base_url": url,
        "authority_url": url,
        "sender_address": MAILBOX,
        "owner_email": "owner@example.com",
        "meeting_timezone": "Europe/Berlin",
    }
    values.update(overrides)
    return OutlookSettings(**values)


@pytest.fixture
def outlook_sandbox() -> Iterator[SandboxServer]:
    with SandboxServer(make_app(tenant=TENANT, client_secret=CLIENT_SECRET)) as srv:
        yield srv


@pytest.fixture
async def outlook_connector(outlook_sandbox: SandboxServer) -> AsyncIterator[OutlookConnector]:
    connector = OutlookConnector(outlook_settings(outlook_sandbox.url))
    yield connector
    await connector.aclose()
