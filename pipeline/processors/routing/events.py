"""Read a call event from JSON for ``voicebus routes test``: a plain CallEvent or an enriched
one, ``occurred_at`` as ISO 8601 or epoch milliseconds, the payload as a plain object or in
Avro JSON union form (``{"io.voicebus.voice.CallSummary": {...}}``).  The result has the shape
the processors hand to the router (fastavro-style dicts, ``occurred_at`` a UTC datetime)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipeline.processors.routing.model import EVENT_TYPES


class EventFileError(ValueError):
    """The event JSON cannot be used; the message says what and where."""


def _occurred_at(value: Any, source: str) -> datetime:
    if isinstance(value, bool):
        raise EventFileError(f"{source}: occurred_at must be ISO 8601 text or epoch ms")
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value / 1000, tz=UTC)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise EventFileError(
                f"{source}: occurred_at {value!r} is not ISO 8601 "
                "(e.g. 2026-11-24T21:00:00Z) nor epoch milliseconds"
            ) from None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    raise EventFileError(f"{source}: occurred_at must be ISO 8601 text or epoch milliseconds")


def _unwrap_union(payload: Any) -> Any:
    if isinstance(payload, dict) and len(payload) == 1:
        ((key, value),) = payload.items()
        if "." in key and isinstance(value, dict):
            return value
    return payload


def normalize_event(raw: Any, source: str = "<event>") -> dict[str, Any]:
    """Check the few fields routing needs and return the event in processor shape."""
    if not isinstance(raw, dict):
        raise EventFileError(f"{source}: expected a JSON object (one call event)")
    event_type = raw.get("event_type")
    if event_type not in EVENT_TYPES:
        raise EventFileError(
            f"{source}: event_type {event_type!r} is not one of: {', '.join(EVENT_TYPES)}"
        )
    event = dict(raw)
    if "occurred_at" in event:
        event["occurred_at"] = _occurred_at(event["occurred_at"], source)
    payload = _unwrap_union(event.get("payload"))
    if payload is not None and not isinstance(payload, dict):
        raise EventFileError(f"{source}: payload must be a JSON object")
    event["payload"] = payload or {}
    return event


def load_event_file(path: str | Path) -> dict[str, Any]:
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise EventFileError(f"{source}: cannot read the file: {exc.strerror}") from None
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise EventFileError(
            f"{source}:{exc.lineno}: invalid JSON at column {exc.colno}: {exc.msg}"
        ) from None
    return normalize_event(raw, source)
