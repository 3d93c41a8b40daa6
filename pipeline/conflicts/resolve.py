"""Field-by-field resolution of one conflict under ``ConflictRules`` (pure functions, so the
handler and the CLI agree and unit tests need no broker)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from pipeline.conflicts.rules import ConflictRules, Rule


@dataclass(frozen=True)
class FieldResolution:
    """How one field resolved.  ``resolved`` False means a person must choose."""

    field: str
    rule: Rule
    event_value: Any
    target_value: Any
    resolved: bool
    value: Any = None
    winner: str | None = None  # "event" | "target" | "merged" | "equal"
    reason: str = ""


def to_datetime(value: Any) -> datetime | None:
    """A timestamp from Avro (datetime), epoch milliseconds or ISO 8601 text."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value / 1000, tz=UTC)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def merge_values(target_value: Any, event_value: Any) -> tuple[bool, Any]:
    """(True, merged) for text, lists and objects; (False, None) when they cannot merge."""
    if target_value is None:
        return True, event_value
    if event_value is None:
        return True, target_value
    if isinstance(target_value, str) and isinstance(event_value, str):
        if event_value in target_value:
            return True, target_value
        if target_value in event_value:
            return True, event_value
        return True, f"{target_value}\n\n{event_value}"
    if isinstance(target_value, list) and isinstance(event_value, list):
        return True, target_value + [item for item in event_value if item not in target_value]
    if isinstance(target_value, dict) and isinstance(event_value, dict):
        return True, {**target_value, **event_value}
    return False, None


def resolve_field(
    rule: Rule,
    field: str,
    event_value: Any,
    target_value: Any,
    *,
    event_at: datetime | None,
    target_at: datetime | None,
) -> FieldResolution:
    def done(value: Any, winner: str, reason: str) -> FieldResolution:
        return FieldResolution(field, rule, event_value, target_value, True, value, winner, reason)

    def manual(reason: str) -> FieldResolution:
        return FieldResolution(field, rule, event_value, target_value, False, reason=reason)

    if event_value == target_value:
        return done(event_value, "equal", "event and target agree")
    if rule is Rule.TARGET_WINS:
        return done(target_value, "target", "rule target_wins")
    if rule is Rule.VOICE_WINS:
        return done(event_value, "event", "rule voice_wins")
    if rule is Rule.LATEST_WINS:
        if event_at is None or target_at is None:
            return manual("latest_wins needs both the event time and the target's modified time")
        if event_at > target_at:
            return done(event_value, "event", "event is newer than the target's change")
        return done(target_value, "target", "target changed after the event")
    if rule is Rule.MERGE:
        ok, merged = merge_values(target_value, event_value)
        if ok:
            return done(merged, "merged", "merged")
        return manual(
            f"merge cannot combine {type(target_value).__name__} and {type(event_value).__name__}"
        )
    return manual("rule manual")


def resolve_all(
    rules: ConflictRules,
    target: str,
    event_values: Mapping[str, Any],
    target_values: Mapping[str, Any],
    *,
    event_at: datetime | None,
    target_at: datetime | None,
) -> list[FieldResolution]:
    """One resolution per field the event wanted to write (in the event's field order)."""
    return [
        resolve_field(
            rules.rule_for(target, name),
            name,
            event_values[name],
            target_values.get(name),
            event_at=event_at,
            target_at=target_at,
        )
        for name in event_values
    ]


def jsonable(value: Any) -> Any:
    """JSON-safe copy of a decoded Avro value: datetimes -> epoch ms (timestamp-millis),
    dates -> days since epoch (Avro ``date``), bytes -> latin-1 text; so the stored event can
    be encoded again with its schema."""
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
        return int(moment.timestamp() * 1000)
    if isinstance(value, date):
        return (value - date(1970, 1, 1)).days
    if isinstance(value, bytes):
        return value.decode("latin-1")
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)
