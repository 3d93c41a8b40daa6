"""Evaluate routing rules against an enriched call event.

Rules are compiled once into small predicates over "facts" drawn from the event.  A fact is
taken from the event's own payload first and from the ``call`` aggregate otherwise, because
most events carry only part of the picture: a ``call_ended`` event has no sentiment of its own
but the call's summary may already have set ``call.sentiment``.  Intents are the union of both.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from pipeline import headers
from pipeline.processors.routing.loader import LoadedRules, load_rules, parse_rules
from pipeline.processors.routing.model import Conditions, Rule, RulesFile
from pipeline.topics import sync_topic

SYNC_TOPIC_PREFIX = "sync."


class FrozenHints(dict[str, Any]):
    """A ``dict`` that refuses changes: decisions are shared between events, so their hints
    must not be editable (copy with ``dict(hints)`` to build on them)."""

    def _refuse(self, *_args: Any, **_kwargs: Any) -> None:
        raise TypeError("RouteDecision.hints is read-only; copy it with dict(hints) first")

    __setitem__ = __delitem__ = _refuse
    clear = pop = popitem = setdefault = update = __ior__ = _refuse  # type: ignore[assignment]

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(tuple(sorted(self.items(), key=lambda item: item[0])))

    def __copy__(self) -> FrozenHints:
        return self

    def __deepcopy__(self, _memo: dict[int, Any]) -> FrozenHints:
        return self


def _freeze(value: Any) -> Any:
    if isinstance(value, dict):
        return FrozenHints({str(k): _freeze(v) for k, v in value.items()})
    if isinstance(value, list | tuple):
        return tuple(_freeze(v) for v in value)
    return value


@dataclass(frozen=True, slots=True)
class RouteDecision:
    """Send this event to ``target`` for ``operation``, after applying ``redaction``."""

    target: str
    operation: str
    hints: dict[str, Any]
    rule: str
    redaction: str

    @property
    def topic(self) -> str:
        return sync_topic(self.target)

    def kafka_headers(self) -> list[tuple[str, bytes]]:
        """Routing headers for the ``sync.<target>`` record (names from pipeline.headers)."""
        return [
            (headers.OPERATION, self.operation.encode()),
            (headers.HINTS, json.dumps(self.hints, sort_keys=True, default=str).encode()),
            (headers.ROUTE, self.rule.encode()),
            (headers.REDACTION, self.redaction.encode()),
        ]


@dataclass(frozen=True, slots=True)
class RuleEvaluation:
    """Why a rule did or did not fire (``voicebus routes test`` prints these)."""

    rule: str
    fired: bool
    reason: str
    decisions: tuple[RouteDecision, ...] = ()


class EventFacts(NamedTuple):
    """What rules can match on, extracted once per event (a tuple: cheap to build)."""

    event_type: str | None
    tenant: str | None
    source: str | None
    queue: str | None
    direction: str | None
    sentiment: str | None
    intents: frozenset[str]
    customer_matched: bool
    customer_ambiguous: bool
    duration_s: int | None

    @classmethod
    def of(cls, enriched: Mapping[str, Any]) -> EventFacts:
        payload = _mapping(enriched.get("payload"))
        call = _mapping(enriched.get("call"))
        customer = _mapping(enriched.get("customer"))

        def pick(key: str) -> Any:
            value = payload.get(key)
            return call.get(key) if value is None else value

        intents = [*(payload.get("intents") or ()), *(call.get("intents") or ())]
        duration = pick("duration_s")
        return cls(
            event_type=_text(enriched.get("event_type")),
            tenant=_text(enriched.get("tenant_id")),
            source=_text(enriched.get("source")),
            queue=_text(pick("queue")),
            direction=_upper(pick("direction")),
            sentiment=_upper(pick("sentiment")),
            intents=frozenset(str(i).casefold() for i in intents if i is not None),
            customer_matched=bool(customer.get("matched", False)),
            customer_ambiguous=bool(customer.get("ambiguous", False)),
            duration_s=int(duration) if isinstance(duration, int | float) else None,
        )


def _mapping(value: Any) -> Mapping[str, Any]:
    # fastavro with return_record_name=True yields unions as (record_name, dict) tuples
    if isinstance(value, tuple) and len(value) == 2 and isinstance(value[1], Mapping):
        value = value[1]
    return value if isinstance(value, Mapping) else {}


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _upper(value: Any) -> str | None:
    return None if value is None else str(value).upper()


@dataclass(frozen=True, slots=True)
class Check:
    """One compiled condition: ``holds`` is the hot path (a bool per event); ``why`` builds
    the human explanation only when ``routes test`` asks for it."""

    holds: Callable[[EventFacts], bool]
    why: Callable[[EventFacts], str]


def _one_of(name: str, allowed: list[str]) -> Check:
    accepted = frozenset(allowed)
    return Check(
        holds=lambda f: getattr(f, name) in accepted,
        why=lambda f: f"{name} is {getattr(f, name)!r}, rule wants one of {sorted(accepted)}",
    )


def _flag(name: str, expected: bool) -> Check:
    return Check(
        holds=lambda f: getattr(f, name) is expected,
        why=lambda f: f"{name} is {getattr(f, name)}, rule wants {expected}",
    )


def _duration(low: int | None, high: int | None) -> Check:
    def holds(facts: EventFacts) -> bool:
        value = facts.duration_s
        if value is None:
            return False
        return (low is None or value >= low) and (high is None or value <= high)

    def why(facts: EventFacts) -> str:
        if facts.duration_s is None:
            return "duration_s is unknown for this event"
        wanted = f"{low if low is not None else 0}..{high if high is not None else ''}"
        return f"duration_s is {facts.duration_s}, rule wants {wanted}"

    return Check(holds, why)


def _compile(conditions: Conditions) -> tuple[Check, ...]:
    checks: list[Check] = []
    for name in ("event_type", "tenant", "source", "queue", "direction", "sentiment"):
        allowed = getattr(conditions, name)
        if allowed is not None:
            checks.append(_one_of(name, allowed))
    if conditions.intents_any is not None:
        wanted_any = frozenset(i.casefold() for i in conditions.intents_any)
        checks.append(
            Check(
                holds=lambda f: not wanted_any.isdisjoint(f.intents),
                why=lambda f: f"intents {sorted(f.intents)} contain none of {sorted(wanted_any)}",
            )
        )
    if conditions.intents_all is not None:
        wanted_all = frozenset(i.casefold() for i in conditions.intents_all)
        checks.append(
            Check(
                holds=lambda f: wanted_all <= f.intents,
                why=lambda f: f"intents {sorted(f.intents)} lack {sorted(wanted_all - f.intents)}",
            )
        )
    for flag in ("customer_matched", "customer_ambiguous"):
        expected = getattr(conditions, flag)
        if expected is not None:
            checks.append(_flag(flag, expected))
    low, high = conditions.min_duration_s, conditions.max_duration_s
    if low is not None or high is not None:
        checks.append(_duration(low, high))
    return tuple(checks)


@dataclass(frozen=True)
class _CompiledRule:
    rule: Rule
    checks: tuple[Check, ...]
    decisions: tuple[RouteDecision, ...] = field(default=())

    def matches(self, facts: EventFacts) -> bool:
        return all(check.holds(facts) for check in self.checks)

    def first_failure(self, facts: EventFacts) -> str | None:
        for check in self.checks:
            if not check.holds(facts):
                return check.why(facts)
        return None


class Router:
    """Immutable compiled rules: ``route(enriched)`` returns where the event goes."""

    def __init__(self, rules: RulesFile | LoadedRules) -> None:
        loaded = rules if isinstance(rules, LoadedRules) else None
        document = rules.rules if isinstance(rules, LoadedRules) else rules
        self.source = loaded.source if loaded else "<in-memory>"
        self.sha256 = loaded.sha256 if loaded else ""
        self.document = document
        self._rules: tuple[_CompiledRule, ...] = tuple(
            _CompiledRule(rule=rule, checks=_compile(rule.when), decisions=self._decisions(rule))
            for rule in document.rules
            if rule.enabled
        )

    def _decisions(self, rule: Rule) -> tuple[RouteDecision, ...]:
        policy_for = self.document.redaction.policy_for
        return tuple(
            RouteDecision(
                target=action.target,
                operation=action.operation,
                hints=_freeze(action.hints),
                rule=rule.name,
                redaction=(action.redaction or policy_for(action.target)).value,
            )
            for action in rule.then
        )

    @classmethod
    def from_file(cls, path: str | Path) -> Router:
        return cls(load_rules(path))

    @classmethod
    def from_yaml(cls, text: str, source: str = "<rules>") -> Router:
        return cls(parse_rules(text, source))

    @property
    def rule_names(self) -> list[str]:
        return [compiled.rule.name for compiled in self._rules]

    @property
    def targets(self) -> frozenset[str]:
        """Targets any enabled rule can send to (their ``sync.<target>`` topics must exist)."""
        return frozenset(d.target for c in self._rules for d in c.decisions)

    def route(self, enriched: Mapping[str, Any]) -> list[RouteDecision]:
        """Decisions of every matching rule, in rule order, until a matching ``stop: true``."""
        facts = EventFacts.of(enriched)
        out: list[RouteDecision] = []
        for compiled in self._rules:
            if compiled.matches(facts):
                out.extend(compiled.decisions)
                if compiled.rule.stop:
                    break
        return out

    def explain(self, enriched: Mapping[str, Any]) -> list[RuleEvaluation]:
        """Every enabled rule with whether it fired and, if not, the first failed condition."""
        facts = EventFacts.of(enriched)
        out: list[RuleEvaluation] = []
        stopped_by: str | None = None
        for compiled in self._rules:
            name = compiled.rule.name
            if stopped_by is not None:
                out.append(RuleEvaluation(name, False, f"not evaluated: {stopped_by!r} has stop"))
                continue
            reason = compiled.first_failure(facts)
            if reason is None:
                out.append(RuleEvaluation(name, True, "all conditions match", compiled.decisions))
                if compiled.rule.stop:
                    stopped_by = name
            else:
                out.append(RuleEvaluation(name, False, reason))
        return out
