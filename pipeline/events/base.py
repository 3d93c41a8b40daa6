"""Shared building blocks of the event models: Avro-shaped scalar types (E.164 numbers,
UTC millisecond timestamps, 32-bit ints and floats), the enums, and ``AvroRecord``."""

from __future__ import annotations

import re
import struct
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, ClassVar

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
INT64_MAX = 2**63 - 1

_E164 = re.compile(r"^\+[1-9]\d{1,14}$")


def is_e164(number: str) -> bool:
    """True for an E.164 number: '+', country code, subscriber number, at most 15 digits."""
    return bool(_E164.match(number))


def _require_e164(number: str) -> str:
    if not is_e164(number):
        raise ValueError(
            "must be an E.164 phone number: '+', country code and digits only, at most 15 "
            "digits (e.g. +14155550123)"
        )
    return number


def _utc_millis(value: datetime) -> datetime:
    """Avro timestamp-millis keeps milliseconds in UTC; normalising here makes
    model -> Avro -> model an exact round trip."""
    value = value.astimezone(UTC)
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


def _float32(value: float) -> float:
    """Avro ``float`` is 32-bit: store what the wire keeps, so round trips are exact."""
    return float(struct.unpack("<f", struct.pack("<f", value))[0])


E164Number = Annotated[str, AfterValidator(_require_e164)]
AvroFloat = Annotated[float, AfterValidator(_float32)]
AvroInt = Annotated[int, Field(ge=INT32_MIN, le=INT32_MAX)]
Count32 = Annotated[int, Field(ge=0, le=INT32_MAX)]  # Avro int that cannot be negative
Offset64 = Annotated[int, Field(ge=0, le=INT64_MAX)]  # Avro long that cannot be negative
NonEmptyStr = Annotated[str, Field(min_length=1)]
UtcMillis = Annotated[AwareDatetime, AfterValidator(_utc_millis)]


class CallDirection(StrEnum):
    INBOUND = "INBOUND"
    OUTBOUND = "OUTBOUND"


class SpeakerRole(StrEnum):
    AGENT = "AGENT"
    CUSTOMER = "CUSTOMER"
    BOT = "BOT"
    UNKNOWN = "UNKNOWN"


class Sentiment(StrEnum):
    POSITIVE = "POSITIVE"
    NEUTRAL = "NEUTRAL"
    NEGATIVE = "NEGATIVE"
    MIXED = "MIXED"


class RecordType(StrEnum):
    CONTACT = "CONTACT"
    LEAD = "LEAD"
    ACCOUNT = "ACCOUNT"


class EventType(StrEnum):
    """Values of ``CallEvent.event_type``; each selects one payload record."""

    CALL_STARTED = "call_started"
    TRANSCRIPT_SEGMENT = "transcript_segment"
    CALL_ENDED = "call_ended"
    CALL_SUMMARY = "call_summary"
    RECORDING_AVAILABLE = "recording_available"


class AvroRecord(BaseModel):
    """Base of every model that mirrors an Avro record; ``avro_name`` is its full name."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)
    avro_name: ClassVar[str]

    def to_avro(self) -> dict[str, Any]:
        """A dict any Avro writer accepts for this record: logical types as Python objects
        (datetime, date), enums as their ``StrEnum`` members (which are ``str``)."""
        return self.model_dump()
