"""A ``sync.webhook`` record -> one signed POST per configured endpoint.

The body follows the Standard Webhooks payload convention::

    {"type": "call.<event_type>", "timestamp": "<occurred_at ISO 8601>", "data": {<event>}}

``webhook-id`` is the event's ``event_id`` (receivers dedupe on it); the ledger's
idempotency key is ``<event_id>@<endpoint id>`` so that with several endpoints a retry resends
only to the endpoints that did not get the event yet.
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any
from urllib.parse import urlsplit

from connectors.base.connector import Operation, SyncRecord
from connectors.base.errors import DataError

OPERATION_KIND = "post"
REQUIRED_FIELDS = ("event_id", "call_id")


@dataclass(frozen=True)
class Endpoint:
    """One configured receiver.  ``id`` is stable across restarts and reordering (a hash of
    the URL), ``origin`` is safe to log (no path or query)."""

    position: int
    url: str
    id: str
    origin: str

    @classmethod
    def from_url(cls, position: int, url: str) -> Endpoint:
        parts = urlsplit(url)
        port = f":{parts.port}" if parts.port else ""
        return cls(
            position=position,
            url=url,
            id=hashlib.sha256(url.encode()).hexdigest()[:12],
            origin=f"{parts.scheme}://{parts.hostname}{port}",
        )


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, uuid.UUID | Decimal):
        return str(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, Enum):
        return value.value
    raise TypeError(type(value).__name__)


def _occurred_at(event: Mapping[str, Any]) -> str | None:
    occurred = event.get("occurred_at")
    if isinstance(occurred, datetime):
        return str(_json_default(occurred))
    if isinstance(occurred, int | float):
        return datetime.fromtimestamp(occurred / 1000.0, UTC).isoformat()
    return str(occurred) if occurred is not None else None


def encode_body(record: SyncRecord) -> bytes:
    event = record.event
    event_type = event.get("event_type") or "event"
    envelope: dict[str, Any] = {
        "type": f"call.{event_type}",
        "timestamp": _occurred_at(event),
        "data": dict(event),
    }
    if record.operation:
        envelope["operation"] = record.operation
    try:
        return json.dumps(envelope, separators=(",", ":"), default=_json_default).encode()
    except (TypeError, ValueError) as exc:
        raise DataError(
            f"event {event.get('event_id')} cannot be encoded as JSON (a value of type "
            f"{exc.args[0] if exc.args else 'unknown'}); fix the producer or the processor "
            "that wrote it, then replay from the DLQ"
        ) from None


def map_record(record: SyncRecord, endpoints: Sequence[Endpoint]) -> list[Operation]:
    event = record.event
    for name in REQUIRED_FIELDS:
        value = event.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            raise DataError(
                f"webhook record (key {record.key!r}) has no '{name}'; every event needs "
                f"{' and '.join(REQUIRED_FIELDS)} (the webhook-id and the receiver's ordering "
                "key); fix the producer and replay from the DLQ"
            )
    event_id = str(event["event_id"])
    body = encode_body(record).decode()
    return [
        Operation(
            kind=OPERATION_KIND,
            idempotency_key=f"{event_id}@{endpoint.id}",
            payload={"endpoint": endpoint.id, "webhook_id": event_id, "body": body},
            key=record.key,
        )
        for endpoint in endpoints
    ]
