"""Build the enriched record: the original envelope, the customer and the call aggregate
(plus, on call_ended / call_summary only, the call's transcript so far).

``build_enriched`` is pure (no Kafka, no clock unless ``processed_at`` is omitted), so the
shape of ``voice.call-events.enriched`` is unit-tested directly.  The result is the dict the
router and redaction see (``payload`` as a plain dict); ``to_avro`` turns it into what the Avro
writer needs (the payload union member named explicitly, as pipeline.events does).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from pipeline.processors.call_state import call_aggregate, call_transcript, to_millis

__all__ = [
    "ENVELOPE_FIELDS",
    "PAYLOAD_TYPES",
    "TRANSCRIPT_EVENT_TYPES",
    "build_enriched",
    "payload_type",
    "to_avro",
]

ENVELOPE_FIELDS = (
    "event_id",
    "event_type",
    "occurred_at",
    "tenant_id",
    "call_id",
    "source",
    "schema_version",
    "payload",
)
PAYLOAD_TYPES = {
    "call_started": "io.voicebus.voice.CallStarted",
    "transcript_segment": "io.voicebus.voice.TranscriptSegment",
    "call_ended": "io.voicebus.voice.CallEnded",
    "call_summary": "io.voicebus.voice.CallSummary",
    "recording_available": "io.voicebus.voice.RecordingAvailable",
}
#: the events that carry the transcript (the follow-up / call-log moments); every other
#: record has ``transcript = None`` so the many segment records stay small
TRANSCRIPT_EVENT_TYPES = frozenset({"call_ended", "call_summary"})
# which payload field only one member has: identifies the member when event_type is unknown
_SIGNATURE_FIELDS = (
    ("direction", "io.voicebus.voice.CallStarted"),
    ("speaker", "io.voicebus.voice.TranscriptSegment"),
    ("hangup_cause", "io.voicebus.voice.CallEnded"),
    ("summary", "io.voicebus.voice.CallSummary"),
    ("checksum", "io.voicebus.voice.RecordingAvailable"),
)


_EXACT_SCALARS = frozenset((str, int, float, bool, type(None)))


def _plain(value: Any) -> Any:
    """Enum symbols and UUIDs as strings, containers copied, for JSON and rules."""
    if type(value) in _EXACT_SCALARS:  # most leaves: skip the ABC checks (per-event path)
        return value
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(getattr(value, "value", value))


def payload_type(event_type: str, payload: Mapping[str, Any]) -> str:
    """Full name of the payload's union member."""
    known = PAYLOAD_TYPES.get(event_type)
    if known is not None:
        return known
    for field, name in _SIGNATURE_FIELDS:
        if field in payload:
            return name
    raise ValueError(f"cannot tell which payload type event_type {event_type!r} carries")


def build_enriched(
    event: Mapping[str, Any],
    state: Mapping[str, Any],
    customer: Mapping[str, Any],
    processed_at: int | None = None,
) -> dict[str, Any]:
    """The enriched record of ``event`` given the call ``state`` after it and ``customer``."""
    payload = event.get("payload")
    if isinstance(payload, tuple):
        payload = payload[1]
    event_type = str(event["event_type"])
    return {
        "event_id": str(event["event_id"]),
        "event_type": event_type,
        "occurred_at": to_millis(event["occurred_at"]),
        "tenant_id": str(event["tenant_id"]),
        "call_id": str(event["call_id"]),
        "source": str(event["source"]),
        "schema_version": int(event.get("schema_version", 1)),
        "payload": _plain(payload or {}),
        "customer": dict(customer),
        "call": call_aggregate(state),
        "processed_at": int(time.time() * 1000) if processed_at is None else processed_at,
        "transcript": call_transcript(state) if event_type in TRANSCRIPT_EVENT_TYPES else None,
    }


def to_avro(enriched: Mapping[str, Any]) -> dict[str, Any]:
    """``enriched`` with its payload as ``(member name, dict)`` for fastavro."""
    out = dict(enriched)
    payload = out["payload"]
    if not isinstance(payload, tuple):
        out["payload"] = (payload_type(str(out["event_type"]), payload), payload)
    return out
