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
