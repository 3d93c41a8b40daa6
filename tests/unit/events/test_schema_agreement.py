"""The pydantic models and the .avsc files describe the same records, field for field."""

from __future__ import annotations

import copy

import pytest

from pipeline.schema_catalog import load_schema, subjects
from tests.unit.events.avro_model_check import all_models, avro_records, schema_mismatches


@pytest.mark.parametrize("path", ["voice/call_event.avsc", "crm/contact.avsc"])
def test_every_record_agrees_with_its_model(path: str) -> None:
    assert schema_mismatches(load_schema(path)) == []


def test_every_subject_schema_is_checked_and_every_model_has_a_record() -> None:
    records: set[str] = set()
    for path in subjects():
        records |= set(avro_records(load_schema(path)))
    # the two files mirrored by pipeline.events hold exactly the models' records
    assert set(all_models()) <= records
    assert {"io.voicebus.voice.CallEvent", "io.voicebus.crm.Contact"} <= records


def _call_event_record(schema: dict, name: str) -> dict:
    for branch in schema["fields"][-1]["type"]:
        if branch["name"] == name:
            return branch
    raise KeyError(name)


def test_the_comparison_detects_drift() -> None:
    """Each kind of drift is reported: type, default, a field only on one side, enum."""
    schema = copy.deepcopy(load_schema("voice/call_event.avsc"))
    ended = _call_event_record(schema, "CallEnded")
    ended["fields"][0]["type"] = "string"  # duration_s int -> string
    started = _call_event_record(schema, "CallStarted")
    del started["fields"][-1]["default"]  # language loses its default
    started["fields"][0]["type"]["symbols"].append("INTERNAL")  # enum symbol added
    recording = _call_event_record(schema, "RecordingAvailable")
    recording["fields"].append({"name": "size_bytes", "type": "long"})
    summary = _call_event_record(schema, "CallSummary")
    summary["fields"][2]["default"] = ["other"]  # intents default differs
    problems = "\n".join(schema_mismatches(schema))
    assert "CallEnded.duration_s: Avro type ('str',)" in problems
    assert "CallStarted.language: model default" in problems
    assert "CallStarted.direction" in problems and "INTERNAL" in problems
    assert "RecordingAvailable: fields" in problems and "size_bytes" in problems
    assert "CallSummary.intents: default" in problems


def test_logical_types_and_optional_unions_are_compared() -> None:
    schema = copy.deepcopy(load_schema("crm/contact.avsc"))
    fields = {f["name"]: f for f in schema["fields"]}
    fields["updated_at"]["type"] = "long"  # timestamp-millis dropped
    fields["email"]["type"] = "string"  # no longer optional
    fields["email"].pop("default")
    problems = "\n".join(schema_mismatches(schema))
    assert "Contact.updated_at: Avro type ('int',)" in problems
    assert "Contact.email: Avro type ('str',)" in problems
    assert "Contact.email: model default" in problems


def test_records_copied_into_other_schemas_match_the_models_too() -> None:
    """Other schemas (e.g. the enriched event) embed the payload records under the same
    names; a copy that drifts from the models would break consumers decoding with them."""
    from tests.unit.events.avro_model_check import mismatches

    models = all_models()
    checked = 0
    for path in subjects():
        for full, record in avro_records(load_schema(path)).items():
            if full in models:
                assert mismatches(record, models[full]) == [], path
                checked += 1
    assert checked >= len(models)
