"""``voicebus servicenow poll-resolutions``: run the resolution poller (see ``poller``).

Registered from ``pipeline/cli/__init__.py`` with ``servicenow_cli.register(app)`` where
``servicenow_cli`` is this module (one line next to the other areas' modules).
"""

from __future__ import annotations

import asyncio
import logging
import signal

import typer
from pydantic import ValidationError


def poll_resolutions(
    once: bool = typer.Option(False, help="poll once and exit (e.g. from cron)"),
    interval_s: float | None = typer.Option(None, help="seconds between polls"),
    state_file: str | None = typer.Option(None, help="watermark + published ids (JSON)"),
    log_level: str = typer.Option("INFO", help="DEBUG | INFO | WARNING | ERROR"),
) -> None:
    """Publish incident_resolved / incident_closed business events for incidents voicebus
    opened, with time-to-resolve, to business.events."""
    from connectors.servicenow.config import ServiceNowSettings
    from connectors.servicenow.poller import (
        KafkaBusinessEventPublisher,
        PollerStateFile,
        ResolutionPoller,
    )
    from connectors.servicenow.sink import ServiceNowConnector
    from pipeline.config import load_settings
    from pipeline.observability import configure_telemetry
    from pipeline.sinks.targets import describe_missing_config

    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)
    try:
        sn = ServiceNowSettings()
    except ValidationError as exc:
        typer.echo(describe_missing_config("servicenow", exc), err=True)
        raise typer.Exit(2) from None
    configure_telemetry("voicebus-servicenow-poller")
    settings = load_settings()

    async def main() -> None:
        connector = ServiceNowConnector(sn)
        publisher = KafkaBusinessEventPublisher(settings)
        poller = ResolutionPoller(
            connector.client,
            publisher,
            PollerStateFile(state_file or sn.poller_state_path),
            tenant_id=sn.tenant_id,
        )
        try:
            if once:
                events = await poller.poll_once()
                typer.echo(f"published {len(events)} resolution event(s)")
                return
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            await poller.run(interval_s or sn.poll_interval_s, stop)
        finally:
            publisher.close()
            await connector.aclose()

    asyncio.run(main())


def register(app: typer.Typer) -> None:
    group = typer.Typer(help="ServiceNow connector tools.", no_args_is_help=True)
    group.command("poll-resolutions")(poll_resolutions)
    app.add_typer(group, name="servicenow")
