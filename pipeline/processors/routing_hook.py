"""From routing decisions to ``sync.<target>`` records.

The worker depends only on these two small protocols, so it can run with the real
``pipeline.processors.routing.Router`` (or its hot-reloading ``RouterHolder``), with a
stand-in in tests, or with no routing at all (``router=None``: enrich only).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from pipeline import headers as h

__all__ = ["DecisionLike", "RoutedRecord", "RouterLike", "plan_routes"]


class DecisionLike(Protocol):
    @property
    def target(self) -> str: ...
    @property
    def operation(self) -> str: ...
    @property
    def hints(self) -> Mapping[str, Any]: ...
    @property
    def rule(self) -> str: ...
    @property
    def redaction(self) -> str: ...


class RouterLike(Protocol):
    def route(self, enriched: Mapping[str, Any]) -> Sequence[DecisionLike]: ...


Redactor = Callable[[Mapping[str, Any], str], dict[str, Any]]


@dataclass(frozen=True, slots=True)
class RoutedRecord:
    """One record for ``topic`` (key = the event's call_id)."""

    target: str
    topic: str
    value: dict[str, Any]
    headers: list[tuple[str, bytes]]


def routing_headers(decision: DecisionLike) -> list[tuple[str, bytes]]:
    return [
        (h.OPERATION, decision.operation.encode()),
        (h.HINTS, json.dumps(dict(decision.hints), sort_keys=True, default=str).encode()),
        (h.ROUTE, decision.rule.encode()),
        (h.REDACTION, decision.redaction.encode()),
    ]


def plan_routes(
    enriched: Mapping[str, Any],
    router: RouterLike | None,
    redact: Redactor,
    trace_headers: Sequence[tuple[str, bytes]] = (),
) -> list[RoutedRecord]:
    """One redacted record per routing decision, with the routing and trace headers."""
    if router is None:
        return []
    out: list[RoutedRecord] = []
    for decision in router.route(enriched):
        out.append(
            RoutedRecord(
                target=decision.target,
                topic=f"sync.{decision.target}",
                value=redact(enriched, decision.redaction),
                headers=[*routing_headers(decision), *trace_headers],
            )
        )
    return out
