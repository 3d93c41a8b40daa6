"""Registry operations with Confluent semantics, independent of HTTP and of Kafka.

``RegistryService`` reads :class:`RegistryState` and writes through a :class:`RecordLog`
(Kafka in production, memory in unit tests).  Writes are serialised by one lock so a
compatibility check and the version it allows are decided on the same state.
"""

from __future__ import annotations

import threading
from typing import Any

from pipeline.registry import errors
from pipeline.registry.avro_schema import ParsedSchema, check_schema_type, parse_avro
from pipeline.registry.compat import CompatibilityLevel, PreviousVersion, check_compatibility
from pipeline.registry.state import (
    TOMBSTONE,
    RegistryState,
    VersionRecord,
    config_key,
    schema_key,
)
from pipeline.registry.store import RecordLog

#: voicebus evolves schemas so that consumers can read every version they may meet.
DEFAULT_LEVEL = CompatibilityLevel.BACKWARD_TRANSITIVE
MAX_VERSION = 2**31 - 1


def parse_version(text: str) -> int | None:
    """``latest``/``-1`` -> None (latest); 1..2^31-1 -> int; anything else -> 42202."""
    if text in ("latest", "-1"):
        return None
    try:
        version = int(text)
    except ValueError:
        raise errors.invalid_version(text) from None
    if not 1 <= version <= MAX_VERSION:
        raise errors.invalid_version(text)
    return version


def schema_from_body(body: Any) -> ParsedSchema:
    """The ``{"schema": "...", "schemaType"?, "references"?}`` request body, validated."""
    if not isinstance(body, dict):
        raise errors.bad_request('Request body must be a JSON object like {"schema": "..."}')
    check_schema_type(body.get("schemaType"))
    if body.get("references"):
        raise errors.invalid_schema(
            "Invalid schema: schema references are not supported by this registry; inline "
            "the referenced named types in the schema"
        )
    return parse_avro(body.get("schema"))


