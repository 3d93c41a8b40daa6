"""``voicebus process``: run the stream processors worker (faust app "voicebus-processors")."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""

    @app.command("process")
    def process(
        workdir: Path = typer.Option(
            Path(".voicebus/processors"), "--workdir", help="faust data directory"
        ),
        web_port: int = typer.Option(
            0, "--web-port", help="serve faust's web views on this port (0: no web server)"
        ),
        routes: Path | None = typer.Option(
            None,
            "--routes",
            help="routing rules file (default: VOICEBUS_ROUTES_FILE / config/routes.yaml "
            "when it exists)",
        ),
        no_routing: bool = typer.Option(
            False, "--no-routing", help="enrich only; write nothing to sync.<target>"
        ),
        loglevel: str = typer.Option("info", "--loglevel"),
    ) -> None:
        """Enrich voice.call-events into voice.call-events.enriched and route to sync.<target>.

        Runs in the foreground until Ctrl-C / SIGTERM.  Connection settings come from
        VOICEBUS_* (VOICEBUS_BOOTSTRAP_SERVERS, VOICEBUS_SCHEMA_REGISTRY_URL,
        VOICEBUS_PROFILE=dev for the embedded broker)."""
        from pipeline.config import load_settings
        from pipeline.observability import configure_telemetry
        from pipeline.processors.worker import create_processors, load_router, run_worker

        settings = load_settings()
        configure_telemetry("voicebus-processors")  # OTLP when OTEL_EXPORTER_OTLP_ENDPOINT set
        routes_file: Path | None = None
        if not no_routing:
            if routes is not None:
                if not routes.is_file():
                    typer.echo(f"error: routes file {routes} does not exist", err=True)
                    raise typer.Exit(2)
                routes_file = routes
            else:
                from pipeline.processors.routing import RoutingSettings

                default = RoutingSettings().routes_file
                if default.is_file():
                    routes_file = default
                else:
                    typer.echo(
                        f"note: no routes file at {default}; enriching without routing "
                        "(pass --routes FILE)",
                        err=True,
                    )
        try:
            router = load_router(routes_file)
            processors = create_processors(
                settings,
                router=router,
                workdir=workdir,
                web_port=web_port or None,
            )
        except Exception as exc:  # a clear message instead of a traceback at start-up
            typer.echo(f"error: cannot start the processors: {exc}", err=True)
            raise typer.Exit(1) from None
        run_worker(processors, loglevel=loglevel)
