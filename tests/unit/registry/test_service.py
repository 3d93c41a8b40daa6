"""Registry semantics (ids, versions, deletes, configs, error codes) on an in-memory log."""

from __future__ import annotations

import json

import pytest

from pipeline.registry.compat import CompatibilityLevel
from pipeline.registry.errors import RegistryError
from pipeline.registry.service import RegistryService
from pipeline.registry.state import RegistryState
from pipeline.registry.store import MemoryLog


def schema(*fields: dict, name: str = "A") -> str:
    return json.dumps({"type": "record", "name": name, "fields": list(fields)})


X = {"name": "x", "type": "int"}
Y_DEFAULT = {"name": "y", "type": "string", "default": ""}
Y_NO_DEFAULT = {"name": "y", "type": "string"}
V1, V2 = schema(X), schema(X, Y_DEFAULT)


@pytest.fixture
def svc() -> RegistryService:
    return RegistryService(MemoryLog(), CompatibilityLevel.BACKWARD_TRANSITIVE)


def error_code(call, *args) -> int:  # type: ignore[no-untyped-def]
    with pytest.raises(RegistryError) as info:
        call(*args)
    return info.value.error_code


def test_register_is_idempotent_and_ids_are_global(svc: RegistryService) -> None:
    first = svc.register("a", {"schema": V1})
    assert first == {"id": 1}
    assert svc.register("a", {"schema": V1}) == first
    assert svc.list_versions("a") == [1]
    assert svc.register("b", {"schema": V1}) == first  # same schema, other subject
    assert svc.register("a", {"schema": V2}) == {"id": 2}
    assert svc.list_versions("a") == [1, 2]
    assert svc.schema_versions(1) == [
        {"subject": "a", "version": 1},
        {"subject": "b", "version": 1},
    ]
    assert svc.schema_subjects(1) == ["a", "b"]


def test_formatting_and_key_order_do_not_change_identity(svc: RegistryService) -> None:
    svc.register("a", {"schema": V1})
    reordered = '{ "fields": [ {"type": "int", "name": "x"} ],\n "name": "A", "type": "record" }'
    assert svc.register("a", {"schema": reordered, "schemaType": "AVRO"}) == {"id": 1}
    assert svc.lookup("a", {"schema": reordered})["version"] == 1


def test_a_new_default_is_a_new_schema(svc: RegistryService) -> None:
    """Parsing Canonical Form would drop defaults; the registry must not."""
    with_default = schema({"name": "x", "type": "int", "default": 0})
    svc.register("a", {"schema": V1})
    assert svc.register("a", {"schema": with_default}) == {"id": 2}
    assert svc.get_version("a", "latest")["schema"] == with_default


def test_get_version_shapes(svc: RegistryService) -> None:
    svc.register("a", {"schema": V1})
    svc.register("a", {"schema": V2})
    expected = {"subject": "a", "version": 2, "id": 2, "schema": V2}
    assert svc.get_version("a", "latest") == expected
    assert svc.get_version("a", "-1") == expected
    assert svc.get_version("a", "1")["schema"] == V1
    assert svc.get_schema(2) == {"schema": V2}


def test_incompatible_schema_is_409_with_reason(svc: RegistryService) -> None:
    svc.register("a", {"schema": V1})
    with pytest.raises(RegistryError) as info:
        svc.register("a", {"schema": schema(X, Y_NO_DEFAULT)})
    assert info.value.http_status == 409 and info.value.error_code == 409
    assert 'subject "a"' in info.value.message
    assert "READER_FIELD_MISSING_DEFAULT_VALUE" in info.value.message
    assert svc.list_versions("a") == [1]


def test_soft_deleted_versions_are_not_checked(svc: RegistryService) -> None:
    svc.register("a", {"schema": V1})
    svc.register("a", {"schema": V2})
    svc.delete_version("a", "1")
    # Incompatible with v1 only (y has no default): accepted once v1 is soft-deleted.
    assert svc.register("a", {"schema": schema(X, Y_NO_DEFAULT)}) == {"id": 3}
    assert svc.list_versions("a") == [2, 3]
    assert svc.list_versions("a", include_deleted=True) == [1, 2, 3]


