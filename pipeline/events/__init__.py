"""Pydantic models of the call events and CRM contacts that travel on voicebus topics.

They mirror ``schemas/voice/call_event.avsc`` and ``schemas/crm/contact.avsc`` field for field
(a unit test walks both and fails on any drift), so a producer gets a precise
``pydantic.ValidationError`` naming the bad field *before* anything reaches Kafka, and a
consumer can turn a decoded Avro dict back into typed objects.

``to_avro()`` returns a dict that fastavro (and confluent-kafka's ``AvroSerializer``) write
as is: the payload union branch is chosen explicitly with fastavro's tuple notation
``("io.voicebus.voice.CallStarted", {...})``, because several payload records could
otherwise be ambiguous.  ``from_avro()`` accepts what fastavro reads back (with or without
record names).

Validation errors never echo the input value in their text (``hide_input_in_errors``): call
payloads carry phone numbers and transcript text, which are PII.
"""

from pipeline.events.base import (
    INT32_MAX,
    INT32_MIN,
    AvroFloat,
    AvroInt,
    AvroRecord,
    CallDirection,
    Count32,
    E164Number,
    EventType,
    NonEmptyStr,
    Offset64,
    RecordType,
    Sentiment,
    SpeakerRole,
    UtcMillis,
    is_e164,
)
from pipeline.events.crm import Contact, contact_key
from pipeline.events.voice import (
    PAYLOAD_MODELS,
    ActionItem,
    CallEnded,
    CallEvent,
    CallStarted,
    CallSummary,
    Payload,
    RecordingAvailable,
    TranscriptSegment,
)

__all__ = [
    "INT32_MAX",
    "INT32_MIN",
    "PAYLOAD_MODELS",
    "ActionItem",
    "AvroFloat",
    "AvroInt",
    "AvroRecord",
    "CallDirection",
    "CallEnded",
    "CallEvent",
    "CallStarted",
    "CallSummary",
    "Contact",
    "Count32",
    "E164Number",
    "EventType",
    "NonEmptyStr",
    "Offset64",
    "Payload",
    "RecordType",
    "RecordingAvailable",
    "Sentiment",
    "SpeakerRole",
    "TranscriptSegment",
    "UtcMillis",
    "contact_key",
    "is_e164",
]
