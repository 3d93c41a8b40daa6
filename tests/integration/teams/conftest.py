"""Teams sandbox + connector helpers."""

from __future__ import annotations

from typing import Any

from pydantic import SecretStr

from connectors.base.sandbox import SandboxServer
from connectors.teams import sandbox as teams_sandbox
from connectors.teams.config import TeamsSettings

HOOK_PATHS = {
    "support": "wf-7f3a9c/triggers/manual/paths/invoke-sig-SECRET1",
    "alerts": "wf-22b/sig-SECRET2",
}
GRAPH_TOKEN = "eyJ-delegated-graph-token"
GRAPH_CHANNELS = {"support": "team-1/19:abc@thread.tacv2"}


def make_sandbox(**kwargs: Any) -> SandboxServer:
    return SandboxServer(
        teams_sandbox.make_app(
            {path: name for name, path in HOOK_PATHS.items()},
            {ref: name for name, ref in GRAPH_CHANNELS.items()},
            [GRAPH_TOKEN],
            **kwargs,
        )
    )


def teams_settings(url: str, **overrides: Any) -> TeamsSettings:
    values: dict[str, Any] = {
        "webhooks": {name: SecretStr(f"{url}/webhook/{path}") for name, path in HOOK_PATHS.items()},
        "graph_base_url": f"{url}/v1.0",
        "graph_token": SecretStr(GRAPH_TOKEN),
        "graph_channels": GRAPH_CHANNELS,
    }
    values.update(overrides)
    return TeamsSettings(**values)


GRAPH_TENANT = "contoso-tenant"
GRAPH_CLIENT_ID = "11111111-teams-app"
GRAPH_CLIENT_SECRET = "teams-app-secret-do-not-log"  # noqa: S105 - test value
REFRESH_TOKEN = "1.AR-initial-refresh-token-do-not-log"  # noqa: S105 - test value


def make_consent_sandbox(*, confidential: bool = True, **kwargs: Any) -> tuple[SandboxServer, Any]:
    """A Teams sandbox whose Graph takes only tokens from the refresh-token grant."""
    from connectors.teams.sandbox_identity import DelegatedConsent

    consent = DelegatedConsent(
        [REFRESH_TOKEN],
        tenant=GRAPH_TENANT,
        client_id=GRAPH_CLIENT_ID,
        client_secret=GRAPH_CLIENT_SECRET if confidential else None,
    )
    server = SandboxServer(
        teams_sandbox.make_app(
            {path: name for name, path in HOOK_PATHS.items()},
            {ref: name for name, ref in GRAPH_CHANNELS.items()},
            consent=consent,
            **kwargs,
        )
    )
    return server, consent


def refresh_token_settings(url: str, **overrides: Any) -> TeamsSettings:
    """Graph transport with the refresh-token grant (no fixed token)."""
    values: dict[str, Any] = {
        "webhooks": {},
        "transport": "graph",
        "graph_base_url": f"{url}/v1.0",
        "graph_channels": GRAPH_CHANNELS,
        "authority_url": url,
        "graph_tenant_id": GRAPH_TENANT,
        "graph_client_id": GRAPH_CLIENT_ID,
        "graph_client_secret": SecretStr(GRAPH_CLIENT_SECRET),
        "graph_refresh_token": SecretStr(REFRESH_TOKEN),
    }
    values.update(overrides)
    return TeamsSettings(**values)
