"""Enriched call event -> Slack operations (Block Kit messages, one thread per call).

Every call gets one *parent* message per channel; everything else about the call is a reply
in its thread.  Each record maps to one operation (idempotency key
``<event_id>:<operation>@<channel>``); delivering it:

1. finds the call's thread: the ledger entry ``<call_id>:thread@<channel>`` (external id
   ``<channel id>:<ts>:<event id that posted it>``, see ``ThreadRef``);
2. when there is none yet, posts the parent first and writes that entry: for a summary the
   parent *is* the summary (nothing more to post), for an insight it is a short call header;
3. posts the insight (or a summary of a call that already had a parent) as a reply with the
   parent's ``thread_ts``.

Routing operations (``SyncRecord.operation``): ``post_summary`` (needs ``payload.summary``),
``post_insight`` (any event type); absent -> ``post_summary`` for call_summary events, else
``post_insight``.  ``hints.channel`` picks the channel (``#name``, ``name`` or an id), falling
back to ``VOICEBUS_SLACK_DEFAULT_CHANNEL``.

Text comes from events the router already redacted for chat targets; it is still escaped
(``& < >``) so transcript text cannot inject ``<!channel>`` mentions or links.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from connectors.base.connector import Operation, SyncRecord
from connectors.base.errors import DataError, PermanentError

POST_SUMMARY = "post_summary"
POST_INSIGHT = "post_insight"
OPERATIONS = (POST_SUMMARY, POST_INSIGHT)

HEADER_MAX = 150  # Block Kit: header text
SECTION_MAX = 3000  # Block Kit: section text
FIELD_MAX = 2000  # Block Kit: each section field
FALLBACK_MAX = 300  # our choice for the notification text


@dataclass(frozen=True)
class ThreadRef:
    """Where a call's thread lives, as kept in the parent's ledger entry."""

    channel: str
    ts: str
    origin_event_id: str

    def encode(self) -> str:
        return f"{self.channel}:{self.ts}:{self.origin_event_id}"

    @classmethod
    def decode(cls, text: str) -> ThreadRef | None:
        parts = text.split(":", 2)
        if len(parts) != 3 or not all(parts[:2]):
            return None
        return cls(parts[0], parts[1], parts[2])


def thread_key(call_id: str, channel: str) -> str:
    return f"{call_id}:thread@{channel}"


def escape(text: str) -> str:
    """Slack mrkdwn control characters (https://api.slack.com/reference/surfaces/formatting)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def truncate(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters (with an ellipsis); shared with Teams."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def required_field(event: Mapping[str, Any], name: str, target: str = "slack") -> str:
    """A non-empty text field of the event (uuids as text), else a ``DataError`` naming it;
    shared with Teams."""
    value = event.get(name)
    if isinstance(value, UUID):  # Avro logicalType uuid decodes to uuid.UUID (fastavro)
        return str(value)
    if not isinstance(value, str) or not value:
        raise DataError(
            f"{target}: event field '{name}' is missing or empty; the record cannot be mapped "
            "(check the producer / enrichment), then replay"
        )
    return value


def duration_text(seconds: Any) -> str:
    if not isinstance(seconds, int) or seconds < 0:
        return "unknown"
    minutes, secs = divmod(seconds, 60)
    return f"{minutes}m {secs:02d}s" if minutes else f"{secs}s"


def customer_text(event: Mapping[str, Any]) -> str:
    customer = event.get("customer")
    match = customer.get("match") if isinstance(customer, Mapping) else None
    if not isinstance(match, Mapping) or not match.get("name"):
        return "unknown caller"
    account = match.get("account")
    name = str(match["name"])
    return f"{name} ({account})" if account else name


def _call(event: Mapping[str, Any]) -> Mapping[str, Any]:
    call = event.get("call")
    return call if isinstance(call, Mapping) else {}


def _payload(event: Mapping[str, Any]) -> Mapping[str, Any]:
    payload = event.get("payload")
    return payload if isinstance(payload, Mapping) else {}


def facts(event: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Sentiment, intents, duration, customer: shared by the Slack and Teams layouts."""
    call, payload = _call(event), _payload(event)
    sentiment = payload.get("sentiment") or call.get("sentiment") or "unknown"
    intents = payload.get("intents") or call.get("intents") or []
    duration = call.get("duration_s", payload.get("duration_s"))
    return [
        ("Sentiment", str(sentiment)),
        ("Intents", ", ".join(str(i) for i in intents) or "none"),
        ("Duration", duration_text(duration)),
        ("Customer", customer_text(event)),
    ]


def _context(event: Mapping[str, Any]) -> dict[str, Any]:
    call = _call(event)
    bits = [f"call `{escape(str(event.get('call_id')))}`", f"event `{event.get('event_id')}`"]
    if call.get("queue"):
        bits.append(f"queue {escape(str(call['queue']))}")
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": " · ".join(bits)}]}


def _header(text: str) -> dict[str, Any]:
    return {"type": "header", "text": {"type": "plain_text", "text": truncate(text, HEADER_MAX)}}


def _fields(event: Mapping[str, Any]) -> list[dict[str, str]]:
    return [
        {"type": "mrkdwn", "text": truncate(f"*{label}*\n{escape(value)}", FIELD_MAX)}
        for label, value in facts(event)
    ]


def summary_message(event: Mapping[str, Any]) -> dict[str, Any]:
    payload = _payload(event)
    summary = payload.get("summary")
    if not isinstance(summary, str) or not summary.strip():
        raise DataError(
            "slack post_summary: event field 'payload.summary' is missing or empty (only "
            "call_summary events carry one; route other event types with post_insight)"
        )
    sentiment = str(payload.get("sentiment") or "unknown")
    title = f"Call summary ({sentiment.lower()}): {customer_text(event)}"
    return {
        "text": truncate(f"{title}: {summary}", FALLBACK_MAX),
        "blocks": [
            _header(title),
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": truncate(escape(summary), SECTION_MAX)},
                "fields": _fields(event),
            },
            _context(event),
        ],
    }


def header_message(event: Mapping[str, Any]) -> dict[str, Any]:
    """The parent of a call whose first routed event is not its summary."""
    call = _call(event)
    direction = str(call.get("direction") or "").lower() or "call"
    title = f"Call in progress ({direction}): {customer_text(event)}"
    return {
        "text": truncate(title, FALLBACK_MAX),
        "blocks": [
            _header(title),
            {"type": "section", "fields": _fields(event)},
            _context(event),
        ],
    }


def insight_text(event: Mapping[str, Any]) -> str:
    payload, call = _payload(event), _call(event)
    kind = event.get("event_type")
    if kind == "transcript_segment":
        speaker = str(payload.get("speaker") or "UNKNOWN").lower()
        return f"*{speaker}*: {escape(str(payload.get('text') or ''))}"
    if kind == "call_ended":
        return (
            f"*Call ended* after {duration_text(payload.get('duration_s'))}: "
            f"{escape(str(payload.get('disposition') or 'unknown'))}"
        )
    if kind == "call_summary":
        return f"*Summary*: {escape(str(payload.get('summary') or ''))}"
    if kind == "recording_available":  # the URL may carry a signed token: not posted
        return f"*Recording available* ({escape(str(payload.get('format') or '?'))})"
    if kind == "call_started":
        return f"*Call started* ({escape(str(call.get('direction') or '?')).lower()})"
    return f"*{escape(str(kind))}*"


def insight_message(event: Mapping[str, Any]) -> dict[str, Any]:
    text = truncate(insight_text(event), SECTION_MAX)
    return {
        "text": truncate(text, FALLBACK_MAX),
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}, _context(event)],
    }


def choose_channel(record: SyncRecord, default_channel: str | None) -> str:
    hinted = record.hints.get("channel") if record.hints else None
    channel = hinted if isinstance(hinted, str) and hinted.strip() else default_channel
    if not channel:
        raise PermanentError(
            "slack: no channel for this record; give the routing rule hints.channel "
            "(e.g. '#support') or set VOICEBUS_SLACK_DEFAULT_CHANNEL, then replay"
        )
    return channel.strip()


def map_record(record: SyncRecord, default_channel: str | None) -> list[Operation]:
    event = record.event
    event_id = required_field(event, "event_id")
    call_id = required_field(event, "call_id")
    operation = record.operation or (
        POST_SUMMARY if event.get("event_type") == "call_summary" else POST_INSIGHT
    )
    if operation not in OPERATIONS:
        raise PermanentError(
            f"slack: unknown operation {operation!r} in the routing rule; use one of: "
            + ", ".join(OPERATIONS)
        )
    channel = choose_channel(record, default_channel)
    if operation == POST_SUMMARY:
        message = summary_message(event)
        parent, reply = message, message
    else:
        parent, reply = header_message(event), insight_message(event)
    payload = {
        "channel": channel,
        "call_id": call_id,
        "event_id": event_id,
        "thread_key": thread_key(call_id, channel),
        "parent": parent,
        "reply": reply,
        "parent_is_reply": operation == POST_SUMMARY,
    }
    return [Operation(operation, f"{event_id}:{operation}@{channel}", payload, key=record.key)]
