"""The connector contract (small ABC in the style of quix-streams' sink base).

A connector declares its settings, maps one record of ``sync.<target>`` to vendor operations,
and delivers an operation (or a batch).  It classifies failures into the classes of
``connectors.base.errors``; retries, rate limits, circuit breaking, dead-lettering and the sync
ledger are applied by the runtime (``pipeline.sinks``), never by the connector itself.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from pydantic_settings import BaseSettings, SettingsConfigDict

from connectors.base.errors import ConnectorError


class ConnectorSettings(BaseSettings):
    """Base for every connector's ``config.py`` model.  Subclasses set their own env prefix,
    e.g. ``VOICEBUS_WEBHOOK_``, and keep secrets as ``SecretStr``."""

    model_config = SettingsConfigDict(extra="ignore")


@dataclass(frozen=True)
class SyncRecord:
    """One decoded record of ``sync.<target>`` as the runtime hands it to a connector.

    ``event`` is the Avro-decoded value (an enriched call event as a dict); ``operation`` and
    ``hints`` come from the routing rule that sent it (headers ``vb-operation`` / ``vb-hints``).
    """

    key: str
    event: Mapping[str, Any]
    operation: str | None = None
    hints: Mapping[str, Any] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Operation:
    """One call to make against the target.  ``idempotency_key`` is unique per intended
    effect (e.g. ``f"{event_id}:post"``); the sync ledger keys on (target, idempotency_key)."""

    kind: str
    idempotency_key: str
    payload: Mapping[str, Any]
    key: str = ""


@dataclass(frozen=True)
class DeliveryResult:
    """What the target answered: an external id where it has one, and free detail."""

    external_id: str | None = None
    detail: Mapping[str, Any] = field(default_factory=dict)


class Connector(ABC):
    """Implemented once per target.  Instances are used from one asyncio event loop."""

    #: target name, used in topic (``sync.<name>``) and group (``voicebus-sink-<name>``) names
    name: ClassVar[str]
    #: connector version, written to DLQ headers
    version: ClassVar[str] = "0.1.0"
    #: True when the target itself deduplicates writes (vendor upsert keys)
    natural_upsert: ClassVar[bool] = False

    @abstractmethod
    def map_record(self, record: SyncRecord) -> list[Operation]:
        """Turn a record into operations.  Raise ``DataError`` naming the missing/bad field."""

    @abstractmethod
    async def deliver(self, operation: Operation) -> DeliveryResult:
        """Perform one operation; raise a ``ConnectorError`` subclass on failure."""

    async def deliver_batch(
        self, operations: Sequence[Operation]
    ) -> list[DeliveryResult | ConnectorError]:
        """Deliver several operations; the outcome is per operation, in order.  The default
        delivers one by one; connectors with vendor batch endpoints override it."""
        outcomes: list[DeliveryResult | ConnectorError] = []
        for operation in operations:
            try:
                outcomes.append(await self.deliver(operation))
            except ConnectorError as exc:
                outcomes.append(exc)
        return outcomes

    async def refresh_credentials(self) -> None:  # noqa: B027 - optional hook
        """Called once by the runtime after an ``AuthError`` before giving up."""

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Release HTTP clients and other resources."""
