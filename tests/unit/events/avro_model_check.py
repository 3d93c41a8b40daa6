"""Generic comparison of an Avro schema with the pydantic models that mirror it.

Both sides are reduced to the same small type descriptors and compared record by record:
field names and order, types (logical types included), optionality and defaults.  Nothing
here lists the fields by hand, so a field added to either side without the other fails."""

from __future__ import annotations

import types
import uuid
from datetime import date, datetime
from enum import Enum
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import AwareDatetime, BaseModel

from pipeline.events import AvroRecord

PRIMITIVES = {
    "string": "str",
    "int": "int",
    "long": "int",
    "float": "float",
    "double": "float",
    "boolean": "bool",
    "bytes": "bytes",
    "null": "null",
}
LOGICAL = {
    "uuid": "uuid",
    "timestamp-millis": "datetime",
    "timestamp-micros": "datetime",
    "date": "date",
}


def _full(name: str, namespace: str | None) -> str:
    return name if "." in name or not namespace else f"{namespace}.{name}"


def avro_records(
    schema: Any, namespace: str | None = None, out: dict[str, dict[str, Any]] | None = None
) -> dict[str, dict[str, Any]]:
    """Every named record in ``schema`` by full name (with the namespace it inherits)."""
    out = {} if out is None else out
    if isinstance(schema, list):
        for branch in schema:
            avro_records(branch, namespace, out)
    elif isinstance(schema, dict):
        kind = schema.get("type")
        if kind == "record":
            full = _full(schema["name"], schema.get("namespace", namespace))
            ns = full.rpartition(".")[0] or None
            out[full] = {**schema, "_namespace": ns}
            for f in schema["fields"]:
                avro_records(f["type"], ns, out)
        elif kind == "array":
            avro_records(schema["items"], namespace, out)
        elif isinstance(kind, dict | list):
            avro_records(kind, namespace, out)
    return out


def avro_desc(t: Any, namespace: str | None) -> Any:
    if isinstance(t, str):
        return (PRIMITIVES[t],) if t in PRIMITIVES else ("record", _full(t, namespace))
    if isinstance(t, list):
        branches = [avro_desc(b, namespace) for b in t]
        if ("null",) in branches and len(branches) == 2:
            other = next(b for b in branches if b != ("null",))
            return ("optional", other)
        return ("union", frozenset(branches))
    kind = t["type"]
    if "logicalType" in t and t["logicalType"] in LOGICAL:
        return (LOGICAL[t["logicalType"]],)
    if kind == "record":
        return ("record", _full(t["name"], t.get("namespace", namespace)))
    if kind == "enum":
        return ("enum", tuple(t["symbols"]))
    if kind == "array":
        return ("array", avro_desc(t["items"], namespace))
    return avro_desc(kind, namespace)


def py_desc(annotation: Any) -> Any:
    origin = get_origin(annotation)
    if origin is Annotated:
        return py_desc(get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        args = get_args(annotation)
        if type(None) in args and len(args) == 2:
            return ("optional", py_desc(next(a for a in args if a is not type(None))))
        return ("union", frozenset(py_desc(a) for a in args))
    if origin is list:
        return ("array", py_desc(get_args(annotation)[0]))
    if isinstance(annotation, type):
        if issubclass(annotation, AvroRecord):
            return ("record", annotation.avro_name)
        if issubclass(annotation, Enum):
            return ("enum", tuple(m.value for m in annotation))
        for cls, name in (
            (bool, "bool"),
            (str, "str"),
            (int, "int"),
            (float, "float"),
            (uuid.UUID, "uuid"),
            (datetime, "datetime"),
            (AwareDatetime, "datetime"),
            (date, "date"),
            (bytes, "bytes"),
        ):
            if issubclass(annotation, cls):
                return (name,)
    raise AssertionError(f"no Avro counterpart for annotation {annotation!r}")


def types_agree(avro: Any, py: Any) -> bool:
    """Equal, except that a Python enum may narrow an Avro string (e.g. event_type)."""
    if avro == py:
        return True
    if avro[0] == "str" and py[0] == "enum":
        return True
    if avro[0] == py[0] and avro[0] in ("optional", "array"):
        return types_agree(avro[1], py[1])
    return False


def _plain(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def mismatches(record: dict[str, Any], model: type[BaseModel]) -> list[str]:
    """Differences between one Avro record schema and its model (empty list: they agree)."""
    problems: list[str] = []
    name = record["name"]
    avro_fields = [f["name"] for f in record["fields"]]
    model_fields = list(model.model_fields)
    if avro_fields != model_fields:
        problems.append(f"{name}: fields {avro_fields} (Avro) != {model_fields} (model)")
    for f in record["fields"]:
        info = model.model_fields.get(f["name"])
        if info is None:
            continue
        where = f"{name}.{f['name']}"
        a, p = avro_desc(f["type"], record["_namespace"]), py_desc(info.annotation)
        if not types_agree(a, p):
            problems.append(f"{where}: Avro type {a} != model type {p}")
        if "default" in f:
            if info.is_required():
                problems.append(f"{where}: Avro default {f['default']!r} but model requires it")
            else:
                default = info.default_factory() if info.default_factory else info.default  # type: ignore[call-arg]
                if _plain(default) != f["default"]:
                    problems.append(f"{where}: default {f['default']!r} (Avro) != {default!r}")
        elif not info.is_required():
            problems.append(f"{where}: model default {info.default!r} but Avro has none")
    return problems


def all_models() -> dict[str, type[AvroRecord]]:
    found: dict[str, type[AvroRecord]] = {}
    stack = list(AvroRecord.__subclasses__())
    while stack:
        cls = stack.pop()
        found[cls.avro_name] = cls
        stack.extend(cls.__subclasses__())
    return found


def schema_mismatches(schema: dict[str, Any]) -> list[str]:
    """All differences between every record of ``schema`` and the models (by full name)."""
    models = all_models()
    problems = []
    for full, record in avro_records(schema).items():
        model = models.get(full)
        if model is None:
            problems.append(f"{full}: no model mirrors this record")
            continue
        problems += mismatches(record, model)
    return problems
