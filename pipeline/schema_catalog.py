"""Where the Avro schemas live and which registry subject each one is registered under.

``schemas/`` (a package, shipped with the wheel) holds the ``.avsc`` files; ``subjects.yaml``
beside them maps each file to its subject (TopicNameStrategy: ``<topic>-value``).  Everything
that needs a schema reads it through here, so tests and the CLI can point at another directory
(``schemas_dir``) without touching the code that uses it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

import schemas as _schemas_package

__all__ = [
    "CALL_EVENTS_SUBJECT",
    "CALL_EVENT_SCHEMA",
    "CONTACTS_SUBJECT",
    "CONTACT_SCHEMA",
    "SCHEMAS_DIR",
    "SchemaCatalogError",
    "load_schema",
    "subject_for",
    "subjects",
]

SCHEMAS_DIR: Path = _schemas_package.SCHEMA_DIR
CALL_EVENT_SCHEMA = "voice/call_event.avsc"
CONTACT_SCHEMA = "crm/contact.avsc"
CALL_EVENTS_SUBJECT = "voice.call-events-value"
CONTACTS_SUBJECT = "crm.contacts-value"


class SchemaCatalogError(LookupError):
    """A schema file or its subject entry is missing or unreadable."""


def _schema_text(path: Path) -> str:
    """Read on every call (no cache): ``voicebus schemas check`` must see edited files."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise SchemaCatalogError(f"schema file {path} does not exist") from exc


def load_schema(relative_path: str, *, schemas_dir: Path | str | None = None) -> dict[str, Any]:
    """The parsed JSON of ``schemas/<relative_path>`` (a fresh dict on every call, so callers
    may modify it)."""
    path = (Path(schemas_dir) if schemas_dir else SCHEMAS_DIR) / relative_path
    text = _schema_text(path.resolve())
    try:
        schema = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SchemaCatalogError(
            f"schema file {path} is not valid JSON (line {exc.lineno}, column {exc.colno}: "
            f"{exc.msg})"
        ) from exc
    if not isinstance(schema, dict):
        raise SchemaCatalogError(f"schema file {path} must hold a JSON object")
    return schema


def subjects(schemas_dir: Path | str | None = None) -> dict[str, str]:
    """``{relative .avsc path: subject}`` from ``subjects.yaml``, in file order."""
    path = (Path(schemas_dir) if schemas_dir else SCHEMAS_DIR) / "subjects.yaml"
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError as exc:
        raise SchemaCatalogError(f"{path} does not exist") from exc
    if not isinstance(raw, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in raw.items()
    ):
        raise SchemaCatalogError(f"{path} must map '<file>.avsc: <subject>' (strings only)")
    return dict(raw)


def subject_for(relative_path: str, *, schemas_dir: Path | str | None = None) -> str:
    """The registry subject of one ``.avsc`` file, as listed in ``subjects.yaml``."""
    mapping = subjects(schemas_dir)
    try:
        return mapping[relative_path]
    except KeyError:
        raise SchemaCatalogError(
            f"{relative_path} has no entry in subjects.yaml; add '{relative_path}: "
            "<topic>-value' there"
        ) from None
