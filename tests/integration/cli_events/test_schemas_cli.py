"""`voicebus schemas register|check` against the project's registry."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.schema_catalog import SCHEMAS_DIR

pytestmark = pytest.mark.integration
runner = CliRunner()


def schemas_copy(tmp_path: Path, unique: str) -> Path:
    """The real schemas under subjects of this test's own."""
    folder = tmp_path / "schemas"
    for path in ("voice/call_event.avsc", "crm/contact.avsc"):
        (folder / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(SCHEMAS_DIR / path, folder / path)
    (folder / "subjects.yaml").write_text(
        f"voice/call_event.avsc: voice.call-events-{unique}-value\n"
        f"crm/contact.avsc: crm.contacts-{unique}-value\n"
    )
    return folder


def edit(folder: Path, path: str, change) -> None:  # type: ignore[no-untyped-def]
    schema = json.loads((folder / path).read_text())
    change(schema)
    (folder / path).write_text(json.dumps(schema))


def payload_record(schema: dict, name: str) -> dict:
    return next(b for b in schema["fields"][-1]["type"] if b["name"] == name)


def run(*args: str):  # type: ignore[no-untyped-def]
    return runner.invoke(app, list(args))


def test_register_then_check_compatible_and_incompatible(
    registry, tmp_path: Path, unique: str
) -> None:  # type: ignore[no-untyped-def]
    folder = schemas_copy(tmp_path, unique)
    common = ["--registry-url", registry.url, "--schemas-dir", str(folder)]

    # nothing registered yet: check passes and says so
    first = run("schemas", "check", *common)
    assert first.exit_code == 0, first.output
    assert "not registered yet" in first.output

    registered = run("schemas", "register", *common)
    assert registered.exit_code == 0, registered.output
    assert f"voice.call-events-{unique}-value" in registered.output
    assert f"crm.contacts-{unique}-value" in registered.output

    same = run("schemas", "check", *common)
    assert same.exit_code == 0, same.output
    assert "INCOMPATIBLE" not in same.output and "compatible" in same.output

    # a compatible evolution: a new optional field with a default
    edit(
        folder,
        "crm/contact.avsc",
        lambda s: s["fields"].append(
            {"name": "language", "type": ["null", "string"], "default": None}
        ),
    )
    evolved = run("schemas", "check", *common)
    assert evolved.exit_code == 0, evolved.output

    # incompatible: duration_s changes type int -> string
    edit(
        folder,
        "voice/call_event.avsc",
        lambda s: payload_record(s, "CallEnded")["fields"][0].update(type="string"),
    )
    broken = run("schemas", "check", *common)
    assert broken.exit_code == 1, broken.output
    assert "INCOMPATIBLE" in broken.output
    assert "voice/call_event.avsc is incompatible" in broken.output
    # the registry's reason is printed
    assert "io.voicebus.voice.CallEnded" in broken.output
    assert "string not compatible with writer type: int" in broken.output

    # and register refuses it too, with a pointer to `check`
    refused = run("schemas", "register", *common)
    assert refused.exit_code == 1
    assert "schemas check" in refused.output


def test_new_field_without_default_is_incompatible(registry, tmp_path: Path, unique: str) -> None:  # type: ignore[no-untyped-def]
    folder = schemas_copy(tmp_path, unique)
    common = ["--registry-url", registry.url, "--schemas-dir", str(folder)]
    assert run("schemas", "register", *common).exit_code == 0
    edit(
        folder,
        "voice/call_event.avsc",
        lambda s: s["fields"].insert(6, {"name": "region", "type": "string"}),
    )
    result = run("schemas", "check", *common)
    assert result.exit_code == 1
    assert "region" in result.output


def test_invalid_avro_and_unreachable_registry_are_clear_errors(
    tmp_path: Path, unique: str
) -> None:
    folder = schemas_copy(tmp_path, unique)
    (folder / "crm/contact.avsc").write_text(
        '{"type": "record", "name": "Contact", "fields": [{"name": "x", "type": "strin"}]}'
    )
    result = run(
        "schemas", "check", "--registry-url", "http://127.0.0.1:9", "--schemas-dir", str(folder)
    )
    assert result.exit_code == 1
    assert "crm/contact.avsc is not a valid Avro schema" in result.output
    good = schemas_copy(tmp_path / "good", unique)
    result = run(
        "schemas", "check", "--registry-url", "http://127.0.0.1:9", "--schemas-dir", str(good)
    )
    assert result.exit_code == 1
    assert "unreachable" in result.output
