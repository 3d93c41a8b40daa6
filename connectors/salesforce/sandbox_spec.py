"""Request validation of the Salesforce sandbox against the vendor specs.

Reads ``sobjects.yml``, ``composite.yml`` and ``oauth.yml`` from the shared specs folder
(``VOICEBUS_SPECS_DIR``, else ``<repo>/../shared/specs``) and checks each API request's path,
method and JSON body (jsonschema, Draft 2020-12, ``$ref`` into the spec's components).  When
the folder is absent validation is skipped, as the specs' README asks.

The specs are a third-party OpenAPI rendering; the REST API Developer Guide wins on conflict,
so ``GUIDE`` adds what the files lack or get wrong (each entry says why):

- upsert by external id ``PATCH /sobjects/{type}/{field}/{value}`` is not in the file;
- sObject Collections upsert ``PATCH /composite/sobjects/{type}/{field}`` is not in the file
  (its records must carry ``attributes.type``: the file's SObjectRecord schema is reused);
- ``GET /query`` (SOQL) is not in the file;
- single-record create/update bodies do not need ``attributes`` (the file's SObjectRecord
  requires it; the guide's examples send plain field maps).
"""

from __future__ import annotations

import functools
import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator

from connectors.base.specs import vendor_spec_dir

log = logging.getLogger(__name__)

SPEC_FILES = ("sobjects.yml", "composite.yml", "oauth.yml")
_VERSION_PREFIX = re.compile(r"^(?:/services)?/data/v\d+\.\d+")
_PLAIN_OBJECT: dict[str, Any] = {"type": "object"}


@dataclass(frozen=True)
class Route:
    method: str
    template: str
    pattern: re.Pattern[str]
    literals: int
    validator: Draft202012Validator | None
    source: str


@dataclass(frozen=True)
class SpecProblem:
    status: int
    code: str
    message: str


def default_specs_dir() -> Path:
    configured = os.environ.get("VOICEBUS_SPECS_DIR")
    if configured:
        return Path(configured) / "salesforce"
    return vendor_spec_dir("salesforce")


def _compile(template: str) -> tuple[re.Pattern[str], int]:
    parts = [p for p in template.strip("/").split("/") if p]
    regex = "".join("/[^/]+" if p.startswith("{") else "/" + re.escape(p) for p in parts)
    literals = sum(1 for p in parts if not p.startswith("{"))
    return re.compile(f"^{regex}/?$"), literals


def _validator(schema: Mapping[str, Any] | None, components: Any) -> Draft202012Validator | None:
    if schema is None:
        return None
    return Draft202012Validator({**dict(schema), "components": components or {}})


def _guide_routes(composite_components: Any) -> list[tuple[str, str, Any, str]]:
    collection_upsert = {
        "type": "object",
        "required": ["records"],
        "properties": {
            "allOrNone": {"type": "boolean"},
            "records": {
                "type": "array",
                "maxItems": 200,
                "items": {"$ref": "#/components/schemas/SObjectRecord"},
            },
        },
    }
    return [
        ("PATCH", "/sobjects/{sobjectType}/{fieldName}/{fieldValue}", _PLAIN_OBJECT, "guide"),
        ("PATCH", "/composite/sobjects/{sobjectType}/{externalIdFieldName}",
         _validator(collection_upsert, composite_components), "guide"),
        ("GET", "/query", None, "guide"),
        ("POST", "/sobjects/{sobjectType}", _PLAIN_OBJECT, "guide"),
        ("PATCH", "/sobjects/{sobjectType}/{id}", _PLAIN_OBJECT, "guide"),
    ]  # fmt: skip


class SpecValidator:
    def __init__(self, routes: list[Route]) -> None:
        self.routes = routes

    @classmethod
    def load(cls, folder: Path | None = None) -> SpecValidator | None:
        folder = folder or default_specs_dir()
        if not folder.is_dir():
            log.warning("Salesforce specs not found at %s: request validation is off", folder)
            return None
        return _load_cached(str(folder))

    def match(self, method: str, path: str) -> tuple[Route | None, list[str]]:
        """The most specific route for ``path`` (version prefix stripped), and the methods
        the path allows (for 405)."""
        relative = _VERSION_PREFIX.sub("", path)
        candidates = [r for r in self.routes if r.pattern.match(relative)]
        allowed = sorted({r.method for r in candidates})
        for route in sorted(candidates, key=lambda r: (-r.literals, r.source != "guide")):
            if route.method == method:
                return route, allowed
        return None, allowed

    def check(self, method: str, path: str, body: Any) -> SpecProblem | None:
        route, allowed = self.match(method, path)
        if route is None:
            if allowed:
                return SpecProblem(
                    405,
                    "METHOD_NOT_ALLOWED",
                    f"HTTP Method '{method}' not allowed. Allowed are {','.join(allowed)}",
                )
            return SpecProblem(404, "NOT_FOUND", "The requested resource does not exist")
        if route.validator is not None:
            error = next(iter(route.validator.iter_errors(body)), None)
            if error is not None:
                where = "/".join(str(p) for p in error.absolute_path) or "body"
                return SpecProblem(
                    400,
                    "JSON_PARSER_ERROR",
                    f"request body does not match {route.method} {route.template} "
                    f"({route.source}) at {where}: {error.validator} violated",
                )
        return None


@functools.lru_cache(maxsize=4)
def _load_cached(folder: str) -> SpecValidator:
    routes: list[Route] = []
    composite_components: Any = {}
    for name in SPEC_FILES:
        path = Path(folder) / name
        if not path.is_file():
            continue
        spec = yaml.safe_load(path.read_text(encoding="utf-8"))
        components = spec.get("components") or {}
        if name == "composite.yml":
            composite_components = components
        for template, item in (spec.get("paths") or {}).items():
            relative = _VERSION_PREFIX.sub("", template) or "/"
            pattern, literals = _compile(relative)
            for method, operation in item.items():
                if method.upper() not in ("GET", "POST", "PATCH", "PUT", "DELETE"):
                    continue
                content = ((operation or {}).get("requestBody") or {}).get("content") or {}
                schema = (content.get("application/json") or {}).get("schema")
                routes.append(
                    Route(
                        method.upper(),
                        relative,
                        pattern,
                        literals,
                        _validator(schema, components),
                        name,
                    )
                )
    for method, template, validator, source in _guide_routes(composite_components):
        pattern, literals = _compile(template)
        if isinstance(validator, dict):
            validator = _validator(validator, {})
        # the guide replaces a file route with the same method and template
        routes = [r for r in routes if not (r.method == method and r.template == template)]
        routes.append(Route(method, template, pattern, literals, validator, source))
    return SpecValidator(routes)
