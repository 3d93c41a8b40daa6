"""Request validation of the Zendesk sandbox against Zendesk's published OpenAPI (split copy
in ``../shared/specs/zendesk``, or ``VOICEBUS_ZENDESK_SPEC_DIR``).

Every request's method + path must be an operation of the spec.  The split copy leaves the
request-body schemas as dangling ``$ref`` (``TicketCreateRequest``, ``UserRequest`` ...), so
bodies are checked against the schemas below, written from Zendesk's API reference for the
members voicebus sends (``additionalProperties`` stays open as in Zendesk's own schemas, but
types and enums are enforced).  ``/api/v2/job_statuses/{id}`` is not in the split files and
is allowed explicitly.  When the folder is absent, only the body schemas apply.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator

from connectors.base.specs import vendor_spec_dir

METHODS = ("get", "post", "put", "patch", "delete")
EXTRA_ROUTES = (("GET", "/api/v2/job_statuses/{job_status_id}"),)

_COMMENT = {
    "type": "object",
    "properties": {
        "body": {"type": "string"},
        "html_body": {"type": "string"},
        "public": {"type": "boolean"},
        "author_id": {"type": "integer"},
    },
}
_TICKET = {
    "type": "object",
    "properties": {
        "subject": {"type": "string"},
        "comment": _COMMENT,
        "priority": {"enum": ["urgent", "high", "normal", "low", None]},
        "status": {"enum": ["new", "open", "pending", "hold", "solved", "closed"]},
        "type": {"enum": ["problem", "incident", "question", "task", None]},
        "tags": {"type": "array", "items": {"type": "string"}},
        "external_id": {"type": ["string", "null"]},
        "requester_id": {"type": "integer"},
        "group_id": {"type": ["integer", "null"]},
        "requester": {
            "type": "object",
            "properties": {"name": {"type": "string"}, "email": {"type": "string"}},
            "required": ["name"],
        },
        "custom_fields": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"id": {"type": "integer"}},
                "required": ["id", "value"],
            },
        },
        "safe_update": {"type": "boolean"},
        "updated_stamp": {"type": "string", "format": "date-time"},
    },
}
_USER = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "email": {"type": "string"},
        "phone": {"type": "string"},
        "external_id": {"type": "string"},
    },
    "required": ["name"],
}
BODY_SCHEMAS: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/api/v2/tickets"): {
        "type": "object",
        "properties": {"ticket": _TICKET},
        "required": ["ticket"],
    },
    ("PUT", "/api/v2/tickets/{ticket_id}"): {
        "type": "object",
        "properties": {"ticket": _TICKET},
        "required": ["ticket"],
    },
    ("POST", "/api/v2/tickets/create_many"): {
        "type": "object",
        "properties": {"tickets": {"type": "array", "items": _TICKET, "maxItems": 100}},
        "required": ["tickets"],
    },
    ("PUT", "/api/v2/tickets/update_many"): {
        "type": "object",
        "properties": {
            "tickets": {
                "type": "array",
                "maxItems": 100,
                "items": {**_TICKET, "required": ["id"]},
            }
        },
        "required": ["tickets"],
    },
    ("POST", "/api/v2/users/create_or_update"): {
        "type": "object",
        "properties": {"user": _USER},
        "required": ["user"],
    },
}


def default_spec_dir() -> Path:
    env = os.environ.get("VOICEBUS_ZENDESK_SPEC_DIR")
    if env:
        return Path(env)
    return vendor_spec_dir("zendesk")


@dataclass(frozen=True)
class Route:
    method: str
    template: str
    pattern: re.Pattern[str]


class SpecViolation(ValueError):
    def __init__(self, status: int, code: str, description: str, field: str | None = None):
        super().__init__(description)
        self.status = status
        self.code = code
        self.description = description
        self.field = field


def _regex(template: str) -> re.Pattern[str]:
    return re.compile("^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$")


class SpecValidator:
    def __init__(self, spec_dir: Path | None = None) -> None:
        directory = spec_dir if spec_dir is not None else default_spec_dir()
        self.routes: list[Route] = []
        files = sorted(directory.glob("*.yml")) if directory.is_dir() else []
        for file in files:
            doc = yaml.safe_load(file.read_text()) or {}
            for template, item in (doc.get("paths") or {}).items():
                for method in METHODS:
                    if isinstance(item, dict) and method in item:
                        self.routes.append(Route(method.upper(), template, _regex(template)))
        for method, template in EXTRA_ROUTES:
            self.routes.append(Route(method, template, _regex(template)))
        self.routes.sort(key=lambda r: r.template.count("{"))  # literal segments win
        self.enabled = bool(files)
        self._bodies = {key: Draft202012Validator(s) for key, s in BODY_SCHEMAS.items()}

    def template_for(self, method: str, path: str) -> str:
        """The spec's path template; ``SpecViolation`` when the spec has no such operation."""
        path = path.removesuffix(".json")
        matching = [r for r in self.routes if r.pattern.match(path)]
        for route in matching:
            if route.method == method:
                return route.template
        if not self.enabled:
            return path
        if matching:
            raise SpecViolation(405, "InvalidEndpoint", f"{method} is not allowed on {path}")
        raise SpecViolation(404, "InvalidEndpoint", "Not found")

    def check_body(self, method: str, template: str, body: Any) -> None:
        validator = self._bodies.get((method, template))
        if validator is None:
            return
        errors = sorted(validator.iter_errors(body), key=lambda e: list(e.path))
        if errors:
            first = errors[0]
            field = ".".join(str(p) for p in first.path) or "(body)"
            raise SpecViolation(400, "InvalidValue", f"{field}: {first.message}", field)
