"""Which sink targets the embedded stack can run, and how: each entry names the connector's
sandbox (a local HTTP server that behaves like the vendor) and the environment that points
``voicebus sink <target>`` at it.

A target is *available* when its connector package and sandbox module import; targets whose
connectors are still planned are listed but skipped, so adding a connector makes it appear in
``voicebus dev up`` and ``voicebus demo`` without touching the stack code.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import shutil
import sys
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from secrets import token_bytes, token_hex
from typing import Any

from pipeline.broker import free_port
from pipeline.devstack import Component, ProcessComponent, StackContext, voicebus_command
from pipeline.devstack_steps import admin_for, committed_total
from pipeline.topics import CALL_EVENTS_TOPIC, SYNC_TARGETS, sync_topic


def sink_group(target: str) -> str:
    """Consumer group of ``voicebus sink <target>`` (DESIGN.md: voicebus-sink-<target>)."""
    return f"voicebus-sink-{target}"


@dataclass(frozen=True)
class DevTarget:
    """How to run one target's sandbox and sink locally."""

    name: str
    sandbox_module: str
    # environment for `voicebus sink <name>` given the sandbox's base URL and the shared
    # secrets (secrets go through the environment, never argv: argv is world-readable)
    sink_env: Callable[[str, dict[str, str]], dict[str, str]]
    # fresh credentials shared by sandbox and sink (e.g. a webhook signing secret)
    make_secrets: Callable[[], dict[str, str]] = dict
    # admin path answered with 2xx once the sandbox listens (readiness probe)
    ready_path: str = "/_sandbox/stats"
    # how many requests/deliveries reached the sandbox, for the demo summary
    received: Callable[[str], int] | None = None
    # the operation the demo's routing rule asks this connector for (when config/routes.yaml
    # does not route to the target at all)
    demo_operation: str = "notify"
    # the conditions of that rule (chat cards want the summary only; e-mail needs a known
    # customer's address); None = the call lifecycle events
    demo_when: Mapping[str, Any] | None = None
    # extra sandbox argv for sandboxes that take their credentials only as options (local,
    # throwaway values generated per run)
    sandbox_args: Callable[[dict[str, str]], list[str]] = lambda secrets: []

    @property
    def connector_module(self) -> str:
        return self.sandbox_module.rsplit(".", 1)[0]

    def available(self) -> bool:
        try:
            return (
                importlib.util.find_spec(f"{self.connector_module}.sink") is not None
                and importlib.util.find_spec(self.sandbox_module) is not None
            )
        except ModuleNotFoundError:
            return False


def _get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=2.0) as response:  # noqa: S310 - local sandbox
        return json.loads(response.read())


def _webhook_secrets() -> dict[str, str]:
    """A fresh Standard Webhooks signing secret, known to sandbox and sink only."""
    return {"VOICEBUS_WEBHOOK_SECRETS": "whsec_" + base64.b64encode(token_bytes(24)).decode()}


def _webhook_env(url: str, secrets: dict[str, str]) -> dict[str, str]:
    return {"VOICEBUS_WEBHOOK_URLS": f"{url}/hooks/voicebus", **secrets}


def _webhook_received(url: str) -> int:
    """Signed webhooks the receiver stored (what a customer's endpoint would have got)."""
    return len(_get_json(f"{url}/_sandbox/received")["events"])


def _sandbox_requests(url: str) -> int:
    """API requests the vendor sandbox served (``/_sandbox/stats`` of connectors.base)."""
    return int(_get_json(f"{url}/_sandbox/stats")["total"])


def _token_secrets(variable: str, prefix: str) -> Callable[[], dict[str, str]]:
    """A fresh API token for sandbox and sink (the sandbox accepts exactly this one)."""
    return lambda: {variable: prefix + token_hex(16)}


def _base_url_env(
    variable: str, suffix: str = "", **fixed: str
) -> Callable[[str, dict[str, str]], dict[str, str]]:
    """Sink environment: the sandbox URL (+ ``suffix``) in ``variable``, the shared secrets
    and ``fixed`` settings."""
    return lambda url, secrets: {variable: url + suffix, **fixed, **secrets}


def gmail_sandbox_env(url: str, secrets: dict[str, str] | None = None) -> dict[str, str]:
    """The Google sandbox serves Gmail, Calendar and the token endpoint on one port and
    accepts fixed local credentials (connectors.gmail.sandbox.make_app defaults)."""
    return {
        "VOICEBUS_GMAIL_API_BASE_URL": url,
        "VOICEBUS_GMAIL_CALENDAR_BASE_URL": url,
        "VOICEBUS_GMAIL_TOKEN_URL": f"{url}/token",
        "VOICEBUS_GMAIL_CLIENT_ID": "sandbox-client",
        "VOICEBUS_GMAIL_CLIENT_SECRET": "sandbox-secret",
        "VOICEBUS_GMAIL_REFRESH_TOKEN": "sandbox-refresh",
    }


