"""Compatibility levels and checks, delegated to ``avro.compatibility``.

No rule is hand-written here: ``ReaderWriterCompatibilityChecker`` decides whether a reader
schema can decode what a writer schema wrote.  This module only maps Confluent's levels to
reader/writer pairs and turns the checker's result into Confluent-style messages:

* BACKWARD: the new schema reads data written with the latest version.
* FORWARD: the latest version reads data written with the new schema.
* FULL: both.  ``*_TRANSITIVE``: against every live (not soft-deleted) version, not only the
  latest.  NONE: no check.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

import avro.schema
from avro.compatibility import (
    ReaderWriterCompatibilityChecker,
    SchemaCompatibilityResult,
    SchemaCompatibilityType,
)

from pipeline.registry import errors


class CompatibilityLevel(StrEnum):
    NONE = "NONE"
    BACKWARD = "BACKWARD"
    BACKWARD_TRANSITIVE = "BACKWARD_TRANSITIVE"
    FORWARD = "FORWARD"
    FORWARD_TRANSITIVE = "FORWARD_TRANSITIVE"
    FULL = "FULL"
    FULL_TRANSITIVE = "FULL_TRANSITIVE"

    @classmethod
    def parse(cls, value: object) -> CompatibilityLevel:
        """Case-insensitive; anything else is Confluent's 42203."""
        if isinstance(value, str):
            try:
                return cls(value.strip().upper())
            except ValueError:
                pass
        raise errors.invalid_compatibility_level(value)

    @property
    def transitive(self) -> bool:
        return self.value.endswith("_TRANSITIVE")

    @property
    def checks_backward(self) -> bool:
        return self.value.startswith(("BACKWARD", "FULL"))

    @property
    def checks_forward(self) -> bool:
        return self.value.startswith(("FORWARD", "FULL"))


#: Confluent's own default; the voicebus server default is BACKWARD_TRANSITIVE (see server).
CONFLUENT_DEFAULT_LEVEL = CompatibilityLevel.BACKWARD


@dataclass(frozen=True)
class PreviousVersion:
    """A registered, live version the candidate is checked against."""

    version: int
    schema: avro.schema.Schema


def _describe(
    result: SchemaCompatibilityResult, reader_role: str, writer_role: str, within: str = ""
) -> str:
    """One Confluent-style ``{errorType:..., description:..., additionalInfo:...}`` entry.

    The avro checker keeps its messages and locations as sets, so with several problems in
    one pair they are listed together rather than paired one to one.
    """
    kinds = sorted({kind.name.upper() for kind in result.incompatibilities}) or ["INCOMPATIBLE"]
    paths = ", ".join(sorted(result.locations))
    details = "; ".join(sorted(result.messages))
    return (
        f"{{errorType:'{', '.join(kinds)}', description:'{within}{reader_role} cannot read data "
        f"written with {writer_role}: {details} (at path {paths})', additionalInfo:'{details}'}}"
    )


def _named_types(schema: avro.schema.Schema) -> dict[str, avro.schema.Schema]:
    """Every named type (record, enum, fixed) reachable from ``schema``, by full name."""
    found: dict[str, avro.schema.Schema] = {}
    pending = [schema]
    while pending:
        current = pending.pop()
        if isinstance(current, avro.schema.NamedSchema):
            if current.fullname in found:
                continue
            found[current.fullname] = current
        if isinstance(current, avro.schema.RecordSchema):
            pending.extend(field.type for field in current.fields)
        elif isinstance(current, avro.schema.UnionSchema):
            pending.extend(current.schemas)
        elif isinstance(current, avro.schema.ArraySchema):
            pending.append(current.items)
        elif isinstance(current, avro.schema.MapSchema):
            pending.append(current.values)
    return found


def _explain_union_branches(
    reader: avro.schema.Schema, writer: avro.schema.Schema, reader_role: str, writer_role: str
) -> list[str]:
    """Why a union branch did not match: the checker says only "reader union lacking writer
    type: RECORD", so re-run it on the same-named types of both sides to surface the real
    reason (e.g. a field without a default inside one branch record)."""
    reader_types, writer_types = _named_types(reader), _named_types(writer)
    details = []
    for name in sorted(reader_types.keys() & writer_types.keys()):
        result = _check_pair(reader_types[name], writer_types[name])
        kinds = {kind.name for kind in result.incompatibilities}
        if result.compatibility is SchemaCompatibilityType.incompatible and kinds - {
            "missing_union_branch"
        }:
            details.append(_describe(result, reader_role, writer_role, f"in type {name}, "))
    return details


def _check_pair(
    reader: avro.schema.Schema, writer: avro.schema.Schema
) -> SchemaCompatibilityResult:
    return ReaderWriterCompatibilityChecker().get_compatibility(reader=reader, writer=writer)


def check_compatibility(
    candidate: avro.schema.Schema,
    previous: Sequence[PreviousVersion],
    level: CompatibilityLevel,
) -> list[str]:
    """Messages explaining every incompatibility; an empty list means compatible.

    ``previous`` holds the live versions, oldest first.  Non-transitive levels look only at
    the last one, as Confluent does.
    """
    if level is CompatibilityLevel.NONE or not previous:
        return []
    targets = list(previous) if level.transitive else [previous[-1]]
    messages: list[str] = []
    for old in reversed(targets):
        found: list[str] = []
        if level.checks_backward:
            result = _check_pair(reader=candidate, writer=old.schema)
            if result.compatibility is SchemaCompatibilityType.incompatible:
                roles = ("the new schema", f"version {old.version} (old schema)")
                found.append(_describe(result, *roles))
                found.extend(_explain_union_branches(candidate, old.schema, *roles))
        if level.checks_forward:
            result = _check_pair(reader=old.schema, writer=candidate)
            if result.compatibility is SchemaCompatibilityType.incompatible:
                roles = (f"version {old.version} (old schema)", "the new schema")
                found.append(_describe(result, *roles))
                found.extend(_explain_union_branches(old.schema, candidate, *roles))
        if found:
            messages.extend(found)
            messages.append(f"{{oldSchemaVersion: {old.version}}}")
    if messages:
        messages.append(f"{{compatibility: '{level.value}'}}")
    return messages
