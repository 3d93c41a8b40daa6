"""Both connectors are found by the sink runtime (``voicebus sink slack|teams``), read their
settings from the environment, and the slash-command CLI registers."""

from __future__ import annotations

import typer
from typer.testing import CliRunner

from connectors.slack.commands import register
from connectors.slack.sink import SlackConnector
from connectors.teams.sink import TeamsConnector
from pipeline.sinks.targets import connector_factory, known_targets


async def test_targets_are_registered_and_configured_from_env(monkeypatch):
    assert {"slack", "teams"} <= set(known_targets())
    monkeypatch.setenv("VOICEBUS_SLACK_BOT_TOKEN", "xoxb-env")
    monkeypatch.setenv("VOICEBUS_SLACK_OPERATORS", "U1,U2")
    monkeypatch.setenv("VOICEBUS_TEAMS_WEBHOOKS", '{"support": "https://x.example/hook?sig=S"}')
    slack = connector_factory("slack")()
    teams = connector_factory("teams")()
    try:
        assert isinstance(slack, SlackConnector) and isinstance(teams, TeamsConnector)
        assert slack.settings.operators == ["U1", "U2"]
        assert slack.settings.bot_token.get_secret_value() == "xoxb-env"
        assert teams.settings.channels() == ["support"]
    finally:
        await slack.aclose()
        await teams.aclose()


def test_serve_commands_is_a_cli_command():
    app = typer.Typer()

    @app.callback()
    def _root() -> None:
        """root"""

    register(app)
    result = CliRunner().invoke(app, ["slack", "serve-commands", "--help"])
    assert result.exit_code == 0, result.output
    assert "--port" in result.output
