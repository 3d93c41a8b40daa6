"""Load a rules YAML file with line numbers so every validation error names its line.

PyYAML's ``safe_load`` forgets where values came from.  We compose the node graph instead,
build plain Python data from it while recording the line of every key and list item, validate
with pydantic, and map each error location (``('rules', 1, 'then', 0, 'target')``) back to the
nearest recorded line: ``routes.yaml:9: rules[1] 'zendesk-complaint' then[0].target: unknown
target 'zendsk'; use one of: ...``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from yaml.constructor import SafeConstructor

from pipeline.processors.routing.model import RulesFile

Loc = tuple[str | int, ...]


@dataclass(frozen=True)
class RuleIssue:
    """One problem in a rules file: where (line, field path) and what."""

    line: int | None
    field: str
    message: str

    def render(self, source: str) -> str:
        where = f"{source}:{self.line}" if self.line is not None else source
        return (
            f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"
        )


class RulesError(ValueError):
    """The rules file cannot be used; ``issues`` lists every problem found."""

    def __init__(self, source: str, issues: Sequence[RuleIssue]) -> None:
        self.source = source
        self.issues = list(issues)
        super().__init__("\n".join(issue.render(source) for issue in self.issues))


@dataclass(frozen=True)
class LoadedRules:
    """A validated rules document and where it came from (digest identifies the content)."""

    rules: RulesFile
    source: str
    sha256: str


_COLLECTION_TAGS: dict[type, str] = {
    yaml.MappingNode: "tag:yaml.org,2002:map",
    yaml.SequenceNode: "tag:yaml.org,2002:seq",
}


class _LineRecorder:
    """Turns a composed YAML node graph into Python data, remembering each path's line."""

    def __init__(self) -> None:
        self.lines: dict[Loc, int] = {}
        self.issues: list[RuleIssue] = []
        self._scalars = SafeConstructor()

    def build(self, node: yaml.Node, path: Loc) -> Any:
        self.lines.setdefault(path, node.start_mark.line + 1)
        expected_tag = _COLLECTION_TAGS.get(type(node))
        if expected_tag is not None and node.tag != expected_tag:
            self.issues.append(
                RuleIssue(
                    node.start_mark.line + 1,
                    format_loc(path, {}),
                    f"invalid YAML: tag {node.tag!r} is not allowed in a rules file; remove it",
                )
            )
            return None
        if isinstance(node, yaml.MappingNode):
            self._scalars.flatten_mapping(node)  # honour "<<: *anchor" merges
            data: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                key = self._key(key_node, path)
                if key is None:
                    continue
                child = (*path, key)
                if key in data:
                    self.issues.append(
                        RuleIssue(
                            key_node.start_mark.line + 1,
                            format_loc(child, {}),
                            f"duplicate key {key!r} (first defined on line "
                            f"{self.lines.get(child)}); remove one of them",
                        )
                    )
                    continue
                self.lines[child] = key_node.start_mark.line + 1
                data[key] = self.build(value_node, child)
            return data
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*path, index)) for index, item in enumerate(node.value)]
        return self._scalars.construct_object(node, deep=True)

    def _key(self, node: yaml.Node, path: Loc) -> str | int | None:
        key = self._scalars.construct_object(node, deep=True) if node.tag else None
        if isinstance(key, str | int) and not isinstance(key, bool):
            return key
        self.issues.append(
            RuleIssue(
                node.start_mark.line + 1,
                format_loc(path, {}),
                f"mapping keys must be plain strings, got {key!r}",
            )
        )
        return None


def format_loc(loc: Loc, data: Any) -> str:
    """``('rules', 1, 'then', 0, 'target')`` -> ``rules[1] 'zendesk' then[0].target``: the
    rule's name is added because people find rules by name, not index."""
    out = ""
    for index, part in enumerate(loc):
        if isinstance(part, int):
            out += f"[{part}]"
            if index == 1 and loc[0] == "rules":
                name = _rule_name(data, part)
                if name:
                    out += f" {name!r}"
        else:
            if part == "[key]":
                out += " (key)"
                continue
            needs_space = index == 2 and loc[0] == "rules" and _rule_name(data, loc[1])
            out += (" " if needs_space else ("." if out else "")) + str(part)
    return out


