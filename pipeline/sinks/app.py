"""Assemble and run a complete sink for one target (what ``voicebus sink TARGET`` runs).

connector (``connectors/<target>/sink.py``) + sync ledger (``KafkaLedger``) + resilience
(``TargetResilience`` from the connector's ``resilience`` settings) -> ``Deliverer`` ->
``SinkRuntime``.  Everything started here is closed here, also on errors.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from typing import Any

from pydantic import ValidationError

from pipeline.config import Settings
from pipeline.observability import SinkMetrics
from pipeline.sinks.runtime import SinkRuntime
from pipeline.sinks.settings import SinkSettings
from pipeline.sinks.targets import connector_factory

log = logging.getLogger(__name__)


class ConnectorConfigError(RuntimeError):
    """The connector's configuration loads but is unusable (bad template, key ...)."""


async def run_sink(
    target: str,
    settings: Settings,
    sink: SinkSettings | None = None,
    *,
    install_signal_handlers: bool = False,
    runtime_ready: asyncio.Future[SinkRuntime] | None = None,
) -> None:
    """Run until SIGTERM/SIGINT (when ``install_signal_handlers``) or until the runtime
    handed to ``runtime_ready`` is stopped."""
    from pipeline.conflicts.setup import conflict_handler_for
    from pipeline.resilience.target import ResilienceSettings
    from pipeline.sinks.delivery import make_deliverer
    from pipeline.sinks.ledger import KafkaLedger

    factory = connector_factory(target)
    try:
        connector = factory()
    except ValidationError:
        raise  # missing/invalid settings: the CLI names the environment variables
    except ValueError as exc:  # e.g. a template or private key that does not load
        raise ConnectorConfigError(f"connector {target!r} cannot start: {exc}") from None
    metrics = SinkMetrics(target)
    resilience_settings: Any = getattr(connector, "resilience_settings", None) or getattr(
        getattr(connector, "settings", None), "resilience", None
    )
    if not isinstance(resilience_settings, ResilienceSettings):
        resilience_settings = None
    ledger = KafkaLedger(settings, target)
    try:
        await ledger.start()
        # make_deliverer hands the token bucket to connectors that read rate-limit headers;
        # conflicts go through the configured rules (manual ones to sync.conflicts).
        deliverer = make_deliverer(
            connector,
            ledger,
            metrics=metrics,
            conflict_handler=conflict_handler_for(settings, target),
            settings=resilience_settings,
        )
        bind_ledger = getattr(connector, "bind_ledger", None)
        if callable(bind_ledger):  # connectors keeping per-call state (Slack thread ts)
            bind_ledger(ledger)
        runtime = SinkRuntime(
            target,
            deliverer,
            settings=settings,
            sink=sink or SinkSettings.for_target(target),
            connector_name=type(connector).__name__,
            connector_version=getattr(connector, "version", "0.1.0"),
            metrics_=metrics,
        )
        if install_signal_handlers:
            loop = asyncio.get_running_loop()
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(signum, _on_signal, runtime, signum)
        if runtime_ready is not None and not runtime_ready.done():
            runtime_ready.set_result(runtime)
        await runtime.run()
    finally:
        with contextlib.suppress(Exception):
            await ledger.close()
        with contextlib.suppress(Exception):
            await connector.aclose()


def _on_signal(runtime: SinkRuntime, signum: int) -> None:
    log.warning(
        "sink %s: %s received, draining (up to %.0fs)",
        runtime.target,
        signal.Signals(signum).name,
        runtime.sink.drain_timeout_s,
    )
    runtime.stop()