def outlook_sandbox_env(url: str, secrets: dict[str, str] | None = None) -> dict[str, str]:
    """The Graph sandbox serves Graph and the Entra token endpoint on one port with fixed
    local credentials (connectors.outlook.sandbox.make_app defaults)."""
    return {
        "VOICEBUS_OUTLOOK_GRAPH_BASE_URL": url,
        "VOICEBUS_OUTLOOK_AUTHORITY_URL": url,
        "VOICEBUS_OUTLOOK_TENANT_ID": "sandbox-tenant",
        "VOICEBUS_OUTLOOK_CLIENT_ID": "sandbox-client",
        "VOICEBUS_OUTLOOK_CLIENT_SECRET": "sandbox-secret",
        "VOICEBUS_OUTLOOK_USER_ID": "care@voicebus.example",
    }


def _teams_env(url: str, secrets: dict[str, str]) -> dict[str, str]:
    hooks = {"support": f"{url}/webhook/{secrets['_TEAMS_PATH']}"}
    return {
        "VOICEBUS_TEAMS_WEBHOOKS": json.dumps(hooks),
        "VOICEBUS_TEAMS_DEFAULT_CHANNEL": "support",
    }


# How to run each target locally; only those whose connector exists are started.  Every
# entry must be one of the catalogue's SYNC_TARGETS (a unit test checks).
DEV_TARGETS: tuple[DevTarget, ...] = (
    DevTarget(
        "webhook",
        "connectors.webhook.sandbox",
        _webhook_env,
        make_secrets=_webhook_secrets,
        received=_webhook_received,
    ),
    DevTarget(
        "hubspot",
        "connectors.hubspot.sandbox",
        _base_url_env("VOICEBUS_HUBSPOT_BASE_URL"),
        make_secrets=_token_secrets("VOICEBUS_HUBSPOT_ACCESS_TOKEN", "pat-local-"),
        received=_sandbox_requests,
        demo_operation="log_call",
    ),
    DevTarget(
        "salesforce",
        "connectors.salesforce.sandbox",  # reads the same CLIENT_ID/SECRET variables
        _base_url_env(
            "VOICEBUS_SALESFORCE_LOGIN_URL", VOICEBUS_SALESFORCE_AUTH_FLOW="client_credentials"
        ),
        make_secrets=lambda: {
            "VOICEBUS_SALESFORCE_CLIENT_ID": "voicebus-local",
            "VOICEBUS_SALESFORCE_CLIENT_SECRET": token_hex(16),
        },
        received=_sandbox_requests,
        demo_operation="log_call",
    ),
    DevTarget(
        "zendesk",
        "connectors.zendesk.sandbox",
        _base_url_env("VOICEBUS_ZENDESK_BASE_URL", VOICEBUS_ZENDESK_EMAIL="agent@example.com"),
        make_secrets=lambda: {"VOICEBUS_ZENDESK_API_TOKEN": token_hex(16)},
        sandbox_args=lambda s: ["--token", s["VOICEBUS_ZENDESK_API_TOKEN"]],
        received=_sandbox_requests,
        demo_operation="open_ticket",
    ),
    DevTarget(
        "servicenow",
        "connectors.servicenow.sandbox",
        _base_url_env("VOICEBUS_SERVICENOW_INSTANCE_URL", VOICEBUS_SERVICENOW_USERNAME="voicebus"),
        make_secrets=lambda: {"VOICEBUS_SERVICENOW_PASSWORD": token_hex(16)},
        sandbox_args=lambda s: ["--user", f"voicebus:{s['VOICEBUS_SERVICENOW_PASSWORD']}"],
        received=_sandbox_requests,
        demo_operation="open_incident",
    ),
    DevTarget(
        "slack",
        "connectors.slack.sandbox",
        _base_url_env("VOICEBUS_SLACK_BASE_URL", "/api", VOICEBUS_SLACK_DEFAULT_CHANNEL="support"),
        make_secrets=lambda: {"VOICEBUS_SLACK_BOT_TOKEN": "xoxb-local-" + token_hex(12)},
        sandbox_args=lambda s: ["--token", s["VOICEBUS_SLACK_BOT_TOKEN"]],
        received=_sandbox_requests,
        demo_operation="post_summary",
        demo_when={"event_type": ["call_summary"]},
    ),
    DevTarget(
        "teams",
        "connectors.teams.sandbox",
        _teams_env,
        make_secrets=lambda: {"_TEAMS_PATH": "wf-" + token_hex(12)},
        sandbox_args=lambda s: ["--webhook", f"support:{s['_TEAMS_PATH']}"],
        received=_sandbox_requests,
        demo_operation="post_summary",
        demo_when={"event_type": ["call_summary"]},
    ),
    DevTarget(
        "gmail",
        "connectors.gmail.sandbox",
        gmail_sandbox_env,
        received=_sandbox_requests,
        demo_operation="send_follow_up",
        demo_when={"event_type": ["call_summary"], "customer_matched": True},
    ),
    DevTarget(
        "outlook",
        "connectors.outlook.sandbox",
        outlook_sandbox_env,
        received=_sandbox_requests,
        demo_operation="send_follow_up",
        demo_when={"event_type": ["call_summary"], "customer_matched": True},
    ),
)


