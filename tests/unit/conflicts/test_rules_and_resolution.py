"""Conflict rules (YAML) and field-by-field resolution."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime

import fastavro
import pytest

from pipeline.conflicts.resolve import jsonable, merge_values, resolve_all, resolve_field
from pipeline.conflicts.rules import ConflictRules, ConflictRulesError, Rule
from pipeline.schema_catalog import CALL_EVENT_SCHEMA, load_schema

EARLY = datetime(2026, 11, 1, 10, 0, tzinfo=UTC)
LATE = datetime(2026, 11, 1, 11, 0, tzinfo=UTC)

YAML = """
default: manual
targets:
  salesforce:
    default: latest_wins
    Description: merge
    Phone: target_wins
  zendesk:
    fields:
      subject: voice_wins
"""


def test_rules_from_yaml_flat_and_explicit_forms():
    rules = ConflictRules.from_yaml(YAML)
    assert rules.rule_for("salesforce", "Description") is Rule.MERGE
    assert rules.rule_for("salesforce", "Phone") is Rule.TARGET_WINS
    assert rules.rule_for("salesforce", "Title") is Rule.LATEST_WINS  # target default
    assert rules.rule_for("zendesk", "subject") is Rule.VOICE_WINS
    assert rules.rule_for("zendesk", "priority") is Rule.MANUAL  # global default
    assert rules.rule_for("hubspot", "anything") is Rule.MANUAL


def test_rules_file_errors_name_the_entry_and_the_choices(tmp_path):
    with pytest.raises(ConflictRulesError) as err:
        ConflictRules.from_yaml("targets:\n  salesforce:\n    Phone: newest\n", source="c.yaml")
    assert "c.yaml" in str(err.value)
    assert "targets.salesforce.fields.Phone" in str(err.value)
    assert "latest_wins" in str(err.value)
    with pytest.raises(ConflictRulesError, match="not valid YAML"):
        ConflictRules.from_yaml("targets: [unclosed")
    path = tmp_path / "conflicts.yaml"
    path.write_text(YAML)
    assert ConflictRules.load(path).rule_for("salesforce", "Phone") is Rule.TARGET_WINS
    with pytest.raises(ConflictRulesError, match="cannot read"):
        ConflictRules.load(tmp_path / "missing.yaml")


@pytest.mark.parametrize(
    ("rule", "event_at", "target_at", "resolved", "value", "winner"),
    [
        (Rule.TARGET_WINS, LATE, EARLY, True, "t", "target"),
        (Rule.VOICE_WINS, EARLY, LATE, True, "e", "event"),
        (Rule.LATEST_WINS, LATE, EARLY, True, "e", "event"),
        (Rule.LATEST_WINS, EARLY, LATE, True, "t", "target"),
        (Rule.LATEST_WINS, None, LATE, False, None, None),
        (Rule.MERGE, EARLY, LATE, True, "t\n\ne", "merged"),
        (Rule.MANUAL, LATE, EARLY, False, None, None),
    ],
)
def test_each_rule(rule, event_at, target_at, resolved, value, winner):
    r = resolve_field(rule, "f", "e", "t", event_at=event_at, target_at=target_at)
    assert (r.resolved, r.value, r.winner) == (resolved, value, winner)


def test_equal_values_are_no_conflict_even_under_manual():
    r = resolve_field(Rule.MANUAL, "f", "same", "same", event_at=None, target_at=None)
    assert r.resolved and r.value == "same" and r.winner == "equal"


def test_merge_values():
    assert merge_values("a note", "a note\nmore") == (True, "a note\nmore")
    assert merge_values("long text", "text") == (True, "long text")
    assert merge_values(["a", "b"], ["b", "c"]) == (True, ["a", "b", "c"])
    assert merge_values({"a": 1, "b": 1}, {"b": 2}) == (True, {"a": 1, "b": 2})
    assert merge_values(None, "x") == (True, "x")
    assert merge_values(3, 4) == (False, None)
    assert merge_values("3", 4) == (False, None)


def test_resolve_all_uses_per_field_rules_in_event_order():
    rules = ConflictRules.from_yaml(YAML)
    out = resolve_all(
        rules,
        "salesforce",
        {"Phone": "+1", "Description": "new", "Rating": 5},
        {"Phone": "+2", "Description": "old", "Rating": 3},
        event_at=LATE,
        target_at=EARLY,
    )
    assert [(r.field, r.rule, r.value) for r in out] == [
        ("Phone", Rule.TARGET_WINS, "+2"),
        ("Description", Rule.MERGE, "old\n\nnew"),
        ("Rating", Rule.LATEST_WINS, 5),
    ]


def test_jsonable_event_encodes_again_with_the_call_event_schema():
    schema = fastavro.parse_schema(load_schema(CALL_EVENT_SCHEMA))
    event = {
        "event_id": "3f1e9c3e-0000-4000-8000-000000000001",
        "event_type": "call_summary",
        "occurred_at": LATE,
        "tenant_id": "acme",
        "call_id": "call-1",
        "source": "vapi",
        "schema_version": 1,
        "payload": {
            "summary": "wants a callback",
            "sentiment": "NEUTRAL",
            "intents": ["callback"],
            "action_items": [
                {
                    "description": "call back",
                    "owner": None,
                    "due_date": date(2026, 11, 2),
                    "kind": "task",
                }
            ],
            "topics": [],
        },
    }
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, schema, event)
    decoded = fastavro.schemaless_reader(io.BytesIO(buf.getvalue()), schema, None)
    stored = jsonable(decoded)
    assert stored["occurred_at"] == int(LATE.timestamp() * 1000)
    again = io.BytesIO()
    fastavro.schemaless_writer(again, schema, stored)
    assert again.getvalue() == buf.getvalue()


def test_example_file_and_rule_sources(tmp_path, monkeypatch):
    from pipeline.conflicts.setup import EXAMPLE_RULES_FILE, load_conflict_rules

    example = ConflictRules.load(EXAMPLE_RULES_FILE)
    assert example.rule_for("salesforce", "Phone") is Rule.TARGET_WINS
    assert example.rule_for("zendesk", "tags") is Rule.MERGE

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("VOICEBUS_CONFLICTS_FILE", raising=False)
    assert load_conflict_rules() == ConflictRules()  # nothing configured: all manual
    (tmp_path / "conflicts.yaml").write_text("default: voice_wins\n")
    assert load_conflict_rules().default is Rule.VOICE_WINS
    monkeypatch.setenv("VOICEBUS_CONFLICTS_FILE", str(tmp_path / "nope.yaml"))
    with pytest.raises(ConflictRulesError, match="nope.yaml"):
        load_conflict_rules()