def _rule_name(data: Any, index: Any) -> str | None:
    try:
        name = data["rules"][index]["name"]
    except (TypeError, KeyError, IndexError):
        return None
    return name if isinstance(name, str) else None


def _line_for(loc: Loc, lines: dict[Loc, int]) -> int | None:
    for size in range(len(loc), -1, -1):
        line = lines.get(loc[:size])
        if line is not None:
            return line
    return None


def _pydantic_issues(error: ValidationError, lines: dict[Loc, int], data: Any) -> list[RuleIssue]:
    issues = []
    for item in error.errors(include_url=False):
        loc: Loc = tuple(item["loc"])
        message = str(item["msg"]).removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = (
                f"unknown field {loc[-1]!r}; check the spelling (see config/routes.example.yaml)"
            )
        elif item["type"] == "missing":
            message = f"required field {loc[-1]!r} is missing"
        elif item["type"] == "string_type" and isinstance(item.get("input"), bool):
            message += " (YAML reads yes/no/on/off/true/false as booleans: quote the value)"
        issues.append(RuleIssue(_line_for(loc, lines), format_loc(loc, data), message))
    return issues


def _semantic_issues(rules: RulesFile, lines: dict[Loc, int], data: Any) -> list[RuleIssue]:
    issues = []
    seen: dict[str, int] = {}
    for index, rule in enumerate(rules.rules):
        loc: Loc = ("rules", index, "name")
        if rule.name in seen:
            issues.append(
                RuleIssue(
                    _line_for(loc, lines),
                    format_loc(loc, data),
                    f"duplicate rule name {rule.name!r} (also rules[{seen[rule.name]}]); "
                    "rule names must be unique",
                )
            )
        else:
            seen[rule.name] = index
    return issues


def _yaml_error(source: str, exc: yaml.YAMLError) -> RulesError:
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = " ".join(p for p in (exc.context, exc.problem) if p)
        return RulesError(source, [RuleIssue(line, "", f"invalid YAML: {problem}")])
    return RulesError(source, [RuleIssue(None, "", f"invalid YAML: {exc}")])


def parse_rules(text: str, source: str = "<rules>") -> LoadedRules:
    """Validate rules YAML text; raise ``RulesError`` naming every bad line and field."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        raise _yaml_error(source, exc) from None
    if root is None:
        raise RulesError(
            source, [RuleIssue(None, "", "the file is empty; expected 'version: 1' and 'rules:'")]
        )
    recorder = _LineRecorder()
    try:
        data = recorder.build(root, ())
    except yaml.YAMLError as exc:  # e.g. a tag SafeLoader refuses (!!python/object)
        raise _yaml_error(source, exc) from None
    if recorder.issues:
        raise RulesError(source, recorder.issues)
    if not isinstance(data, dict):
        raise RulesError(
            source,
            [RuleIssue(1, "", "the top level must be a mapping with 'version' and 'rules'")],
        )
    try:
        rules = RulesFile.model_validate(data)
    except ValidationError as exc:
        raise RulesError(source, _pydantic_issues(exc, recorder.lines, data)) from None
    semantic = _semantic_issues(rules, recorder.lines, data)
    if semantic:
        raise RulesError(source, semantic)
    digest = hashlib.sha256(text.encode()).hexdigest()
    return LoadedRules(rules=rules, source=source, sha256=digest)


def load_rules(path: str | Path) -> LoadedRules:
    """Read and validate a rules file; ``RulesError`` if it is missing or invalid."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise RulesError(source, [RuleIssue(None, "", f"cannot read the file: {reason}")]) from None
    except UnicodeDecodeError:
        raise RulesError(source, [RuleIssue(None, "", "the file is not UTF-8 text")]) from None
    return parse_rules(text, source)