class RegistryService:
    def __init__(self, log: RecordLog, default_level: CompatibilityLevel = DEFAULT_LEVEL) -> None:
        self.log = log
        self.default_level = default_level
        self._write_lock = threading.Lock()

    @property
    def state(self) -> RegistryState:
        return self.log.state

    # ---- helpers ----------------------------------------------------------------------
    def level_for(self, subject: str | None) -> CompatibilityLevel:
        """Subject config, else the global config, else the server default."""
        return (
            (self.state.config(subject) if subject is not None else None)
            or self.state.config(None)
            or self.default_level
        )

    def _live_versions(self, subject: str, include_deleted: bool = False) -> list[VersionRecord]:
        records = self.state.versions(subject, include_deleted)
        if not records:
            raise errors.subject_not_found(subject)
        return records

    def _schema_text(self, record: VersionRecord) -> str:
        stored = self.state.schema(record.schema_id)
        if stored is None:  # cannot happen: versions keep their schema alive
            raise errors.store_error(f"schema {record.schema_id} missing from the store")
        return stored.text

    def _version_body(self, record: VersionRecord) -> dict[str, Any]:
        return {
            "subject": record.subject,
            "version": record.version,
            "id": record.schema_id,
            "schema": self._schema_text(record),
        }

    def _previous(self, records: list[VersionRecord]) -> list[PreviousVersion]:
        previous = []
        for record in records:
            stored = self.state.schema(record.schema_id)
            if stored is not None:
                previous.append(PreviousVersion(record.version, stored.parsed))
        return previous

    # ---- subjects and versions --------------------------------------------------------
    def list_subjects(self, include_deleted: bool = False, prefix: str = "") -> list[str]:
        return [s for s in self.state.subjects(include_deleted) if s.startswith(prefix)]

    def list_versions(self, subject: str, include_deleted: bool = False) -> list[int]:
        return [r.version for r in self._live_versions(subject, include_deleted)]

    def get_version(
        self, subject: str, version_text: str, include_deleted: bool = False
    ) -> dict[str, Any]:
        version = parse_version(version_text)
        records = self._live_versions(subject, include_deleted)
        if version is None:
            return self._version_body(records[-1])
        record = self.state.version(subject, version)
        if record is None or (record.deleted and not include_deleted):
            raise errors.version_not_found(version)
        return self._version_body(record)

    def register(self, subject: str, body: Any) -> dict[str, Any]:
        parsed = schema_from_body(body)
        with self._write_lock:
            live = self.state.versions(subject)
            for record in live:
                stored = self.state.schema(record.schema_id)
                if stored is not None and stored.normalized == parsed.normalized:
                    return {"id": record.schema_id}
            level = self.level_for(subject)
            problems = check_compatibility(parsed.avro, self._previous(live), level)
            if problems:
                raise errors.incompatible_schema(
                    "Schema being registered is incompatible with an earlier schema for "
                    f'subject "{subject}", details: [{", ".join(problems)}]'
                )
            schema_id = self.state.id_for(parsed.normalized)
            text = parsed.text
            if schema_id is None:
                schema_id = self.state.next_id()
            else:
                existing = self.state.schema(schema_id)
                text = existing.text if existing is not None else text
            version = self.state.next_version(subject)
            self.log.write(
                schema_key(subject, version),
                {
                    "subject": subject,
                    "version": version,
                    "id": schema_id,
                    "schema": text,
                    "deleted": False,
                },
            )
        return {"id": schema_id}

    def lookup(self, subject: str, body: Any, include_deleted: bool = False) -> dict[str, Any]:
        parsed = schema_from_body(body)
        records = self._live_versions(subject, include_deleted)
        for record in reversed(records):
            stored = self.state.schema(record.schema_id)
            if stored is not None and stored.normalized == parsed.normalized:
                return self._version_body(record)
        raise errors.schema_not_found()

    def delete_subject(self, subject: str, permanent: bool = False) -> list[int]:
        with self._write_lock:
            records = self.state.versions(subject, include_deleted=True)
            if not records:
                raise errors.subject_not_found(subject)
            live = [r for r in records if not r.deleted]
            if permanent:
                if live:
                    raise errors.subject_not_soft_deleted(subject)
                for record in records:
                    self.log.write(schema_key(subject, record.version), TOMBSTONE)
                if self.state.config(subject) is not None:
                    self.log.write(config_key(subject), TOMBSTONE)
                return [r.version for r in records]
            if not live:
                raise errors.subject_soft_deleted(subject)
            for record in live:
                self._write_soft_delete(record)
            return [r.version for r in live]

    def delete_version(self, subject: str, version_text: str, permanent: bool = False) -> int:
        version = parse_version(version_text)
        with self._write_lock:
            records = self.state.versions(subject, include_deleted=True)
            if not records:
                raise errors.subject_not_found(subject)
            if version is None:
                candidates = records if permanent else [r for r in records if not r.deleted]
                if not candidates:
                    raise errors.subject_soft_deleted(subject)
                version = candidates[-1].version
            record = self.state.version(subject, version)
            if record is None:
                raise errors.version_not_found(version)
            if permanent:
                if not record.deleted:
                    raise errors.version_not_soft_deleted(subject, version)
                self.log.write(schema_key(subject, version), TOMBSTONE)
            else:
                if record.deleted:
                    raise errors.version_soft_deleted(subject, version)
                self._write_soft_delete(record)
            return version

    def _write_soft_delete(self, record: VersionRecord) -> None:
        self.log.write(
            schema_key(record.subject, record.version),
            {
                "subject": record.subject,
                "version": record.version,
                "id": record.schema_id,
                "schema": self._schema_text(record),
                "deleted": True,
            },
        )

    # ---- schemas by id ------------------------------------------------------------------
    def get_schema(self, schema_id: int) -> dict[str, Any]:
        stored = self.state.schema(schema_id)
        if stored is None:
            raise errors.schema_not_found(schema_id)
        return {"schema": stored.text}

    def schema_versions(
        self, schema_id: int, include_deleted: bool = False
    ) -> list[dict[str, Any]]:
        if self.state.schema(schema_id) is None:
            raise errors.schema_not_found(schema_id)
        return [
            {"subject": r.subject, "version": r.version}
            for r in self.state.versions_of_id(schema_id, include_deleted)
        ]

    def schema_subjects(self, schema_id: int, include_deleted: bool = False) -> list[str]:
        return sorted({v["subject"] for v in self.schema_versions(schema_id, include_deleted)})

    # ---- compatibility -----------------------------------------------------------------
    def test_compatibility(
        self, subject: str, version_text: str | None, body: Any, verbose: bool = False
    ) -> dict[str, Any]:
        """Against one version (``version_text``) or, when None, per the subject's level."""
        parsed = schema_from_body(body)
        level = self.level_for(subject)
        if version_text is None:
            targets = self.state.versions(subject)
        else:
            version = parse_version(version_text)
            live = self.state.versions(subject)
            if version is None:
                targets = live[-1:]
            else:
                if not self.state.versions(subject, include_deleted=True):
                    raise errors.subject_not_found(subject)
                record = self.state.version(subject, version)
                if record is None or record.deleted:
                    raise errors.version_not_found(version)
                targets = [record]
        problems = check_compatibility(parsed.avro, self._previous(targets), level)
        answer: dict[str, Any] = {"is_compatible": not problems}
        if verbose:
            answer["messages"] = problems
        return answer

    # ---- config -------------------------------------------------------------------------
    def get_config(self, subject: str | None, default_to_global: bool = False) -> dict[str, str]:
        if subject is not None:
            level = self.state.config(subject)
            if level is not None:
                return {"compatibilityLevel": level.value}
            if not default_to_global:
                raise errors.subject_compatibility_not_configured(subject)
        return {"compatibilityLevel": self.level_for(None).value}

    def set_config(self, subject: str | None, body: Any) -> dict[str, str]:
        if not isinstance(body, dict):
            raise errors.bad_request(
                'Request body must be a JSON object like {"compatibility": "FULL"}'
            )
        level = CompatibilityLevel.parse(body.get("compatibility", body.get("compatibilityLevel")))
        with self._write_lock:
            self.log.write(config_key(subject), {"compatibilityLevel": level.value})
        return {"compatibility": level.value}

    def delete_config(self, subject: str | None) -> dict[str, str]:
        with self._write_lock:
            if subject is None:
                previous = self.level_for(None)
            else:
                level = self.state.config(subject)
                if level is None:
                    if not self.state.versions(subject, include_deleted=True):
                        raise errors.subject_not_found(subject)
                    raise errors.subject_compatibility_not_configured(subject)
                previous = level
            self.log.write(config_key(subject), TOMBSTONE)
        return {"compatibilityLevel": previous.value}
