"""Request validation of the ServiceNow sandbox against the Table API OpenAPI description in
``../shared/specs/servicenow/table.yml`` (or ``VOICEBUS_SERVICENOW_SPEC_DIR``): method + path
must be an operation of the spec, path and query parameters must match their schemas and the
JSON body the operation's request schema.  Without the folder validation is off."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator

from connectors.base.specs import vendor_spec_dir

API_BASE = "/api/now"


def default_spec_dir() -> Path:
    env = os.environ.get("VOICEBUS_SERVICENOW_SPEC_DIR")
    if env:
        return Path(env)
    return vendor_spec_dir("servicenow")


@dataclass(frozen=True)
class _Operation:
    method: str
    template: str
    pattern: re.Pattern[str]
    names: tuple[str, ...]
    params: dict[str, tuple[str, dict[str, Any]]]  # name -> (in, schema)
    body: dict[str, Any] | None


def _resolve(doc: dict[str, Any], node: Any) -> Any:
    if isinstance(node, dict) and "$ref" in node:
        target: Any = doc
        for part in node["$ref"].lstrip("#/").split("/"):
            target = target[part]
        return _resolve(doc, target)
    return node


def _coerce(value: str, schema: dict[str, Any]) -> Any:
    kind = schema.get("type")
    try:
        if kind == "integer":
            return int(value)
        if kind == "number":
            return float(value)
    except ValueError:
        return value
    if kind == "boolean":
        return {"true": True, "false": False}.get(value.lower(), value)
    return value


class SpecValidator:
    def __init__(self, spec_dir: Path | None = None) -> None:
        directory = spec_dir if spec_dir is not None else default_spec_dir()
        self.operations: list[_Operation] = []
        path = directory / "table.yml"
        if not path.is_file():
            return
        doc = yaml.safe_load(path.read_text())
        for template, item in doc.get("paths", {}).items():
            for method, op in item.items():
                if method not in ("get", "post", "put", "patch", "delete"):
                    continue
                params = {}
                for raw in op.get("parameters", []):
                    p = _resolve(doc, raw)
                    params[p["name"]] = (p["in"], p.get("schema", {}))
                body = None
                content = (op.get("requestBody") or {}).get("content") or {}
                if "application/json" in content:
                    body = _resolve(doc, content["application/json"].get("schema", {}))
                names = tuple(re.findall(r"\{([^}]+)\}", template))
                regex = re.sub(r"\\\{[^}]+\\\}", "([^/]+)", re.escape(API_BASE + template))
                self.operations.append(
                    _Operation(
                        method.upper(), template, re.compile(f"^{regex}$"), names, params, body
                    )
                )

    @property
    def enabled(self) -> bool:
        return bool(self.operations)

    def check(self, method: str, path: str, query: dict[str, str], body: Any | None) -> str | None:
        """None when the request fits the spec, else what is wrong (no values)."""
        if not self.enabled:
            return None
        path_matches = [(o, o.pattern.match(path)) for o in self.operations]
        candidates = [(o, m) for o, m in path_matches if m is not None]
        if not candidates:
            return f"path {path.split('?')[0]!r} is not an operation of the Table API"
        for op, match in candidates:
            if op.method != method:
                continue
            values = dict(zip(op.names, match.groups(), strict=True))
            for name, (where, schema) in op.params.items():
                raw = values.get(name) if where == "path" else query.get(name)
                if raw is None:
                    continue
                errors = list(Draft202012Validator(schema).iter_errors(_coerce(raw, schema)))
                if errors:
                    return f"{where} parameter {name}: {errors[0].message[:120]}"
            if op.body is not None:
                if body is None:
                    return f"{method} {op.template} needs a JSON body"
                errors = list(Draft202012Validator(op.body).iter_errors(body))
                if errors:
                    return f"request body: {errors[0].message[:120]}"
            return None
        return f"method {method} is not allowed on {candidates[0][0].template}"