def test_subject_delete_lifecycle(svc: RegistryService) -> None:
    svc.register("a", {"schema": V1})
    svc.register("a", {"schema": V2})
    svc.set_config("a", {"compatibility": "FULL"})
    assert error_code(svc.delete_subject, "a", True) == 40405
    assert svc.delete_subject("a") == [1, 2]
    assert svc.list_subjects() == [] and svc.list_subjects(include_deleted=True) == ["a"]
    assert error_code(svc.list_versions, "a") == 40401
    assert error_code(svc.get_version, "a", "latest") == 40401
    assert svc.get_version("a", "1", True)["id"] == 1
    assert error_code(svc.delete_subject, "a") == 40404
    assert svc.get_schema(1) == {"schema": V1}  # ids stay resolvable after a soft delete
    assert svc.delete_subject("a", True) == [1, 2]
    assert svc.list_subjects(include_deleted=True) == []
    assert error_code(svc.get_schema, 1) == 40403
    assert error_code(svc.get_config, "a") == 40408  # subject config went with it
    assert error_code(svc.delete_subject, "a") == 40401


def test_ids_are_not_reused_and_versions_keep_counting(svc: RegistryService) -> None:
    svc.register("a", {"schema": V1})
    svc.delete_subject("a")
    assert svc.register("a", {"schema": V2}) == {"id": 2}
    assert svc.list_versions("a") == [2]
    svc.delete_subject("a")
    svc.delete_subject("a", True)
    assert svc.register("a", {"schema": schema(X, name="B")}) == {"id": 3}


def test_version_delete_lifecycle(svc: RegistryService) -> None:
    svc.register("a", {"schema": V1})
    svc.register("a", {"schema": V2})
    assert error_code(svc.delete_version, "a", "2", True) == 40407
    assert svc.delete_version("a", "latest") == 2
    assert error_code(svc.delete_version, "a", "2") == 40406
    assert error_code(svc.get_version, "a", "2") == 40402
    assert svc.get_version("a", "latest")["version"] == 1
    assert svc.delete_version("a", "2", True) == 2
    assert error_code(svc.get_version, "a", "2", True) == 40402
    assert error_code(svc.delete_version, "a", "7") == 40402
    assert error_code(svc.delete_version, "nope", "1") == 40401


@pytest.mark.parametrize("version", ["0", "abc", "2147483648", "1.5"])
def test_invalid_version_is_42202(svc: RegistryService, version: str) -> None:
    svc.register("a", {"schema": V1})
    assert error_code(svc.get_version, "a", version) == 42202


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"schema": "{not json"}, "not valid JSON"),
        (
            {"schema": schema({"name": "x", "type": "nope"})},
            "nope",
        ),
        ({"schema": schema({"name": "x", "type": "int", "default": "abc"})}, "abc"),
        ({"schema": V1, "schemaType": "PROTOBUF"}, "PROTOBUF"),
        ({"schema": V1, "references": [{"name": "r", "subject": "s", "version": 1}]}, "references"),
        ({}, "'schema' field"),
    ],
)
def test_invalid_schema_is_42201_saying_what_is_wrong(
    svc: RegistryService, body: dict, says: str
) -> None:
    with pytest.raises(RegistryError) as info:
        svc.register("a", body)
    assert info.value.error_code == 42201 and info.value.http_status == 422
    assert says in info.value.message
    assert svc.list_subjects() == []


def test_lookup(svc: RegistryService) -> None:
    svc.register("a", {"schema": V1})
    assert svc.lookup("a", {"schema": V1}) == {"subject": "a", "version": 1, "id": 1, "schema": V1}
    assert error_code(svc.lookup, "a", {"schema": V2}) == 40403
    assert error_code(svc.lookup, "zzz", {"schema": V1}) == 40401
    svc.delete_subject("a")
    assert error_code(svc.lookup, "a", {"schema": V1}) == 40401
    assert svc.lookup("a", {"schema": V1}, True)["version"] == 1


