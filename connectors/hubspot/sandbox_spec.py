"""Request validation of the HubSpot sandbox against HubSpot's published OpenAPI specs.

The specs live outside the project tree (``../shared/specs/hubspot`` next to the checkout,
or ``VOICEBUS_HUBSPOT_SPEC_DIR``).  Every request's method + path must be an operation of a
spec and its body must match the operation's request schema (jsonschema, draft 4 semantics
as in OpenAPI 3.0); the sandbox answers HubSpot's 400 VALIDATION_ERROR otherwise.  When the
folder is absent validation is off (``SpecValidator.enabled`` is False).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jsonschema import Draft4Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

from connectors.base.specs import vendor_spec_dir

METHODS = ("get", "post", "put", "patch", "delete")


def default_spec_dir() -> Path:
    env = os.environ.get("VOICEBUS_HUBSPOT_SPEC_DIR")
    if env:
        return Path(env)
    return vendor_spec_dir("hubspot")


@dataclass(frozen=True)
class Route:
    method: str
    template: str
    spec: str
    pattern: re.Pattern[str]
    body_pointer: str | None
    content_type: str | None


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


class SpecValidator:
    def __init__(self, spec_dir: Path | None = None) -> None:
        directory = spec_dir if spec_dir is not None else default_spec_dir()
        self.routes: list[Route] = []
        self._validators: dict[tuple[str, str], Draft4Validator] = {}
        registry: Registry[Any] = Registry()
        files = sorted(directory.glob("*.json")) if directory.is_dir() else []
        for file in files:
            doc = json.loads(file.read_text())
            uri = f"urn:hubspot-spec:{file.stem}"
            registry = registry.with_resource(
                uri, Resource.from_contents(doc, default_specification=DRAFT4)
            )
            for template, item in doc.get("paths", {}).items():
                for method in METHODS:
                    op = item.get(method)
                    if op is None:
                        continue
                    pointer, content_type = None, None
                    content = (op.get("requestBody") or {}).get("content") or {}
                    for ctype, media in content.items():
                        if "schema" in media:
                            pointer = (
                                f"{uri}#/paths/{_escape(template)}/{method}/requestBody/content/"
                                f"{_escape(ctype)}/schema"
                            )
                            content_type = ctype
                            break
                    regex = "^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$"
                    self.routes.append(
                        Route(
                            method.upper(),
                            template,
                            file.stem,
                            re.compile(regex),
                            pointer,
                            content_type,
                        )
                    )
        self.routes.sort(key=lambda r: r.template.count("{"))  # literal segments win
        self._registry = registry
        self.enabled = bool(self.routes)

    def route(self, method: str, path: str) -> Route | None:
        for route in self.routes:
            if route.method == method.upper() and route.pattern.match(path):
                return route
        return None

    def body_errors(self, route: Route, body: Any) -> list[str]:
        """Human-readable schema violations (location: message), at most five."""
        if route.body_pointer is None:
            return []
        key = (route.method, route.template)
        validator = self._validators.get(key)
        if validator is None:
            validator = Draft4Validator({"$ref": route.body_pointer}, registry=self._registry)
            self._validators[key] = validator
        errors = sorted(validator.iter_errors(body), key=lambda e: list(e.absolute_path))
        out = []
        for error in errors[:5]:
            where = ".".join(str(p) for p in error.absolute_path) or "(body)"
            out.append(f"{where}: {error.message}")
        return out
