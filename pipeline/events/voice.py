"""Call lifecycle events on ``voice.call-events``: the ``CallEvent`` envelope and the five
payload records of ``schemas/voice/call_event.avsc``."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any, ClassVar

from pydantic import (
    Field,
    ValidationError,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    field_validator,
    model_validator,
)

from pipeline.events.base import (
    AvroFloat,
    AvroInt,
    AvroRecord,
    CallDirection,
    Count32,
    E164Number,
    EventType,
    NonEmptyStr,
    Offset64,
    Sentiment,
    SpeakerRole,
    UtcMillis,
)

# ---- payload records ------------------------------------------------------------------------


class CallStarted(AvroRecord):
    avro_name: ClassVar[str] = "io.voicebus.voice.CallStarted"

    direction: CallDirection
    from_number: E164Number
    to_number: E164Number
    agent: str | None = None
    queue: str | None = None
    language: str = Field(default="en-US", description="BCP 47 language tag")


class TranscriptSegment(AvroRecord):
    avro_name: ClassVar[str] = "io.voicebus.voice.TranscriptSegment"

    sequence: Count32
    speaker: SpeakerRole
    text: str
    start_ms: Offset64 = Field(description="offset from call start")
    end_ms: Offset64 = Field(description="offset from call start")
    confidence: AvroFloat = Field(ge=0.0, le=1.0)

    @field_validator("end_ms")
    @classmethod
    def _ends_after_start(cls, end_ms: int, info: ValidationInfo) -> int:
        start_ms = info.data.get("start_ms")
        if start_ms is not None and end_ms < start_ms:
            raise ValueError("must not be before start_ms")
        return end_ms


class CallEnded(AvroRecord):
    avro_name: ClassVar[str] = "io.voicebus.voice.CallEnded"

    duration_s: Count32
    disposition: NonEmptyStr = Field(description="resolved, voicemail, callback_scheduled, ...")
    hangup_cause: NonEmptyStr = Field(description="normal_clearing, caller_hangup, busy, ...")


class ActionItem(AvroRecord):
    avro_name: ClassVar[str] = "io.voicebus.voice.ActionItem"

    description: NonEmptyStr
    owner: str | None = None
    due_date: date | None = None
    kind: str = Field(default="task", description="task | meeting | email")


class CallSummary(AvroRecord):
    avro_name: ClassVar[str] = "io.voicebus.voice.CallSummary"

    summary: str
    sentiment: Sentiment
    intents: list[str] = Field(default_factory=list)
    action_items: list[ActionItem] = Field(default_factory=list)
    topics: list[str] = Field(default_factory=list)


class RecordingAvailable(AvroRecord):
    avro_name: ClassVar[str] = "io.voicebus.voice.RecordingAvailable"

    url: NonEmptyStr
    duration_s: Count32
    format: str = Field(description="wav | mp3 | ogg")
    checksum: str = Field(pattern=r"^sha256:[0-9a-f]{64}$", description="sha256:<hex>")


Payload = CallStarted | TranscriptSegment | CallEnded | CallSummary | RecordingAvailable

# keyed by EventType members, which hash and compare like their str values: a raw string
# finds its model without constructing the enum
PAYLOAD_MODELS: dict[EventType | str, type[AvroRecord]] = {
    EventType.CALL_STARTED: CallStarted,
    EventType.TRANSCRIPT_SEGMENT: TranscriptSegment,
    EventType.CALL_ENDED: CallEnded,
    EventType.CALL_SUMMARY: CallSummary,
    EventType.RECORDING_AVAILABLE: RecordingAvailable,
}
_EVENT_TYPE_OF: dict[type[AvroRecord], EventType] = {
    m: EventType(t) for t, m in PAYLOAD_MODELS.items()
}


def _prefixed(errors: list[Any], prefix: tuple[str | int, ...]) -> list[Any]:
    """Re-home nested validation errors under ``prefix`` so their loc names the full path."""
    out = []
    for err in errors:
        detail: dict[str, Any] = {
            "type": err["type"],
            "loc": prefix + tuple(err["loc"]),
            "input": err.get("input"),
        }
        if "ctx" in err:
            detail["ctx"] = err["ctx"]
        out.append(detail)
    return out


def _other_payload_model(payload: Any, event_type: EventType) -> type[AvroRecord] | None:
    """The payload model (other than ``event_type``'s) that accepts ``payload``, if any: it
    turns "six missing/extra fields" into "wrong event_type"."""
    if not isinstance(payload, Mapping):
        return None
    for other_type, model in PAYLOAD_MODELS.items():
        if other_type is event_type:
            continue
        try:
            model.model_validate(payload)
        except ValidationError:
            continue
        return model
    return None


# ---- the envelope ---------------------------------------------------------------------------


class CallEvent(AvroRecord):
    """One call lifecycle event on ``voice.call-events`` (key = ``call_id``).

    ``event_type`` selects the payload model; a payload that does not fit it is reported at
    ``payload.<field>`` (or ``payload`` when a model of another type was passed)."""

    avro_name: ClassVar[str] = "io.voicebus.voice.CallEvent"

    event_id: uuid.UUID = Field(description="unique per event; consumers dedupe on it")
    event_type: EventType
    occurred_at: UtcMillis
    tenant_id: NonEmptyStr
    call_id: NonEmptyStr
    source: NonEmptyStr = Field(description="voice platform, e.g. twilio, genesys, vapi")
    schema_version: AvroInt = 1
    payload: Payload

    @model_validator(mode="wrap")
    @classmethod
    def _payload_matches_event_type(cls, data: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        """Validate the payload with the model ``event_type`` names, reporting its errors at
        ``payload.<field>`` together with any envelope errors (never a five-way union dump)."""
        if not isinstance(data, Mapping) or "payload" not in data:
            return handler(data)
        # fast path (the common case): known event_type, payload that validates
        raw_type, payload = data.get("event_type"), data["payload"]
        model = PAYLOAD_MODELS.get(raw_type) if isinstance(raw_type, str) else None
        if model is not None:
            if isinstance(payload, model):
                return handler(data)
            if isinstance(payload, Mapping):
                try:
                    validated = model.model_validate(payload)
                except ValidationError:
                    pass  # the full path below reports it with the envelope's errors
                else:
                    return handler({**data, "payload": validated})
        data = dict(data)
        payload = data.pop("payload")
        payload_errors: list[Any] = []
        try:
            event_type: EventType | None = EventType(data.get("event_type"))
        except ValueError:
            event_type = None  # reported by the event_type field itself
        if event_type is not None:
            model = PAYLOAD_MODELS[event_type]
            if isinstance(payload, AvroRecord) and not isinstance(payload, model):
                problem = ValueError(
                    f"event_type {event_type.value!r} needs a {model.__name__} payload, "
                    f"got {type(payload).__name__}"
                )
                payload_errors.append(
                    {
                        "type": "value_error",
                        "loc": ("payload",),
                        "input": None,
                        "ctx": {"error": problem},
                    }
                )
            elif isinstance(payload, tuple) and len(payload) == 2:
                payload = payload[1]  # fastavro's (record name, fields) notation
            if not payload_errors and not isinstance(payload, model):
                try:
                    payload = model.model_validate(payload)
                except ValidationError as exc:
                    payload_errors = _prefixed(exc.errors(), ("payload",))
                    other = _other_payload_model(payload, event_type)
                    if other is not None:
                        problem = ValueError(
                            f"this is a {other.__name__} payload but event_type is "
                            f"{event_type.value!r}; use event_type "
                            f"{_EVENT_TYPE_OF[other].value!r} or a {model.__name__} payload"
                        )
                        payload_errors = [
                            {
                                "type": "value_error",
                                "loc": ("payload",),
                                "input": None,
                                "ctx": {"error": problem},
                            }
                        ]
        envelope_errors: list[Any] = []
        if not payload_errors and event_type is not None:
            data["payload"] = payload
        try:
            result = handler(data)
        except ValidationError as exc:
            envelope_errors = [e for e in exc.errors() if tuple(e["loc"][:1]) != ("payload",)]
            envelope_errors = _prefixed(envelope_errors, ())
            if not envelope_errors and not payload_errors:
                raise
        if envelope_errors or payload_errors:
            raise ValidationError.from_exception_data(
                cls.__name__, envelope_errors + payload_errors
            )
        return result

    @classmethod
    def create(
        cls,
        payload: Payload,
        *,
        tenant_id: str,
        call_id: str,
        source: str,
        occurred_at: datetime | None = None,
        event_id: uuid.UUID | None = None,
    ) -> CallEvent:
        """An event whose ``event_type`` follows from the payload's model; a fresh
        ``event_id`` and the current time unless given."""
        return cls(
            event_id=event_id or uuid.uuid4(),
            event_type=_EVENT_TYPE_OF[type(payload)],
            occurred_at=occurred_at or datetime.now(UTC),
            tenant_id=tenant_id,
            call_id=call_id,
            source=source,
            payload=payload,
        )

    def to_avro(self) -> dict[str, Any]:
        out = self.model_dump()
        out["event_id"] = str(self.event_id)
        out["event_type"] = self.event_type.value
        out["payload"] = (self.payload.avro_name, out["payload"])
        return out

    @classmethod
    def from_avro(cls, record: Mapping[str, Any]) -> CallEvent:
        """The model of a decoded Avro record (payload as a dict or fastavro's tuple)."""
        return cls.model_validate(dict(record))
