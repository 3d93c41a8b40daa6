"""Request/response checks of the Slack sandbox against Slack's published Web API spec
(OpenAPI 2.0, ``../shared/specs/slack/slack_web_openapi_v2.json``, or
``VOICEBUS_SLACK_SPEC_FILE``).

A focused validator of what the spec says about a method: it must exist with that HTTP
method; a JSON body may only hold the method's declared ``formData`` parameters, with their
declared types, and the required ones.  Two documented allowances for JSON bodies, as Slack
accepts them: ``blocks``/``attachments`` may be arrays (the spec types them as URL-encoded JSON
strings, the form encoding), and the spec's ``token`` header parameter is satisfied by
``Authorization: Bearer``.  ``response_errors`` validates an answer against the method's
response schema (jsonschema, with the spec's definitions), used by the tests.
When the spec file is absent, validation is off (``enabled`` False).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from jsonschema import Draft4Validator

from connectors.base.specs import vendor_spec_dir

JSON_ARRAY_PARAMS = frozenset({"blocks", "attachments"})


def default_spec_file() -> Path:
    env = os.environ.get("VOICEBUS_SLACK_SPEC_FILE")
    if env:
        return Path(env)
    return vendor_spec_dir("slack") / "slack_web_openapi_v2.json"


class SlackSpec:
    def __init__(self, spec_file: Path | None = None) -> None:
        path = spec_file if spec_file is not None else default_spec_file()
        self.enabled = path.is_file()
        self.doc: dict[str, Any] = json.loads(path.read_text()) if self.enabled else {}

    def operation(self, method_name: str, http_method: str) -> dict[str, Any] | None:
        item = self.doc.get("paths", {}).get(f"/{method_name}")
        if not isinstance(item, dict):
            return None
        op = item.get(http_method.lower())
        return op if isinstance(op, dict) else None

    def allowed_http_methods(self, method_name: str) -> list[str]:
        item = self.doc.get("paths", {}).get(f"/{method_name}", {})
        return sorted(m.upper() for m in item if m in ("get", "post"))

    def request_errors(
        self, method_name: str, http_method: str, body: dict[str, Any]
    ) -> list[tuple[str, str]]:
        """(slack error code, detail) for each problem of a JSON request body."""
        if not self.enabled:
            return []
        op = self.operation(method_name, http_method)
        if op is None:
            return [("unknown_method", f"{http_method} /{method_name} is not in the spec")]
        params = {
            p["name"]: p for p in op.get("parameters", []) if p.get("in") in ("formData", "query")
        }
        problems: list[tuple[str, str]] = []
        for name, value in body.items():
            param = params.get(name)
            if param is None:
                problems.append(("invalid_arg_name", f"unknown parameter {name!r}"))
                continue
            if not _type_ok(param.get("type", "string"), value, name):
                problems.append(
                    ("invalid_form_data", f"parameter {name!r} must be {param.get('type')}")
                )
        for name, param in params.items():
            if param.get("required") and name not in body:
                code = "channel_not_found" if name == "channel" else "invalid_form_data"
                problems.append((code, f"required parameter {name!r} missing"))
        return problems

    def response_errors(self, method_name: str, http_method: str, answer: Any) -> list[str]:
        """jsonschema errors of an answer against the method's 200 (ok) or default schema."""
        op = self.operation(method_name, http_method)
        if op is None:
            return [f"{http_method} /{method_name} is not in the spec"]
        responses = op.get("responses", {})
        key = "200" if isinstance(answer, dict) and answer.get("ok") is True else "default"
        schema = {**responses[key]["schema"], "definitions": self.doc.get("definitions", {})}
        return [e.message for e in Draft4Validator(schema).iter_errors(answer)]


def _type_ok(declared: str, value: Any, name: str) -> bool:
    if name in JSON_ARRAY_PARAMS and isinstance(value, list):
        return True
    if declared == "boolean":
        return isinstance(value, bool) or value in ("true", "false")
    if declared == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if declared == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    return isinstance(value, str)
