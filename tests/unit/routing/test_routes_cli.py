"""`voicebus routes validate|test|reload` through typer's CliRunner (no broker needed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from pipeline.cli import routes_cmd

REPO = Path(__file__).resolve().parents[3]
RULES = REPO / "config" / "routes.yaml"

runner = CliRunner()


@pytest.fixture
def app() -> typer.Typer:
    root = typer.Typer()

    @root.callback()
    def _root() -> None:
        """test root"""

    routes_cmd.register(root)
    return root


def write_event(tmp_path: Path, event: dict, name: str = "event.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(event))
    return path


NEGATIVE_SUMMARY = {
    "event_id": "6f1f6f0e-3b1a-4d7e-9c38-2f0d5c6a1b11",
    "event_type": "call_summary",
    "occurred_at": "2026-11-24T21:00:00Z",
    "tenant_id": "acme",
    "call_id": "call-1",
    "source": "twilio",
    "schema_version": 1,
    "payload": {
        "summary": "Caller is upset about a double charge.",
        "sentiment": "NEGATIVE",
        "intents": ["complaint"],
        "action_items": [],
        "topics": [],
    },
}


def test_routes_test_prints_the_firing_rules_topics_and_redaction(app, tmp_path):
    event = write_event(tmp_path, NEGATIVE_SUMMARY)

    result = runner.invoke(app, ["routes", "test", str(event), "--rules", str(RULES)])

    assert result.exit_code == 0, result.output
    out = result.output
    for expected in (
        "slack-negative-summary",
        "sync.slack",
        "post_summary",
        "#support",
        "zendesk-complaint",
        "sync.zendesk",
        "open_ticket",
        "salesforce-log-call",
        "sync.salesforce",
        "log_call",
        "standard",
    ):
        assert expected in out
    # the gmail rule does not fire, and the evaluation table says why
    assert "sync.gmail" not in out
    assert "gmail-follow-up" in out
    assert "contain none of ['callback_request', 'follow_up']" in out


def test_routes_test_accepts_enriched_events_with_epoch_ms_and_avro_json_unions(app, tmp_path):
    event = dict(NEGATIVE_SUMMARY)
    event["occurred_at"] = 1795000000000
    event["payload"] = {
        "io.voicebus.voice.CallSummary": {
            **NEGATIVE_SUMMARY["payload"],
            "sentiment": "POSITIVE",
            "intents": ["follow_up"],
        }
    }
    event["customer"] = {"matched": True, "ambiguous": False, "match": None, "candidates": []}
    event["call"] = {"complete": True}
    path = write_event(tmp_path, event)

    result = runner.invoke(app, ["routes", "test", str(path), "--rules", str(RULES)])

    assert result.exit_code == 0, result.output
    assert "gmail-follow-up" in result.output and "sync.gmail" in result.output
    assert "sync.slack" not in result.output


def test_routes_test_says_when_nothing_fires(app, tmp_path):
    event = {**NEGATIVE_SUMMARY, "event_type": "call_started", "payload": {"direction": "INBOUND"}}
    path = write_event(tmp_path, event)

    result = runner.invoke(app, ["routes", "test", str(path), "--rules", str(RULES)])

    assert result.exit_code == 0
    assert "No rule fires" in result.output


def test_routes_test_default_rules_file_comes_from_the_environment(app, tmp_path, monkeypatch):
    rules = tmp_path / "only-teams.yaml"
    rules.write_text(
        "version: 1\nrules:\n  - name: everything-to-teams\n"
        "    then: [{target: teams, operation: post_summary}]\n"
    )
    monkeypatch.setenv("VOICEBUS_ROUTES_FILE", str(rules))

    result = runner.invoke(app, ["routes", "test", str(write_event(tmp_path, NEGATIVE_SUMMARY))])

    assert result.exit_code == 0, result.output
    assert "everything-to-teams" in result.output and "sync.teams" in result.output
    assert "sync.slack" not in result.output


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "invalid JSON"),
        (json.dumps({**NEGATIVE_SUMMARY, "event_type": "call_paused"}), "call_paused"),
        (json.dumps({**NEGATIVE_SUMMARY, "occurred_at": "yesterday"}), "ISO 8601"),
        (json.dumps([1, 2]), "JSON object"),
    ],
)
def test_routes_test_rejects_bad_event_files(app, tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_text(content)

    result = runner.invoke(app, ["routes", "test", str(path), "--rules", str(RULES)])

    assert result.exit_code == 1
    assert message in result.output


def test_validate_ok_and_invalid(app, tmp_path):
    ok = runner.invoke(app, ["routes", "validate", str(RULES)])
    assert ok.exit_code == 0, ok.output
    assert "4 enabled rules" in ok.output

    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "version: 1\nrules:\n  - name: x\n    then:\n      - target: sms\n        operation: send\n"
    )
    result = runner.invoke(app, ["routes", "validate", str(bad)])
    assert result.exit_code == 1
    assert f"{bad}:5: rules[0] 'x' then[0].target: unknown target 'sms'" in result.output


def test_reload_refuses_an_invalid_file_before_contacting_any_broker(app, tmp_path, monkeypatch):
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nrules:\n  - name: x\n    then: [{target: sms, operation: send}]\n")
    # an unreachable broker: reaching it would hang or fail differently
    monkeypatch.setenv("VOICEBUS_BOOTSTRAP_SERVERS", "127.0.0.1:1")

    result = runner.invoke(app, ["routes", "reload", "--rules", str(bad)])

    assert result.exit_code == 1
    assert "unknown target 'sms'" in result.output
    assert "reload sent" not in result.output


def test_routes_is_registered_on_the_root_cli():
    from pipeline.cli import app as root_app

    result = runner.invoke(root_app, ["routes", "--help"])

    assert result.exit_code == 0
    for command in ("validate", "test", "reload"):
        assert command in result.output


def test_routes_test_can_show_the_redacted_payload_per_target(app, tmp_path):
    event = dict(NEGATIVE_SUMMARY)
    event["payload"] = {
        **NEGATIVE_SUMMARY["payload"],
        "summary": "Card 4111 1111 1111 1111 and mail jane@example.com",
    }
    path = write_event(tmp_path, event)

    result = runner.invoke(
        app, ["routes", "test", str(path), "--rules", str(RULES), "--show-payload"]
    )

    assert result.exit_code == 0, result.output
    slack_part = result.output.split("sync.slack (")[1].split("sync.zendesk (")[0]
    salesforce_part = result.output.split("sync.salesforce (")[1]
    assert "Card [CARD ****1111] and mail [EMAIL]" in slack_part
    assert "Card 4111 1111 1111 1111 and mail jane@example.com" in salesforce_part


def test_reload_with_an_unreachable_broker_fails_clearly(app, monkeypatch):
    monkeypatch.setenv("VOICEBUS_BOOTSTRAP_SERVERS", "127.0.0.1:1")
    monkeypatch.setenv("VOICEBUS_REQUEST_TIMEOUT_S", "1")

    result = runner.invoke(app, ["routes", "reload", "--rules", str(RULES)])

    assert result.exit_code == 1
    assert "reload not sent" in result.output
    assert "could not create the control topic '_voicebus.control' on 127.0.0.1:1" in result.output