def test_config(svc: RegistryService) -> None:
    assert svc.get_config(None) == {"compatibilityLevel": "BACKWARD_TRANSITIVE"}
    assert svc.set_config(None, {"compatibility": "full"}) == {"compatibility": "FULL"}
    assert svc.get_config(None) == {"compatibilityLevel": "FULL"}
    assert error_code(svc.get_config, "a") == 40408
    assert svc.get_config("a", True) == {"compatibilityLevel": "FULL"}
    svc.set_config("a", {"compatibility": "NONE"})
    assert svc.get_config("a") == {"compatibilityLevel": "NONE"}
    assert svc.level_for("a") is CompatibilityLevel.NONE
    assert svc.delete_config("a") == {"compatibilityLevel": "NONE"}
    assert error_code(svc.delete_config, "never-registered") == 40401
    assert svc.delete_config(None) == {"compatibilityLevel": "FULL"}
    assert svc.get_config(None) == {"compatibilityLevel": "BACKWARD_TRANSITIVE"}
    assert error_code(svc.set_config, None, {"compatibility": "SIDEWAYS"}) == 42203
    assert error_code(svc.set_config, None, {}) == 42203


def test_subject_level_config_decides_registration(svc: RegistryService) -> None:
    svc.register("a", {"schema": V1})
    svc.set_config("a", {"compatibility": "NONE"})
    assert svc.register("a", {"schema": schema(X, Y_NO_DEFAULT)}) == {"id": 2}


def test_test_compatibility(svc: RegistryService) -> None:
    svc.register("a", {"schema": V1})
    svc.register("a", {"schema": V2})
    bad = {"schema": schema(X, Y_NO_DEFAULT)}
    assert svc.test_compatibility("a", "latest", bad) == {"is_compatible": True}
    verdict = svc.test_compatibility("a", "1", bad, verbose=True)
    assert verdict["is_compatible"] is False and verdict["messages"]
    assert svc.test_compatibility("a", None, bad)["is_compatible"] is False  # transitive
    assert svc.test_compatibility("new-subject", "latest", bad) == {"is_compatible": True}
    assert error_code(svc.test_compatibility, "a", "9", bad) == 40402
    assert error_code(svc.test_compatibility, "zzz", "1", bad) == 40401
    assert error_code(svc.test_compatibility, "a", "x", bad) == 42202


def test_state_is_a_function_of_the_log(svc: RegistryService) -> None:
    """What a restarted registry does: replay the same records into fresh state."""
    svc.register("a", {"schema": V1})
    svc.register("a", {"schema": V2})
    svc.register("b", {"schema": V1})
    svc.set_config("b", {"compatibility": "FORWARD"})
    svc.delete_version("a", "1")
    svc.delete_subject("b")
    svc.delete_subject("b", True)
    replayed = RegistryState()
    assert isinstance(svc.log, MemoryLog)
    for key, value in svc.log.records:
        replayed.apply(json.loads(json.dumps(key)), json.loads(json.dumps(value)))
    again = RegistryService(MemoryLog(replayed))
    assert again.list_subjects(include_deleted=True) == ["a"]
    assert again.list_versions("a", include_deleted=True) == [1, 2]
    assert again.list_versions("a") == [2]
    assert again.get_version("a", "2")["id"] == 2
    assert again.state.config("b") is None
    assert again.register("c", {"schema": schema(X, name="C")}) == {"id": 3}


def test_null_values_and_malformed_records_are_tolerated() -> None:
    state = RegistryState()
    state.apply(
        {"keytype": "SCHEMA", "subject": "a", "version": 1, "magic": 1},
        {"subject": "a", "version": 1, "id": 4, "schema": V1, "deleted": False},
    )
    state.apply("garbage", {"x": 1})
    state.apply(
        {"keytype": "SCHEMA", "subject": "a", "version": 2, "magic": 1},
        {"id": 5, "schema": "{broken"},
    )
    state.apply({"keytype": "CONFIG", "subject": None, "magic": 0}, {"compatibilityLevel": "??"})
    state.apply({"keytype": "MODE", "subject": None, "magic": 0}, {"mode": "READONLY"})
    assert [v.version for v in state.versions("a")] == [1]
    assert state.next_id() == 5
    state.apply({"keytype": "SCHEMA", "subject": "a", "version": 1, "magic": 1}, None)
    assert state.subjects(include_deleted=True) == [] and state.schema(4) is None


def test_start_up_markers_are_recognised_by_value() -> None:
    state = RegistryState()
    state.apply({"keytype": "NOOP", "magic": 0}, {"marker": "m1"})
    state.apply({"keytype": "NOOP", "magic": 0}, None)
    assert state.seen_marker("m1") and not state.seen_marker("m2")
    assert state.subjects(include_deleted=True) == []
