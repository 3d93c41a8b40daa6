"""``voicebus dev up`` (the embedded stack in the foreground) and ``voicebus demo`` (the same
stack on free ports, N simulated calls through it, a summary, then everything stops)."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

import typer
from rich.console import Console
from rich.live import Live

from pipeline.config import Settings
from pipeline.devstack import STOP_REQUESTED


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    """SIGTERM/SIGHUP behave like Ctrl-C: the stack stops in reverse order and the command
    exits.  The flag makes the request stick even where Python swallows the exception."""
    STOP_REQUESTED.set()
    raise KeyboardInterrupt


@contextmanager
def _interrupt_on_term() -> Iterator[None]:
    signals = [signal.SIGTERM, signal.SIGHUP]
    STOP_REQUESTED.clear()
    previous = {sig: signal.signal(sig, _raise_interrupt) for sig in signals}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _log_dir(subdir: str = "") -> Path:
    base = Path(Settings().state_dir) / "logs"
    return base / subdir if subdir else base


def _state_dir(name: str) -> Path:
    return Path(Settings().state_dir) / name


def register(app: typer.Typer) -> None:
    """Add ``dev up`` and ``demo`` to the root app."""
    dev = typer.Typer(help="Run voicebus locally on the embedded (in-memory) broker.")

    @dev.command("up")
    def up(
        port: int = typer.Option(9092, help="Kafka port of the embedded broker."),
        registry_port: int = typer.Option(8081, help="Port of the schema registry."),
        processors: bool = typer.Option(
            True, "--processors/--no-processors", help="Run the processors worker."
        ),
        sinks: bool = typer.Option(
            True, "--sinks/--no-sinks", help="Run one sink (and its sandbox) per target."
        ),
    ) -> None:
        """Start broker, registry, topics+schemas, processors and sinks in the foreground.

        Everything is in memory: Ctrl-C (or SIGTERM) stops all components in reverse order
        and the data is gone.  Logs: .voicebus/logs/."""
        from pipeline.devstack import DevStack, StackError
        from pipeline.devstack_plan import dev_plan
        from pipeline.devstack_ui import StatusPanel

        log_dir = _log_dir()
        stack = DevStack(
            dev_plan(
                broker_port=port,
                registry_port=registry_port,
                processors=processors,
                sinks=sinks,
            ).components,
            log_dir,
            _state_dir("dev"),
        )
        panel = StatusPanel(stack, f"voicebus dev up - logs in {log_dir}")
        console = Console()
        failed_start = False
        with (
            _interrupt_on_term(),
            Live(panel.render(), console=console, refresh_per_second=4) as live,
        ):

            def refresh() -> None:
                live.update(panel.render())

            try:
                try:
                    stack.start(refresh)
                    panel.footer = "running - Ctrl-C stops everything"
                    refresh()
                    while not STOP_REQUESTED.wait(0.5):  # set by SIGTERM/SIGHUP
                        stack.poll()
                        refresh()
                except StackError as exc:
                    failed_start = True
                    panel.footer = f"error: {exc}"
                except KeyboardInterrupt:
                    panel.footer = "stopping ..."
                refresh()
            finally:  # also when a second signal lands between the lines above
                stack.stop(refresh)
            if not failed_start:
                panel.footer = "stopped"
            refresh()
        if failed_start:
            raise typer.Exit(1)

    app.add_typer(dev, name="dev")

    @app.command()
    def demo(
        calls: int = typer.Option(20, min=1, help="How many simulated calls to publish."),
        wait_s: float = typer.Option(
            90.0, min=1.0, help="Longest wait for processors and sinks to catch up."
        ),
        seed: int | None = typer.Option(
            None, help="Seed of the call simulator (same seed, same calls)."
        ),
        strict: bool = typer.Option(
            False, "--strict", help="Also exit 1 when a processor or sink failed or lagged."
        ),
    ) -> None:
        """Run the whole pipeline once on free ports: broker, registry, topics, schemas,
        processors and sinks; publish contacts and CALLS simulated calls; wait until every
        stage caught up; print records per topic and deliveries per target; stop.

        Exits 1 if a simulated event is missing from voice.call-events (with --strict also
        when any component failed)."""
        from pipeline.devstack_demo import run_demo

        try:
            with _interrupt_on_term():
                code = run_demo(
                    calls=calls,
                    wait_s=wait_s,
                    log_dir=_log_dir("demo"),
                    state_dir=_state_dir("demo"),
                    console=Console(),
                    seed=seed,
                    strict=strict,
                )
        except KeyboardInterrupt:  # the stack was stopped on the way out
            code = 130
        if STOP_REQUESTED.is_set():  # terminated, even if the interrupt got swallowed
            code = 130
        if code:
            raise typer.Exit(code)
