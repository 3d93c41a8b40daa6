"""``voicebus sink TARGET``: run the sink of one target (consumer group
``voicebus-sink-<target>`` on ``sync.<target>`` and ``sync.<target>.retry``).

Tuning comes from ``VOICEBUS_SINK_*`` / ``VOICEBUS_SINK_<TARGET>_*`` (see
``pipeline.sinks.settings``); command-line options override them.  SIGTERM/SIGINT drain:
fetching stops, in-flight records finish (up to the drain timeout), offsets are committed.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import typer
from pydantic import ValidationError

from pipeline.config import load_settings


def sink(
    target: str = typer.Argument(..., help="target name, e.g. webhook (sync.<target>)"),
    max_in_flight: int | None = typer.Option(None, help="keys delivered concurrently"),
    mode: str | None = typer.Option(None, help="realtime | batch"),
    batch_size: int | None = typer.Option(None, help="batch mode: records per batch"),
    batch_linger_s: float | None = typer.Option(None, help="batch mode: max wait for a batch"),
    barrier: str | None = typer.Option(None, help="park | skip-ahead | block"),
    max_retry_rounds: int | None = typer.Option(None, help="retry-topic rounds before the DLQ"),
    drain_timeout_s: float | None = typer.Option(None, help="SIGTERM: max wait for in-flight"),
    log_level: str = typer.Option("INFO", help="DEBUG | INFO | WARNING | ERROR"),
) -> None:
    """Deliver sync.TARGET to its target system, in per-call order, until SIGTERM/SIGINT."""
    from pipeline.sinks.app import ConnectorConfigError
    from pipeline.sinks.settings import SinkSettings
    from pipeline.sinks.targets import (
        UnknownTargetError,
        connector_factory,
        describe_missing_config,
    )
    from pipeline.sinks.topics import SinkTopicError

    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    for noisy in ("httpx", "httpx2"):  # one INFO line per HTTP request otherwise
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger().level))
    overrides: dict[str, Any] = {
        name: value
        for name, value in {
            "max_in_flight": max_in_flight,
            "mode": mode,
            "batch_size": batch_size,
            "batch_linger_s": batch_linger_s,
            "barrier": barrier,
            "max_retry_rounds": max_retry_rounds,
            "drain_timeout_s": drain_timeout_s,
        }.items()
        if value is not None
    }
    try:
        connector_factory(target)
    except UnknownTargetError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    try:
        sink_settings = SinkSettings.for_target(target, **overrides)
    except ValidationError as exc:
        typer.echo(f"error: invalid sink settings for {target}:", err=True)
        for error in exc.errors():
            field = ".".join(str(p) for p in error.get("loc", ()))
            typer.echo(
                f"  - {field} (--{field.replace('_', '-')} or "
                f"{SinkSettings.target_prefix(target)}{field.upper()}): {error.get('msg')}",
                err=True,
            )
        raise typer.Exit(2) from None
    settings = load_settings()
    try:
        asyncio.run(_run(target, settings, sink_settings))
    except ValidationError as exc:  # the connector's own settings (URL, secrets ...)
        typer.echo(f"error: {describe_missing_config(target, exc)}", err=True)
        raise typer.Exit(2) from None
    except (SinkTopicError, ConnectorConfigError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


async def _run(target: str, settings: Any, sink_settings: Any) -> None:
    from pipeline.observability import configure_telemetry
    from pipeline.sinks.app import run_sink

    configure_telemetry(f"voicebus-sink-{target}")  # OTLP when OTEL_EXPORTER_OTLP_ENDPOINT set
    await run_sink(target, settings, sink_settings, install_signal_handlers=True)


def register(app: typer.Typer) -> None:
    """Add ``voicebus sink`` to the root app."""
    app.command("sink")(sink)
