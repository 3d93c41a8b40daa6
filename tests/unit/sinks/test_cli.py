import pytest
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.observability import configure_telemetry


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    for name in ("VOICEBUS_WEBHOOK_URLS", "VOICEBUS_WEBHOOK_SECRETS"):
        monkeypatch.delenv(name, raising=False)
    # telemetry is installed once per process: a sink command that gets far enough installs
    # it without in-memory exporters, which left later tests of this process (run in one
    # pytest session) without the exporters they read; install the in-memory one first
    configure_telemetry(in_memory=True)
    return CliRunner()


def test_unknown_target_names_the_known_ones(runner: CliRunner) -> None:
    result = runner.invoke(app, ["sink", "salesfarce"])
    assert result.exit_code == 2
    assert "unknown sink target 'salesfarce'" in result.output
    assert "webhook" in result.output


def test_missing_connector_config_names_the_env_vars(runner: CliRunner) -> None:
    result = runner.invoke(app, ["sink", "webhook"])
    assert result.exit_code == 2
    assert "VOICEBUS_WEBHOOK_URLS is required but not set" in result.output
    assert "VOICEBUS_WEBHOOK_SECRETS is required but not set" in result.output


def test_bad_sink_setting_names_option_and_env_var(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VOICEBUS_SINK_WEBHOOK_MAX_IN_FLIGHT", "0")
    result = runner.invoke(app, ["sink", "webhook"])
    assert result.exit_code == 2
    assert "VOICEBUS_SINK_WEBHOOK_MAX_IN_FLIGHT" in result.output
    assert "--max-in-flight" in result.output


def test_bad_template_stops_the_sink_with_file_and_line(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    from pathlib import Path

    source = Path(__file__).resolve().parents[3] / "config" / "templates"
    for f in source.iterdir():
        (tmp_path / f.name).write_text(f.read_text())
    (tmp_path / "call-follow-up.body.txt").write_text("Hello\nSee ${no_such_placeholder}\n")
    for name, value in {
        "VOICEBUS_GMAIL_CLIENT_ID": "id",
        "VOICEBUS_GMAIL_CLIENT_SECRET": "secret",
        "VOICEBUS_GMAIL_REFRESH_TOKEN": "refresh",
        "VOICEBUS_GMAIL_TEMPLATE_DIR": str(tmp_path),
    }.items():
        monkeypatch.setenv(name, value)
    result = runner.invoke(app, ["sink", "gmail"])
    assert result.exit_code == 2
    assert "connector 'gmail' cannot start" in result.output
    assert "call-follow-up.body.txt" in result.output and ":2" in result.output
    assert "no_such_placeholder" in result.output
    assert "Traceback" not in result.output
