"""Sink runtime settings (one pydantic-settings model, karapace style).

Resolution, lowest to highest priority:

1. defaults below;
2. ``VOICEBUS_SINK_<FIELD>`` — applies to every target (e.g. ``VOICEBUS_SINK_MAX_IN_FLIGHT=64``);
3. ``VOICEBUS_SINK_<TARGET>_<FIELD>`` — one target only, ``<TARGET>`` upper-cased with ``-``
   and ``.`` turned into ``_`` (e.g. ``VOICEBUS_SINK_WEBHOOK_MODE=batch``);
4. explicit keyword overrides passed to :meth:`SinkSettings.for_target`.

List fields take JSON (``VOICEBUS_SINK_RETRY_DELAYS_S='[1, 5, 30]'``).
"""

from __future__ import annotations

import os
import re
from enum import StrEnum
from typing import Any

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

GENERIC_PREFIX = "VOICEBUS_SINK_"


class DeliveryMode(StrEnum):
    REALTIME = "realtime"  # one Deliverer.deliver_record call per record
    BATCH = "batch"  # Deliverer.deliver_batch over up to batch_size records / batch_linger_s


class BarrierPolicy(StrEnum):
    """What later records of a key do while an earlier one waits in retry or the DLQ."""

    PARK = "park"  # park them behind it (retry topic), release in order when it is delivered
    SKIP_AHEAD = "skip-ahead"  # deliver them anyway (order across the failure is not kept)
    BLOCK = "block"  # retry the failed record in place; its partition waits (no retry topic)


class SinkSettings(BaseSettings):
    """Tuning of one ``voicebus sink TARGET`` process."""

    model_config = SettingsConfigDict(env_prefix=GENERIC_PREFIX, extra="ignore")

    max_in_flight: int = Field(default=64, ge=1, description="keys delivered concurrently")
    max_buffered: int = Field(
        default=2_000, ge=1, description="records fetched but unfinished before fetching pauses"
    )
    mode: DeliveryMode = DeliveryMode.REALTIME
    batch_size: int = Field(default=50, ge=1)
    batch_linger_s: float = Field(default=0.2, ge=0)
    barrier: BarrierPolicy = BarrierPolicy.PARK
    park_on_dead_letter: bool = Field(
        default=False,
        description="also hold a key behind a record dead-lettered directly (permanent/data/"
        "decode); records dead-lettered after their retry budget always hold the key (park)",
    )
    max_retry_rounds: int = Field(
        default=5, ge=0, description="trips through sync.<target>.retry before the DLQ"
    )
    retry_delays_s: list[float] = Field(
        default_factory=lambda: [1.0, 5.0, 30.0, 120.0, 600.0],
        description="delay before retry round n (the last value repeats)",
    )
    parked_recheck_s: float = Field(
        default=5.0, gt=0, description="how often parked records re-check their blocker"
    )
    block_retry_s: float = Field(default=2.0, gt=0, description="barrier=block: retry pause")
    auth_retry_s: float = Field(default=30.0, gt=0, description="PAUSE_AUTH: credential retry")
    circuit_check_s: float = Field(default=0.5, gt=0)
    drain_timeout_s: float = Field(default=30.0, gt=0)
    revoke_timeout_s: float = Field(default=10.0, gt=0)
    commit_interval_s: float = Field(default=1.0, gt=0)
    lag_interval_s: float = Field(default=10.0, gt=0)
    barrier_topic: str = "_voicebus.barriers"
    consumer_overrides: dict[str, str | int | float | bool] = Field(
        default_factory=dict,
        description="extra librdkafka settings for the sink consumer (JSON object), e.g. "
        '{"session.timeout.ms": 10000}',
    )

    @model_validator(mode="after")
    def _delays_not_empty(self) -> SinkSettings:
        if not self.retry_delays_s or any(d < 0 for d in self.retry_delays_s):
            raise ValueError("retry_delays_s must be a non-empty list of seconds >= 0")
        return self

    def retry_delay(self, round_number: int) -> float:
        """Delay before retry round ``round_number`` (1-based); grows, then repeats the last."""
        index = max(0, min(round_number - 1, len(self.retry_delays_s) - 1))
        return self.retry_delays_s[index]

    @staticmethod
    def target_prefix(target: str) -> str:
        return f"{GENERIC_PREFIX}{re.sub(r'[^A-Za-z0-9]', '_', target).upper()}_"

    @classmethod
    def for_target(cls, target: str, **overrides: Any) -> SinkSettings:
        """Generic env, then the target's own env, then ``overrides``."""
        generic = cls()
        prefix = cls.target_prefix(target)
        specific_env = {
            name: os.environ[f"{prefix}{name.upper()}"]
            for name in cls.model_fields
            if f"{prefix}{name.upper()}" in os.environ
        }
        specific = cls(_env_prefix=prefix) if specific_env else None
        merged: dict[str, Any] = generic.model_dump()
        if specific is not None:
            merged.update({name: getattr(specific, name) for name in specific_env})
        merged.update(overrides)
        return cls.model_validate(merged)
