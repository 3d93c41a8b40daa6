"""The component list of the embedded stack, in start order.  To add a stage, add one line to
:func:`dev_plan`; ``DevStack`` starts, watches and stops it."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from pipeline.devstack import Component
from pipeline.devstack_components import BrokerComponent, CatalogueComponent, RegistryComponent
from pipeline.devstack_targets import (
    TargetComponents,
    available_targets,
    processors_component,
)


def cli_commands() -> set[str]:
    """Names of the commands the ``voicebus`` CLI has right now (top level and groups)."""
    from pipeline.cli import app

    names = {c.name or (c.callback.__name__ if c.callback else "") for c in app.registered_commands}
    names |= {g.name or "" for g in app.registered_groups}
    return {n.replace("_", "-") for n in names if n}


@dataclass
class DevPlan:
    components: list[Component] = field(default_factory=list)
    targets: list[TargetComponents] = field(default_factory=list)


def dev_plan(
    *,
    broker_port: int | None = 9092,
    registry_port: int | None = 8081,
    processors: bool = True,
    sinks: bool = True,
    processors_required: bool = True,
    route_every_target: bool = False,
) -> DevPlan:
    """broker -> registry -> topics+schemas -> processors -> (sandbox, sink) per target.

    ``None`` ports pick free ones (the demo, so it runs next to a ``dev up`` stack).  Stages
    whose command does not exist yet are left out rather than started to fail.  Sinks are
    always optional (one broken connector must not stop the others); the processors are
    required unless ``processors_required=False``.  ``route_every_target`` (the demo) adds a
    rule for each running target that config/routes.yaml does not route to, so every sink
    has something to deliver."""
    commands = cli_commands()
    plan = DevPlan(
        [
            BrokerComponent(port=broker_port),
            RegistryComponent(port=registry_port),
            CatalogueComponent(),
        ]
    )
    targets = available_targets() if sinks and "sink" in commands else []
    if processors and "process" in commands:
        wanted = {t.name: t.demo_operation for t in targets}
        when = {t.name: t.demo_when for t in targets if t.demo_when is not None}
        routes = (
            (lambda ctx: demo_routes(ctx.state_dir, wanted, when)) if route_every_target else None
        )
        plan.components.append(processors_component(required=processors_required, routes=routes))
    for target in targets:
        pair = TargetComponents(target)
        plan.targets.append(pair)
        plan.components.extend(pair.components())
    return plan


DEMO_EVENT_TYPES = ["call_started", "call_ended", "call_summary"]


def demo_routes(
    state_dir: Path,
    targets: dict[str, str],
    when: Mapping[str, Mapping[str, Any]] | None = None,
) -> Path:
    """The project's routing rules (``VOICEBUS_ROUTES_FILE`` or config/routes.yaml) plus, for
    each of ``targets`` (name -> operation) that no rule sends anything to, a rule routing the
    call lifecycle events to it.  Written to ``<state_dir>/routes.demo.yaml``; the original
    stays untouched."""
    base = Path(os.environ.get("VOICEBUS_ROUTES_FILE") or "config/routes.yaml")
    doc: dict[str, Any] = {"version": 1, "rules": []}
    if base.is_file():
        doc = yaml.safe_load(base.read_text(encoding="utf-8")) or doc
    rules: list[dict[str, Any]] = doc.setdefault("rules", [])
    routed = {action.get("target") for rule in rules for action in rule.get("then", [])}
    for target, operation in targets.items():
        if target not in routed:
            rules.append(
                {
                    "name": f"demo-{target}",
                    "description": f"voicebus demo: call lifecycle events to the {target} sandbox",
                    "when": dict((when or {}).get(target, {"event_type": DEMO_EVENT_TYPES})),
                    "then": [{"target": target, "operation": operation}],
                }
            )
    out = state_dir / "routes.demo.yaml"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return out
