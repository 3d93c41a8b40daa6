"""The ``voicebus`` command line.  Each area registers its commands from its own module."""

from __future__ import annotations

import typer

from connectors.servicenow import cli as servicenow_cli
from connectors.slack import commands as slack_commands
from pipeline.cli import (
    conflicts_cmd,
    dev_cmd,
    dlq_cmd,
    events_cmd,
    process_cmd,
    routes_cmd,
    schemas_cmd,
    sink_cmd,
    topics_cmd,
)

app = typer.Typer(
    name="voicebus",
    help="Event-streaming integration hub for voice AI.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)


@app.callback()
def _root() -> None:
    """voicebus: carry voice call events over Kafka to the business systems that need them."""


for _module in (
    dev_cmd,
    events_cmd,
    schemas_cmd,
    topics_cmd,
    process_cmd,
    routes_cmd,
    sink_cmd,
    dlq_cmd,
    conflicts_cmd,
    servicenow_cli,
    slack_commands,
):
    _module.register(app)


@app.command()
def version() -> None:
    """Print the voicebus version."""
    from pipeline import __version__

    typer.echo(f"voicebus {__version__}")


def main() -> None:
    app()
