"""The sandbox's reading of ServiceNow encoded queries (``sysparm_query``).

Grammar handled: conditions ``<field><op><value>`` joined by ``^`` (AND), ``^OR`` (OR with the
previous condition), ``^NQ`` (a new OR-ed query); ``ORDERBY<field>`` / ``ORDERBYDESC<field>``;
operators ``=``, ``!=``, ``>``, ``>=``, ``<``, ``<=`` (dates compare as
``YYYY-MM-DD HH:MM:SS`` text), ``LIKE``, ``NOTLIKE``, ``STARTSWITH``, ``ENDSWITH``, ``IN``,
``ISEMPTY``, ``ISNOTEMPTY``.  Every ``^`` separates conditions: ServiceNow documents no escape
for a caret inside a value, so the sandbox reads queries the pessimistic way: ``a=1^^ORb=2`` is
two conditions (empty terms are skipped), i.e. a "doubled" caret would still inject.  voicebus
never sends a value holding ``^``; the injection tests rely on this reading.
Unparseable conditions raise
``QueryError`` (the sandbox answers 400, which is stricter than the platform, which ignores
invalid conditions: tests then see the mistake).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

_FIELD = re.compile(r"[a-z][a-z0-9_.]*")
_OPERATORS = (
    "ISNOTEMPTY",
    "ISEMPTY",
    "NOTLIKE",
    "STARTSWITH",
    "ENDSWITH",
    "LIKE",
    "IN",
    "!=",
    ">=",
    "<=",
    "=",
    ">",
    "<",
)


class QueryError(ValueError):
    pass


@dataclass(frozen=True)
class Condition:
    field: str
    operator: str
    value: str

    def matches(self, record: Mapping[str, Any]) -> bool:
        raw = record.get(self.field)
        actual = "" if raw is None else str(raw)
        op, value = self.operator, self.value
        if op == "=":
            return actual == value
        if op == "!=":
            return actual != value
        if op in (">", ">=", "<", "<="):
            if actual == "":
                return False
            left, right = _comparable(actual), _comparable(value)
            return {">": left > right, ">=": left >= right, "<": left < right, "<=": left <= right}[
                op
            ]
        if op == "LIKE":
            return value.lower() in actual.lower()
        if op == "NOTLIKE":
            return value.lower() not in actual.lower()
        if op == "STARTSWITH":
            return actual.lower().startswith(value.lower())
        if op == "ENDSWITH":
            return actual.lower().endswith(value.lower())
        if op == "IN":
            return actual in value.split(",")
        if op == "ISEMPTY":
            return actual == ""
        return actual != ""  # ISNOTEMPTY


def _comparable(text: str) -> Any:
    try:
        return float(text)
    except ValueError:
        return text


@dataclass
class EncodedQuery:
    """OR of groups (``^NQ``); each group an AND of clauses; each clause an OR of conditions."""

    groups: list[list[list[Condition]]] = field(default_factory=list)
    order: list[tuple[str, bool]] = field(default_factory=list)  # (field, descending)

    def matches(self, record: Mapping[str, Any]) -> bool:
        if not self.groups:
            return True
        return any(
            all(any(c.matches(record) for c in clause) for clause in group) for group in self.groups
        )

    def apply(self, records: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
        out = [r for r in records if self.matches(r)]
        for name, descending in reversed(self.order):
            out.sort(key=lambda r: str(r.get(name) or ""), reverse=descending)
        return out

    def conditions(self) -> list[Condition]:
        return [c for group in self.groups for clause in group for c in clause]


def split_terms(text: str) -> list[str]:
    """Split at every ``^`` (no escape: see the module docstring)."""
    return text.split("^")


def parse_condition(term: str) -> Condition:
    match = _FIELD.match(term)
    if match is None:
        raise QueryError(f"condition does not start with a field name: {term[:60]!r}")
    name, rest = match.group(0), term[match.end() :]
    for operator in _OPERATORS:
        if rest.startswith(operator):
            return Condition(name, operator, rest[len(operator) :])
    # a field name that ran into an upper-case operator (emailLIKEx): retry on the longest
    raise QueryError(f"condition on {name!r} has no known operator")


def parse(text: str | None) -> EncodedQuery:
    query = EncodedQuery()
    if not text:
        return query
    group: list[list[Condition]] = []
    for term in split_terms(text):
        if term == "":
            continue
        if term.startswith("ORDERBYDESC"):
            query.order.append((term[len("ORDERBYDESC") :], True))
        elif term.startswith("ORDERBY"):
            query.order.append((term[len("ORDERBY") :], False))
        elif term.startswith("NQ"):
            if group:
                query.groups.append(group)
            group = [[parse_condition(term[2:])]]
        elif term.startswith("OR") and group:
            group[-1].append(parse_condition(term[2:]))
        else:
            group.append([parse_condition(term)])
    if group:
        query.groups.append(group)
    return query
