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

Transcript: the state keeps the call's transcript segments (speaker, start offset, text) sorted
by ``(start_ms, sequence)`` whatever order they arrive in, so call_ended / call_summary records
can carry the whole transcript to mail and CRM targets.  It is bounded so one long call cannot
outgrow a Kafka record (the changelog entry and every enriched copy carry it):
``TRANSCRIPT_MAX_SEGMENTS`` segments and ``TRANSCRIPT_MAX_CHARS`` characters of text per call.
Beyond that the *first* part is kept: segments are dropped from the end (a single overlong
segment is cut), ``transcript_truncated`` is set, and once truncated the transcript never grows
at its end again (an early segment arriving late can still take its place in the kept part).
Entries are compact ``[start_ms, sequence, speaker, text]`` lists: the whole state is written to
the changelog on every change.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

__all__ = [
    "DEDUPE_WINDOW",
    "TRANSCRIPT_MAX_CHARS",
    "TRANSCRIPT_MAX_SEGMENTS",
    "Disposition",
    "StateUpdate",
    "apply_event",
    "call_transcript",
    "to_millis",
]

DEDUPE_WINDOW = 256
#: per-call transcript bound: an hour of speech is ~700 segments / ~50,000 characters; 50,000
#: characters stay far below Kafka's 1 MB record limit even as JSON-escaped non-ASCII text
TRANSCRIPT_MAX_SEGMENTS = 1000
TRANSCRIPT_MAX_CHARS = 50_000


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
        "transcript": [],  # [[start_ms, sequence, speaker, text], ...] sorted, bounded
        "transcript_chars": 0,
        "transcript_truncated": False,
    }


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return str(getattr(value, "value", value))


def _segment_order(entry: list[Any]) -> tuple[int, int]:
    return entry[0], entry[1]


def _add_segment(state: dict[str, Any], payload: Mapping[str, Any], speaker: str) -> None:
    """Insert one segment in start order, within the bounds (module docstring).  Builds a new
    list (one shallow copy): the input state's list is never mutated."""
    text = str(payload.get("text") or "")
    truncated = bool(state["transcript_truncated"])
    if len(text) > TRANSCRIPT_MAX_CHARS:
        text, truncated = text[:TRANSCRIPT_MAX_CHARS], True
    entry = [int(payload.get("start_ms") or 0), int(payload.get("sequence") or 0), speaker, text]
    kept: list[list[Any]] = state["transcript"]
    position = bisect_right(kept, _segment_order(entry), key=_segment_order)
    if state["transcript_truncated"] and position == len(kept):
        return  # after the kept first part of a truncated transcript: left out
    segments = [*kept[:position], entry, *kept[position:]]
    chars = int(state["transcript_chars"]) + len(text)
    while len(segments) > TRANSCRIPT_MAX_SEGMENTS or chars > TRANSCRIPT_MAX_CHARS:
        chars -= len(segments.pop()[3])
        truncated = True
    state["transcript"] = segments
    state["transcript_chars"] = chars
    state["transcript_truncated"] = truncated


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
        _add_segment(state, payload, speaker)
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


def call_transcript(state: Mapping[str, Any]) -> dict[str, Any]:
    """The ``transcript`` block of the enriched record (schema CallTranscript): segments in
    start order and whether the per-call bound left some out."""
    return {
        "segments": [
            {"speaker": speaker, "start_ms": start_ms, "text": text}
            for start_ms, _sequence, speaker, text in state.get("transcript") or ()
        ],
        "truncated": bool(state.get("transcript_truncated")),
    }
