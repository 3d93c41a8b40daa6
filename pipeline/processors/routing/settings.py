"""Routing configuration (pydantic-settings, env prefix ``VOICEBUS_``), one model per component
as the rest of the pipeline does: ``VOICEBUS_ROUTES_FILE``, ``VOICEBUS_ROUTES_POLL_INTERVAL_S``,
``VOICEBUS_CONTROL_TOPIC``."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

CONTROL_TOPIC = "_voicebus.control"


class RoutingSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="VOICEBUS_", extra="ignore")

    # Rules file the processors worker routes with and `voicebus routes ...` defaults to.
    routes_file: Path = Path("config/routes.yaml")
    # How often the worker checks the rules file for changes (seconds).
    routes_poll_interval_s: float = Field(default=2.0, gt=0)
    # Broadcast topic for operator commands such as `voicebus routes reload`.
    control_topic: str = Field(default=CONTROL_TOPIC, min_length=1)
