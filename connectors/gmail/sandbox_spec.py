"""Check sandbox requests against Google API discovery documents.

``<checkout>/../shared/specs/google/{gmail.v1.json,calendar.v3.json}``
(or ``VOICEBUS_GOOGLE_SPECS``)
describe every method: HTTP method, path template (relative to ``servicePath``), parameters
(``required``, ``location``, ``enum``) and the request body schema (``$ref`` into
``schemas``; a property is required for a method when its ``annotations.required`` lists the
method id).  ``DiscoverySpec.check`` answers the first violation as text, or None, so the
sandbox refuses what Google would refuse (unknown body fields, wrong types, missing required
fields or parameters).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from connectors.base.specs import vendor_spec_dir

SPEC_DIR = Path(os.environ.get("VOICEBUS_GOOGLE_SPECS") or vendor_spec_dir("google"))


@dataclass(frozen=True)
class Method:
    id: str
    http_method: str
    pattern: re.Pattern[str]
    parameters: Mapping[str, Any]
    request_ref: str | None


def _path_regex(service_path: str, path: str) -> re.Pattern[str]:
    full = "/" + (service_path + path).lstrip("/")
    parts = re.split(r"(\{\+?[A-Za-z0-9_]+\})", full)
    regex = ""
    for part in parts:
        match = re.fullmatch(r"\{(\+?)([A-Za-z0-9_]+)\}", part)
        if match:
            regex += f"(?P<{match.group(2)}>{'.+' if match.group(1) else '[^/]+'})"
        else:
            regex += re.escape(part)
    return re.compile(f"^{regex}$")


def _methods(resource: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    yield from resource.get("methods", {}).values()
    for sub in resource.get("resources", {}).values():
        yield from _methods(sub)


class DiscoverySpec:
    def __init__(self, document: Mapping[str, Any]) -> None:
        self.schemas: Mapping[str, Any] = document.get("schemas", {})
        service_path = str(document.get("servicePath", ""))
        self.methods = [
            Method(
                id=str(m["id"]),
                http_method=str(m["httpMethod"]),
                pattern=_path_regex(service_path, str(m.get("flatPath") or m["path"])),
                parameters=m.get("parameters", {}),
                request_ref=(m.get("request") or {}).get("$ref"),
            )
            for m in _methods(document)
        ]

    @classmethod
    def load(cls, name: str) -> DiscoverySpec:
        return cls(json.loads((SPEC_DIR / name).read_text(encoding="utf-8")))

    def find(self, http_method: str, path: str) -> tuple[Method, dict[str, str]] | None:
        for method in self.methods:
            if method.http_method != http_method:
                continue
            match = method.pattern.match(path)
            if match:
                return method, match.groupdict()
        return None

    def check(self, http_method: str, path: str, query: Mapping[str, str], body: Any) -> str | None:
        found = self.find(http_method, path)
        if found is None:
            return f"no {http_method} method at {path} in the discovery document"
        method, path_params = found
        for name, param in method.parameters.items():
            location = param.get("location")
            value = path_params.get(name) if location == "path" else query.get(name)
            if value is None:
                if param.get("required"):
                    return f"{method.id}: required parameter '{name}' missing"
                continue
            if "enum" in param and value not in param["enum"]:
                return f"{method.id}: parameter '{name}' must be one of {param['enum']}"
        for name in query:
            if name not in method.parameters and name not in ("alt", "fields", "key"):
                return f"{method.id}: unknown query parameter '{name}'"
        if method.request_ref is not None:
            if not isinstance(body, Mapping):
                return f"{method.id}: request body must be a JSON object"
            return self._check_value(body, {"$ref": method.request_ref}, "body", method.id)
        return None

    def _check_value(
        self, value: Any, schema: Mapping[str, Any], where: str, mid: str
    ) -> str | None:
        if "$ref" in schema:
            schema = self.schemas[schema["$ref"]]
        kind = schema.get("type")
        if kind == "object":
            if not isinstance(value, Mapping):
                return f"{where}: expected an object"
            properties = schema.get("properties")
            if properties is None:  # a map: additionalProperties
                extra = schema.get("additionalProperties")
                for key, item in value.items():
                    if extra is not None:
                        error = self._check_value(item, extra, f"{where}.{key}", mid)
                        if error:
                            return error
                return None
            for name, prop in properties.items():
                required = mid in (prop.get("annotations") or {}).get("required", [])
                if required and name not in value:
                    return f"{where}.{name}: required for {mid}"
            for key, item in value.items():
                if key not in properties:
                    return f"{where}.{key}: unknown field"
                error = self._check_value(item, properties[key], f"{where}.{key}", mid)
                if error:
                    return error
            return None
        if kind == "array":
            if not isinstance(value, list):
                return f"{where}: expected an array"
            for i, item in enumerate(value):
                error = self._check_value(item, schema.get("items", {}), f"{where}[{i}]", mid)
                if error:
                    return error
            return None
        if kind == "string":
            if not isinstance(value, str):
                return f"{where}: expected a string"
            return _check_format(value, schema.get("format"), where)
        if kind == "boolean" and not isinstance(value, bool):
            return f"{where}: expected a boolean"
        if kind == "integer" and (isinstance(value, bool) or not isinstance(value, int)):
            return f"{where}: expected an integer"
        return None


def _check_format(value: str, fmt: str | None, where: str) -> str | None:
    try:
        if fmt == "date-time":
            datetime.fromisoformat(value.replace("Z", "+00:00"))
        elif fmt == "date":
            date.fromisoformat(value)
        elif fmt in ("int64", "uint64", "int32", "uint32"):
            int(value)
        elif fmt == "byte":
            import base64

            base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except ValueError:
        return f"{where}: not a valid {fmt}"
    return None
