"""What a follow-up e-mail and a follow-up meeting say, from an enriched call event.

Shared by the Gmail and Outlook connectors (only the wire format differs): recipients from
the matched contact (``customer.match.email``), template values from the event (summary,
action items, call aggregate), the transcript that call_ended / call_summary records carry
(rendered by ``connectors.base.transcript``; the routing hint ``transcript`` is the fallback),
and one meeting per action item of kind ``meeting``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from connectors.base.connector import SyncRecord
from connectors.base.errors import DataError

EMAIL_RE = re.compile(r"^[^@\s<>\"',;]+@[^@\s<>\"',;]+\.[^@\s<>\"',;]+$")
EPOCH = date(1970, 1, 1)


@dataclass(frozen=True)
class Recipient:
    address: str
    name: str = ""


@dataclass(frozen=True)
class Meeting:
    index: int
    description: str
    start: datetime
    end: datetime
    timezone: str
    attendees: tuple[Recipient, ...]
    values: Mapping[str, str]


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def as_datetime(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value / 1000.0, UTC)
    if isinstance(value, str) and value:
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def _as_date(value: Any) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return EPOCH + timedelta(days=value)  # Avro logicalType date: days since epoch
    if isinstance(value, str) and value:
        try:
            return date.fromisoformat(value[:10])
        except ValueError:
            return None
    return None


def is_email(value: str) -> bool:
    return bool(EMAIL_RE.match(value))


def require_event_id(record: SyncRecord, target: str) -> str:
    for name in ("event_id", "call_id"):
        if not _text(record.event.get(name)):
            raise DataError(
                f"{target} record (key {record.key!r}) has no '{name}'; it keys the e-mail's "
                "idempotency and names the transcript; fix the producer and replay from the DLQ"
            )
    return _text(record.event["event_id"])


def customer_match(event: Mapping[str, Any]) -> Mapping[str, Any]:
    customer = event.get("customer")
    match = customer.get("match") if isinstance(customer, Mapping) else None
    return match if isinstance(match, Mapping) else {}


def recipient(record: SyncRecord, target: str) -> Recipient:
    """The matched contact; ``DataError`` naming ``customer.match.email`` when unusable."""
    match = customer_match(record.event)
    address = _text(match.get("email"))
    if not address:
        raise DataError(
            f"{target} follow-up for call {_text(record.event.get('call_id'))!r}: "
            "'customer.match.email' is missing (the caller matched no contact with an e-mail "
            "address); add the e-mail to the CRM contact and replay from the DLQ"
        )
    if not is_email(address):
        raise DataError(
            f"{target} follow-up for call {_text(record.event.get('call_id'))!r}: "
            "'customer.match.email' is not a valid e-mail address; fix the CRM contact and "
            "replay from the DLQ"
        )
    return Recipient(address, _text(match.get("name")))


def _payload(event: Mapping[str, Any]) -> Mapping[str, Any]:
    payload = event.get("payload")
    return payload if isinstance(payload, Mapping) else {}


def action_items(event: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    items = _payload(event).get("action_items")
    if not isinstance(items, Sequence) or isinstance(items, str):
        return []
    return [item for item in items if isinstance(item, Mapping)]


def _duration(seconds: Any) -> str:
    if not isinstance(seconds, int | float) or isinstance(seconds, bool):
        return ""
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes} min {rest} s" if minutes else f"{rest} s"


def template_values(
    record: SyncRecord,
    *,
    sender_name: str,
    recording_link: str = "",
    transcript_link: str = "",
) -> dict[str, str]:
    event = record.event
    match = customer_match(event)
    payload = _payload(event)
    raw_call = event.get("call")
    call: Mapping[str, Any] = raw_call if isinstance(raw_call, Mapping) else {}
    started = as_datetime(call.get("started_at")) or as_datetime(event.get("occurred_at"))
    items = []
    for item in action_items(event):
        line = f"- {_text(item.get('description'))}"
        due = _as_date(item.get("due_date"))
        if due is not None:
            line += f" (due {due.isoformat()})"
        items.append(line)
    return {
        "customer_name": _text(match.get("name")) or "there",
        "customer_email": _text(match.get("email")),
        "company": _text(match.get("account")),
        "agent": _text(call.get("agent") or payload.get("agent")),
        "call_id": _text(event.get("call_id")),
        "call_date": started.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if started else "",
        "duration": _duration(call.get("duration_s") or payload.get("duration_s")),
        "summary": _text(payload.get("summary")),
        "action_items": "\n".join(items) or "- none",
        "sentiment": _text(payload.get("sentiment") or call.get("sentiment")),
        "recording_link": recording_link,
        "transcript_link": transcript_link,
        "sender_name": sender_name,
    }


def recording_url(record: SyncRecord) -> str:
    payload = _payload(record.event)
    return _text(record.hints.get("recording_url") or payload.get("url"))


def meetings(
    record: SyncRecord,
    *,
    owner_email: str,
    default_time: time,
    duration_min: int,
    timezone: str,
    base_values: Mapping[str, str],
) -> list[Meeting]:
    """One meeting per action item of kind ``meeting``: on its due date (else the day after
    the call) at ``default_time`` in ``timezone``; attendees are the contact and the owner
    (the item's owner when it is an e-mail address, else the configured owner)."""
    event = record.event
    match = customer_match(event)
    zone = ZoneInfo(timezone)
    occurred = as_datetime(event.get("occurred_at")) or datetime.now(UTC)
    found: list[Meeting] = []
    for index, item in enumerate(action_items(event)):
        if _text(item.get("kind")).lower() != "meeting":
            continue
        description = _text(item.get("description"))
        if not description:
            raise DataError(
                f"call {_text(event.get('call_id'))!r}: 'payload.action_items[{index}]"
                ".description' is empty; a meeting needs a title"
            )
        due = _as_date(item.get("due_date")) or (occurred.date() + timedelta(days=1))
        start = datetime.combine(due, default_time, tzinfo=zone)
        attendees: list[Recipient] = []
        address = _text(match.get("email"))
        if address and is_email(address):
            attendees.append(Recipient(address, _text(match.get("name"))))
        owner = _text(item.get("owner"))
        organiser = owner if is_email(owner) else owner_email
        if organiser and all(a.address != organiser for a in attendees):
            attendees.append(Recipient(organiser))
        if not attendees:
            raise DataError(
                f"call {_text(event.get('call_id'))!r}: meeting action item #{index} has no "
                "attendee: 'customer.match.email' is missing and no owner e-mail is configured"
            )
        values = {
            **base_values,
            "item_description": description,
            "item_due": due.isoformat(),
            "item_owner": owner,
        }
        found.append(
            Meeting(
                index=index,
                description=description,
                start=start,
                end=start + timedelta(minutes=duration_min),
                timezone=timezone,
                attendees=tuple(attendees),
                values=values,
            )
        )
    return found


RECORDING_TYPES = {"mp3": "audio/mpeg", "wav": "audio/wav", "ogg": "audio/ogg", "m4a": "audio/mp4"}


def recording_reference(record: SyncRecord, max_bytes: int) -> dict[str, Any] | None:
    """What to fetch at delivery time to attach the recording, or None (link only).

    ``hints.recording_size_bytes`` above ``max_bytes`` skips the download at once; an unknown
    size is checked while streaming."""
    url = recording_url(record)
    if not url or max_bytes <= 0 or not url.startswith(("http://", "https://")):
        return None
    size = record.hints.get("recording_size_bytes")
    if isinstance(size, int) and size > max_bytes:
        return None
    payload = _payload(record.event)
    fmt = _text(record.hints.get("recording_format") or payload.get("format")).lower() or "mp3"
    return {
        "url": url,
        "filename": f"recording-{_text(record.event.get('call_id'))}.{fmt}",
        "content_type": RECORDING_TYPES.get(fmt, "application/octet-stream"),
        "max_bytes": max_bytes,
    }


async def fetch_recording(http: Any, reference: Mapping[str, Any]) -> bytes | None:
    """The recording's bytes when reachable and not above ``max_bytes``; None otherwise (the
    e-mail then carries only the link: an optional attachment never blocks a follow-up)."""
    import httpx

    limit = int(reference["max_bytes"])
    try:
        async with http.stream("GET", str(reference["url"])) as response:
            if response.status_code != 200:
                return None
            declared = response.headers.get("content-length")
            if declared is not None and declared.isdigit() and int(declared) > limit:
                return None
            data = bytearray()
            async for chunk in response.aiter_bytes():
                data.extend(chunk)
                if len(data) > limit:
                    return None
            return bytes(data)
    except httpx.HTTPError:
        return None