def available_targets() -> list[DevTarget]:
    return [t for t in DEV_TARGETS if t.available()]


def planned_targets() -> dict[str, str]:
    """Catalogue targets that cannot run locally yet -> why: "planned" (no connector) or
    "not wired" (a connector exists, but no entry in DEV_TARGETS or no sandbox yet)."""
    running = {t.name for t in available_targets()}
    out: dict[str, str] = {}
    for target in SYNC_TARGETS:
        if target in running:
            continue
        try:
            has_sink = importlib.util.find_spec(f"connectors.{target}.sink") is not None
        except ModuleNotFoundError:
            has_sink = False
        out[target] = "not wired" if has_sink else "planned"
    return out


def _http_ok(url: str) -> bool:
    with urllib.request.urlopen(url, timeout=1.0) as response:  # noqa: S310 - local sandbox
        return 200 <= int(response.status) < 300


def _group_has_members(ctx: StackContext, group: str) -> bool:
    """The worker joined its consumer group (same test as the Kubernetes probe)."""
    from pipeline.devstack_probe import check

    settings = ctx.settings()
    return check(settings, group, None, timeout_s=2.0, admin=admin_for(settings)) is None


class TargetComponents:
    """Sandbox + sink of one target.  The sink is optional: a broken connector is shown as
    failed in the panel but does not take the stack down."""

    def __init__(self, target: DevTarget, host: str = "127.0.0.1") -> None:
        self.target = target
        port = free_port(host)
        self.base_url = f"http://{host}:{port}"
        secrets = target.make_secrets()
        self.sandbox = ProcessComponent(
            f"sandbox-{target.name}",
            [
                *(sys.executable, "-m", target.sandbox_module),
                *("--host", host, "--port", str(port)),
                *target.sandbox_args(secrets),
            ],
            env=lambda ctx: secrets,
            ready=lambda ctx: _http_ok(self.base_url + target.ready_path),
            address=lambda ctx: self.base_url,
            counts=lambda ctx: f"{self.received()} received",
            start_timeout_s=20.0,
        )
        group, topic = sink_group(target.name), sync_topic(target.name)
        self.sink = ProcessComponent(
            f"sink-{target.name}",
            [*voicebus_command(), "sink", target.name],
            env=lambda ctx: target.sink_env(self.base_url, secrets),
            ready=lambda ctx: _group_has_members(ctx, group),
            address=lambda ctx: f"group {group}",
            counts=lambda ctx: f"{committed_total(ctx.settings(), group, topic)} done on {topic}",
        )

    def received(self) -> int | None:
        """Deliveries the sandbox accepted (None: the sandbox cannot tell)."""
        if self.target.received is None:
            return None
        try:
            return self.target.received(self.base_url)
        except Exception:  # sandbox gone: the summary shows "?"
            return None

    def components(self) -> list[Component]:
        return [self.sandbox, self.sink]


PROCESSORS_GROUP = "voicebus-processors"


def processors_component(
    required: bool = True, routes: Callable[[StackContext], Path] | None = None
) -> Component:
    """``voicebus process`` with a fresh faust data directory: the embedded broker starts
    empty, so table state left by an earlier run would only describe records that are gone.
    ``routes`` gives a rules file (default: the worker's own default, config/routes.yaml)."""

    def argv(ctx: StackContext) -> list[str]:
        workdir = ctx.state_dir / "processors"
        shutil.rmtree(workdir, ignore_errors=True)
        workdir.mkdir(parents=True)
        extra = ["--routes", str(routes(ctx))] if routes is not None else []
        return [*voicebus_command(), "process", "--workdir", str(workdir), *extra]

    return ProcessComponent(
        "processors",
        argv,
        required=required,
        ready=lambda ctx: _group_has_members(ctx, PROCESSORS_GROUP),
        address=lambda ctx: f"group {PROCESSORS_GROUP}",
        counts=lambda ctx: (
            f"{committed_total(ctx.settings(), PROCESSORS_GROUP, CALL_EVENTS_TOPIC)} "
            f"done on {CALL_EVENTS_TOPIC}"
        ),
    )
