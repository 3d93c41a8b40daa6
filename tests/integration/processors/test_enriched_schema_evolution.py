"""The enriched schema's `transcript` field is a compatible evolution, checked the way an
operator checks it: `voicebus schemas check` against the project's registry, with the previous
version registered under the subject at FULL_TRANSITIVE (old and new readers both work)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.schema_catalog import load_schema

pytestmark = pytest.mark.integration
ENRICHED = "voice/enriched_call_event.avsc"


def write(folder: Path, schema: dict[str, Any], subject: str) -> None:
    (folder / "voice").mkdir(parents=True, exist_ok=True)
    (folder / ENRICHED).write_text(json.dumps(schema))
    (folder / "subjects.yaml").write_text(f"{ENRICHED}: {subject}\n")


def test_transcript_field_passes_the_registry_check_and_a_required_one_fails(
    registry: Any, tmp_path: Path, unique: str
) -> None:
    runner = CliRunner()
    subject = f"voice.call-events.enriched-{unique}-value"
    folder = tmp_path / "schemas"
    common = ["--registry-url", registry.url, "--schemas-dir", str(folder)]
    current = load_schema(ENRICHED)
    previous = {**current, "fields": [f for f in current["fields"] if f["name"] != "transcript"]}
    assert len(previous["fields"]) == len(current["fields"]) - 1

    write(folder, previous, subject)
    registered = runner.invoke(app, ["schemas", "register", *common])
    assert registered.exit_code == 0, registered.output
    httpx.put(
        f"{registry.url}/config/{subject}", json={"compatibility": "FULL_TRANSITIVE"}
    ).raise_for_status()

    write(folder, current, subject)
    ok = runner.invoke(app, ["schemas", "check", *common])
    assert ok.exit_code == 0, ok.output
    assert "FULL_TRANSITIVE" in ok.output and "INCOMPATIBLE" not in ok.output

    required = json.loads(json.dumps(current))
    field = next(f for f in required["fields"] if f["name"] == "transcript")
    field["type"] = field["type"][1]  # the record itself: required, no default
    del field["default"]
    write(folder, required, subject)
    broken = runner.invoke(app, ["schemas", "check", *common])
    assert broken.exit_code == 1, broken.output
    assert "INCOMPATIBLE" in broken.output and "transcript" in broken.output
