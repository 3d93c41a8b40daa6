import pytest
from typer.testing import CliRunner

from pipeline.cli import app


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    for name in ("VOICEBUS_WEBHOOK_URLS", "VOICEBUS_WEBHOOK_SECRETS"):
        monkeypatch.delenv(name, raising=False)
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
