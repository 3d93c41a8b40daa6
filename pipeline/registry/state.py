"""The registry's in-memory view, rebuilt by applying ``_schemas`` records in log order.

The record format follows Confluent's ``_schemas`` topic (JSON keys and values):

* ``{"keytype": "SCHEMA", "subject": s, "version": v, "magic": 1}`` ->
  ``{"subject", "version", "id", "schema", "deleted"}`` (``deleted`` = soft delete)
* ``{"keytype": "CONFIG", "subject": s | null, "magic": 0}`` -> ``{"compatibilityLevel": L}``
* ``{"keytype": "NOOP", "magic": 0}`` -> ``{"marker": uuid}`` (start-up read-up-to marker; one
  key, so compaction keeps only the last marker)

Last record per key wins.  A removal (permanent delete, deleted config) is written as
``{"tombstone": true}`` and a null value is also honoured as a removal.  Removals are written
non-null because the embedded broker (Tansu 0.6) never returns records whose value is null or
empty to consumers; a non-null removal works on every broker, at the cost of a few bytes per
removed key that compaction keeps.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any

import avro.schema

from pipeline.registry.avro_schema import ParsedSchema, parse_avro
from pipeline.registry.compat import CompatibilityLevel
from pipeline.registry.errors import RegistryError

log = logging.getLogger(__name__)

TOMBSTONE: dict[str, Any] = {"tombstone": True}


def schema_key(subject: str, version: int) -> dict[str, Any]:
    return {"keytype": "SCHEMA", "subject": subject, "version": version, "magic": 1}


def config_key(subject: str | None) -> dict[str, Any]:
    return {"keytype": "CONFIG", "subject": subject, "magic": 0}


def noop_key() -> dict[str, Any]:
    return {"keytype": "NOOP", "magic": 0}


@dataclass(frozen=True)
class VersionRecord:
    subject: str
    version: int
    schema_id: int
    deleted: bool


@dataclass(frozen=True)
class StoredSchema:
    text: str
    normalized: str
    parsed: avro.schema.Schema


class RegistryState:
    """Thread-safe: the log reader thread applies records while HTTP handlers read."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._versions: dict[str, dict[int, VersionRecord]] = {}
        self._schemas: dict[int, StoredSchema] = {}
        self._id_by_normalized: dict[str, int] = {}
        self._configs: dict[str | None, CompatibilityLevel] = {}
        self._max_id = 0
        self._markers: set[str] = set()

    # ---- applying log records ----------------------------------------------------------
    def apply(self, key: Any, value: Any) -> None:
        """Apply one record; malformed records are logged and skipped, never fatal."""
        if not isinstance(key, dict):
            log.warning("ignoring _schemas record with a non-object key")
            return
        removal = value is None or (isinstance(value, dict) and value.get("tombstone") is True)
        keytype = key.get("keytype")
        with self._lock:
            if keytype == "SCHEMA":
                self._apply_schema(key, None if removal else value)
            elif keytype == "CONFIG":
                self._apply_config(key, None if removal else value)
            elif keytype == "NOOP":
                if isinstance(value, dict) and isinstance(value.get("marker"), str):
                    self._markers.add(value["marker"])
            else:
                log.info("ignoring _schemas record of key type %r", keytype)

    def _apply_schema(self, key: dict[str, Any], value: Any) -> None:
        subject, version = key.get("subject"), key.get("version")
        if not isinstance(subject, str) or not isinstance(version, int):
            log.warning("ignoring SCHEMA record with a malformed key %r", key)
            return
        if value is None:
            self._remove_version(subject, version)
            return
        schema_id = value.get("id") if isinstance(value, dict) else None
        if not isinstance(schema_id, int):
            log.warning("ignoring SCHEMA record %s v%s without an integer id", subject, version)
            return
        if schema_id not in self._schemas:
            try:
                parsed: ParsedSchema = parse_avro(value.get("schema"))
            except RegistryError as exc:
                log.warning("ignoring SCHEMA record %s v%s: %s", subject, version, exc.message)
                return
            self._schemas[schema_id] = StoredSchema(parsed.text, parsed.normalized, parsed.avro)
            self._id_by_normalized.setdefault(parsed.normalized, schema_id)
        self._max_id = max(self._max_id, schema_id)
        record = VersionRecord(subject, version, schema_id, bool(value.get("deleted", False)))
        old = self._versions.setdefault(subject, {}).get(version)
        self._versions[subject][version] = record
        if old is not None and old.schema_id != schema_id:
            self._forget_if_unused(old.schema_id)

    def _remove_version(self, subject: str, version: int) -> None:
        old = self._versions.get(subject, {}).pop(version, None)
        if not self._versions.get(subject):
            self._versions.pop(subject, None)
        if old is not None:
            self._forget_if_unused(old.schema_id)

    def _forget_if_unused(self, schema_id: int) -> None:
        """An id whose last version was permanently deleted no longer resolves (Confluent)."""
        if self.versions_of_id(schema_id, include_deleted=True):
            return
        stored = self._schemas.pop(schema_id, None)
        if stored is not None and self._id_by_normalized.get(stored.normalized) == schema_id:
            del self._id_by_normalized[stored.normalized]

    def _apply_config(self, key: dict[str, Any], value: Any) -> None:
        subject = key.get("subject")
        if subject is not None and not isinstance(subject, str):
            log.warning("ignoring CONFIG record with a malformed key %r", key)
            return
        if value is None:
            self._configs.pop(subject, None)
            return
        try:
            level = CompatibilityLevel.parse(
                value.get("compatibilityLevel") if isinstance(value, dict) else None
            )
        except RegistryError:
            log.warning("ignoring CONFIG record for %r with an unknown level", subject)
            return
        self._configs[subject] = level

    # ---- queries ---------------------------------------------------------------------
    def seen_marker(self, marker: str) -> bool:
        with self._lock:
            return marker in self._markers

    def subjects(self, include_deleted: bool = False) -> list[str]:
        with self._lock:
            return sorted(s for s in self._versions if self.versions(s, include_deleted))

    def versions(self, subject: str, include_deleted: bool = False) -> list[VersionRecord]:
        """The subject's versions, oldest first."""
        with self._lock:
            records = self._versions.get(subject, {})
            return [
                records[v] for v in sorted(records) if include_deleted or not records[v].deleted
            ]

    def version(self, subject: str, version: int) -> VersionRecord | None:
        with self._lock:
            return self._versions.get(subject, {}).get(version)

    def schema(self, schema_id: int) -> StoredSchema | None:
        with self._lock:
            return self._schemas.get(schema_id)

    def id_for(self, normalized: str) -> int | None:
        with self._lock:
            return self._id_by_normalized.get(normalized)

    def versions_of_id(self, schema_id: int, include_deleted: bool = False) -> list[VersionRecord]:
        with self._lock:
            return [
                record
                for subject in sorted(self._versions)
                for record in self.versions(subject, include_deleted)
                if record.schema_id == schema_id
            ]

    def config(self, subject: str | None) -> CompatibilityLevel | None:
        with self._lock:
            return self._configs.get(subject)

    def next_id(self) -> int:
        with self._lock:
            return self._max_id + 1

    def next_version(self, subject: str) -> int:
        """Versions keep counting past soft-deleted ones, as in Confluent."""
        with self._lock:
            return max(self._versions.get(subject, {}), default=0) + 1
