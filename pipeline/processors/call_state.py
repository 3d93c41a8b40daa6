"""Per-call state: merge a call's events into one picture, whatever order they arrive in.

The state is a plain JSON-able dict (it lives in a faust ``Table`` keyed by ``call_id`` whose
changelog restores it after a restart or rebalance).  ``apply_event`` is pure: it returns the
new state and what to do with the event, so the merge rules are unit-tested without Kafka.

Dedupe window: the state remembers the last ``DEDUPE_WINDOW`` event ids of the call together
with the source offset each was read from.  An id seen at a *different* offset is a duplicate
publish (producer retry, replay) and is dropped.  The *same* id at the *same* offset is this
worker re-reading a record after a crash or rebalance (at-least-once): its effect on the state
is already there, but the output may not have reached Kafka before the crash, so it is emitted
again (downstream dedupes on ``event_id``) rather than lost.  256 ids cover a whole call (the
simulator's calls have at most ~45 events); ids fall out of the window oldest first, so a
duplicate of a very old event of a very long call is processed again.  There is no time-based
TTL: state lives as long as the table (see README, "State").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

__all__ = ["DEDUPE_WINDOW", "Disposition", "StateUpdate", "apply_event", "to_millis"]

DEDUPE_WINDOW = 256


class Disposition(StrEnum):
    NEW = "new"  # first time this event is seen: state updated, emit
    REPLAY = "replay"  # same record re-read (same offset): state unchanged, emit again
    DUPLICATE = "duplicate"  # same event id from another offset: drop


@dataclass(frozen=True, slots=True)
class StateUpdate:
    state: dict[str, Any]
    disposition: Disposition


def to_millis(value: Any) -> int:
    """Epoch milliseconds from fastavro's ``datetime`` or an int already in ms."""
    if isinstance(value, datetime):
        return int(value.timestamp() * 1000)
    if isinstance(value, int | float):
        return int(value)
    raise TypeError(f"expected a timestamp (datetime or epoch ms), got {type(value).__name__}")


def _empty_state() -> dict[str, Any]:
    return {
        "recent": [],  # [[event_id, source offset], ...] oldest first, bounded
        "started_at": None,
        "ended_at": None,
        "first_event_at": None,
        "last_event_at": None,
        "events_seen": 0,
        "segments_seen": 0,
        "talk_time_ms": {},
        "duration_s": None,
        "disposition": None,
        "direction": None,
        "from_number": None,
        "to_number": None,
        "queue": None,
        "agent": None,
        "language": None,
        "sentiment": None,
        "intents": [],
        "has_started": False,
        "has_ended": False,
        "has_summary": False,
        "has_recording": False,
    }


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return str(getattr(value, "value", value))


def _merge_payload(
    state: dict[str, Any], event_type: str, payload: Mapping[str, Any], at: int
) -> None:
    if event_type == "call_started":
        state["has_started"] = True
        state["started_at"] = at
        for field in ("direction", "from_number", "to_number", "queue", "agent", "language"):
            value = _text(payload.get(field))
            if value is not None:
                state[field] = value
    elif event_type == "transcript_segment":
        state["segments_seen"] += 1
        speaker = _text(payload.get("speaker")) or "UNKNOWN"
        spoken = max(0, int(payload.get("end_ms", 0)) - int(payload.get("start_ms", 0)))
        talk = state["talk_time_ms"]
        talk[speaker] = int(talk.get(speaker, 0)) + spoken
    elif event_type == "call_ended":
        state["has_ended"] = True
        state["ended_at"] = at
        if payload.get("duration_s") is not None:
            state["duration_s"] = int(payload["duration_s"])
        state["disposition"] = _text(payload.get("disposition"))
    elif event_type == "call_summary":
        state["has_summary"] = True
        state["sentiment"] = _text(payload.get("sentiment"))
        intents = list(state["intents"])
        for intent in payload.get("intents") or ():
            if intent not in intents:
                intents.append(str(intent))
        state["intents"] = intents
    elif event_type == "recording_available":
        state["has_recording"] = True
        if state["duration_s"] is None and payload.get("duration_s") is not None:
            state["duration_s"] = int(payload["duration_s"])


def apply_event(
    state: Mapping[str, Any] | None, event: Mapping[str, Any], offset: int
) -> StateUpdate:
    """Merge ``event`` (a decoded CallEvent) read at source ``offset`` into ``state``."""
    current: dict[str, Any] = _empty_state()
    if state:
        current.update({k: v for k, v in state.items() if k in current})
        current["talk_time_ms"] = dict(current["talk_time_ms"])
        current["intents"] = list(current["intents"])
    event_id = str(event["event_id"])
    for seen_id, seen_offset in current["recent"]:
        if seen_id == event_id:
            kind = Disposition.REPLAY if seen_offset == offset else Disposition.DUPLICATE
            return StateUpdate(current, kind)
    at = to_millis(event["occurred_at"])
    current["events_seen"] += 1
    first, last = current["first_event_at"], current["last_event_at"]
    current["first_event_at"] = at if first is None else min(first, at)
    current["last_event_at"] = at if last is None else max(last, at)
    payload = event.get("payload")
    if isinstance(payload, tuple):  # fastavro return_record_name form
        payload = payload[1]
    _merge_payload(current, str(event["event_type"]), payload or {}, at)
    recent = [*current["recent"], [event_id, offset]]
    current["recent"] = recent[-DEDUPE_WINDOW:]
    return StateUpdate(current, Disposition.NEW)


def call_aggregate(state: Mapping[str, Any]) -> dict[str, Any]:
    """The ``call`` block of the enriched record (schema CallAggregate) from a state."""
    return {
        "started_at": state.get("started_at"),
        "ended_at": state.get("ended_at"),
        "first_event_at": state["first_event_at"],
        "last_event_at": state["last_event_at"],
        "events_seen": int(state.get("events_seen", 0)),
        "segments_seen": int(state.get("segments_seen", 0)),
        "talk_time_ms": {k: int(v) for k, v in (state.get("talk_time_ms") or {}).items()},
        "duration_s": state.get("duration_s"),
        "disposition": state.get("disposition"),
        "direction": state.get("direction"),
        "from_number": state.get("from_number"),
        "to_number": state.get("to_number"),
        "queue": state.get("queue"),
        "agent": state.get("agent"),
        "language": state.get("language"),
        "sentiment": state.get("sentiment"),
        "intents": list(state.get("intents") or []),
        "has_summary": bool(state.get("has_summary")),
        "has_recording": bool(state.get("has_recording")),
        "complete": bool(
            state.get("has_started") and state.get("has_ended") and state.get("has_summary")
        ),
    }
