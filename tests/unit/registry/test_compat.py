"""Every compatibility level's accept/reject decision on small schema histories."""

from __future__ import annotations

import json

import avro.schema
import pytest

from pipeline.registry.compat import CompatibilityLevel, PreviousVersion, check_compatibility
from pipeline.registry.errors import RegistryError


def record(*fields: dict) -> avro.schema.Schema:
    return avro.schema.parse(json.dumps({"type": "record", "name": "A", "fields": list(fields)}))


X = {"name": "x", "type": "int"}
Y_NO_DEFAULT = {"name": "y", "type": "string"}
Y_DEFAULT = {"name": "y", "type": "string", "default": ""}
X_AS_STRING = {"name": "x", "type": "string"}

# name: (history oldest first, candidate)
CASES = {
    "add_field_with_default": ([record(X)], record(X, Y_DEFAULT)),
    "add_field_without_default": ([record(X)], record(X, Y_NO_DEFAULT)),
    "remove_field_without_default": ([record(X, Y_NO_DEFAULT)], record(X)),
    "change_field_type": ([record(X)], record(X_AS_STRING)),
    # Only the oldest version breaks: transitive levels reject, plain ones accept.
    "backward_break_with_oldest_only": (
        [record(X), record(X, Y_DEFAULT)],
        record(X, Y_NO_DEFAULT),
    ),
    "forward_break_with_oldest_only": (
        [record(X, Y_NO_DEFAULT), record(X, Y_DEFAULT)],
        record(X),
    ),
}

L = CompatibilityLevel
ACCEPTED = {
    "add_field_with_default": set(L),
    "add_field_without_default": {L.NONE, L.FORWARD, L.FORWARD_TRANSITIVE},
    "remove_field_without_default": {L.NONE, L.BACKWARD, L.BACKWARD_TRANSITIVE},
    "change_field_type": {L.NONE},
    "backward_break_with_oldest_only": {
        L.NONE, L.BACKWARD, L.FORWARD, L.FORWARD_TRANSITIVE, L.FULL,
    },
    "forward_break_with_oldest_only": {
        L.NONE, L.BACKWARD, L.BACKWARD_TRANSITIVE, L.FORWARD, L.FULL,
    },
}  # fmt: skip


@pytest.mark.parametrize("level", list(CompatibilityLevel), ids=str)
@pytest.mark.parametrize("case", list(CASES))
def test_level_accepts_or_rejects(case: str, level: CompatibilityLevel) -> None:
    history, candidate = CASES[case]
    previous = [PreviousVersion(i + 1, s) for i, s in enumerate(history)]
    problems = check_compatibility(candidate, previous, level)
    expected_ok = level in ACCEPTED[case]
    assert (problems == []) is expected_ok, problems
    if not expected_ok:
        assert problems[-1] == f"{{compatibility: '{level.value}'}}"


def test_message_names_field_version_and_direction() -> None:
    problems = check_compatibility(
        record(X, Y_NO_DEFAULT), [PreviousVersion(1, record(X))], L.BACKWARD
    )
    assert "READER_FIELD_MISSING_DEFAULT_VALUE" in problems[0]
    assert "the new schema cannot read data written with version 1" in problems[0]
    assert "additionalInfo:'y'" in problems[0]
    assert "/fields/1" in problems[0]
    assert "{oldSchemaVersion: 1}" in problems


def test_forward_message_names_the_old_schema_as_reader() -> None:
    problems = check_compatibility(
        record(X), [PreviousVersion(3, record(X, Y_NO_DEFAULT))], L.FORWARD
    )
    assert "version 3 (old schema) cannot read data written with the new schema" in problems[0]


def test_transitive_reports_every_broken_version() -> None:
    history = [record(X), record(X)]
    problems = check_compatibility(
        record(X_AS_STRING),
        [PreviousVersion(i + 1, s) for i, s in enumerate(history)],
        L.BACKWARD_TRANSITIVE,
    )
    assert "{oldSchemaVersion: 1}" in problems and "{oldSchemaVersion: 2}" in problems


def test_no_history_is_always_compatible() -> None:
    assert check_compatibility(record(X), [], L.FULL_TRANSITIVE) == []


@pytest.mark.parametrize("text", ["backward", "FULL_transitive", " none "])
def test_level_parse_is_case_insensitive(text: str) -> None:
    assert CompatibilityLevel.parse(text).value == text.strip().upper()


@pytest.mark.parametrize("bad", ["SIDEWAYS", "", None, 3])
def test_level_parse_rejects_unknown_with_42203(bad: object) -> None:
    with pytest.raises(RegistryError) as info:
        CompatibilityLevel.parse(bad)
    assert info.value.error_code == 42203 and info.value.http_status == 422
    assert "backward_transitive" in info.value.message
