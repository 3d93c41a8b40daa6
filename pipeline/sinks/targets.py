"""Which targets a sink can run: every ``connectors/<target>/sink.py`` with a factory.

Contract for a connector package: ``connectors/<target>/sink.py`` defines

    def create_connector() -> Connector

which reads the connector's own settings from the environment (``ConnectorSettings``
subclass, env prefix ``VOICEBUS_<TARGET>_``) and returns a ready connector.  Missing
configuration raises pydantic's ``ValidationError``; ``describe_missing_config`` turns it into
env var names.
The connector may expose ``resilience_settings`` (or ``settings.resilience``), a
``ResilienceSettings`` with its per-target retry, rate limit and breaker tuning.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from types import ModuleType
from typing import Any

from pydantic import ValidationError

import connectors
from connectors.base.connector import Connector

FACTORY = "create_connector"


class UnknownTargetError(LookupError):
    """No connector package provides a sink for this target."""


def known_targets() -> list[str]:
    """Targets with a ``connectors/<target>/sink.py`` exposing ``create_connector``."""
    found: list[str] = []
    for info in pkgutil.iter_modules(connectors.__path__):
        if not info.ispkg or info.name == "base":
            continue
        module = _sink_module(info.name)
        if module is not None and callable(getattr(module, FACTORY, None)):
            found.append(info.name)
    return sorted(found)


def _sink_module(target: str) -> ModuleType | None:
    try:
        return importlib.import_module(f"connectors.{target}.sink")
    except ModuleNotFoundError as exc:
        if exc.name in (f"connectors.{target}", f"connectors.{target}.sink"):
            return None
        raise


def connector_factory(target: str) -> Callable[[], Connector]:
    module = _sink_module(target) if target.replace("_", "").isalnum() else None
    factory = getattr(module, FACTORY, None) if module is not None else None
    if not callable(factory):
        known = ", ".join(known_targets()) or "none installed"
        raise UnknownTargetError(
            f"unknown sink target {target!r}; known targets: {known} "
            f"(a target needs connectors/<target>/sink.py with {FACTORY}())"
        )
    return factory


def describe_missing_config(target: str, exc: ValidationError) -> str:
    """``ValidationError`` of a connector's settings as 'set VOICEBUS_<TARGET>_<FIELD>'."""
    prefix = _env_prefix(exc) or f"VOICEBUS_{target.upper()}_"
    lines = [f"sink {target!r} is not configured:"]
    for error in exc.errors():
        loc = "__".join(str(part) for part in error.get("loc", ()))
        env = f"{prefix}{loc.upper()}" if loc else prefix.rstrip("_")
        if error.get("type") == "missing":
            lines.append(f"  - {env} is required but not set")
        else:
            lines.append(f"  - {env} is invalid: {error.get('msg')}")
    return "\n".join(lines)


def _env_prefix(exc: ValidationError) -> str | None:
    """Env prefix of the settings class that failed, looked up by its title."""
    title = exc.title

    def walk(cls: type[Any]) -> str | None:
        for sub in cls.__subclasses__():
            if sub.__name__ == title:
                prefix = sub.model_config.get("env_prefix")
                return str(prefix) if prefix else None
            hit = walk(sub)
            if hit:
                return hit
        return None

    from connectors.base.connector import ConnectorSettings

    return walk(ConnectorSettings)
