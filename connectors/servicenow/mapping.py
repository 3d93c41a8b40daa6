"""A ``sync.servicenow`` record -> ServiceNow operations.

Operations (``SyncRecord.operation``, set by the routing rule; hints in ``SyncRecord.hints``):

===================== ===================================================================
``open_incident``     find-or-create the call's incident (``correlation_id`` = call id,
                      ``correlation_display`` = ``voicebus``); default for any record
``open_request``      the same on ``sc_request`` (Table API; see README for why)
``update_incident``   work note (+ ``state`` from hints) on the call's incident, with conflict
                      detection on ``sys_updated_on``
``draft_kb_article``  a ``kb_knowledge`` draft from the call summary (reusable answers)
``resolve_conflict``  a person's decision (``voicebus conflicts resolve``): write
                      ``hints.values`` onto ``hints.record_ref`` unconditionally
===================== ===================================================================

Ledger idempotency key: ``<event_id>:<operation>`` (``resolve_conflict``: the decision's own).
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from connectors.base.connector import Operation, SyncRecord
from connectors.base.errors import DataError
from connectors.servicenow.config import ServiceNowSettings

CORRELATION_DISPLAY = "voicebus"
OPEN_INCIDENT = "open_incident"
OPEN_REQUEST = "open_request"
UPDATE_INCIDENT = "update_incident"
DRAFT_KB = "draft_kb_article"
RESOLVE_CONFLICT = "resolve_conflict"
UPDATE_RECORD = "update_record"
OPERATIONS = (OPEN_INCIDENT, OPEN_REQUEST, UPDATE_INCIDENT, DRAFT_KB, RESOLVE_CONFLICT)
STATES = {"new": 1, "in_progress": 2, "on_hold": 3, "resolved": 6, "closed": 7, "canceled": 8}
MAX_SHORT_DESCRIPTION = 160


def _text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def occurred_at_iso(event: Mapping[str, Any]) -> str | None:
    value = event.get("occurred_at")
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value / 1000, UTC).isoformat()
    return _text(value)


def _payload(event: Mapping[str, Any]) -> Mapping[str, Any]:
    value = event.get("payload")
    return value if isinstance(value, Mapping) else {}


def _call(event: Mapping[str, Any]) -> Mapping[str, Any]:
    value = event.get("call")
    return value if isinstance(value, Mapping) else {}


def sentiment_of(event: Mapping[str, Any]) -> str | None:
    return _text(_payload(event).get("sentiment")) or _text(_call(event).get("sentiment"))


def intents_of(event: Mapping[str, Any]) -> list[str]:
    for source in (_payload(event), _call(event)):
        value = source.get("intents")
        if isinstance(value, list) and value:
            return [str(v) for v in value]
    return []


def contact_of(event: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """(e-mail, phone) of the caller, for the ``sys_user`` lookup."""
    customer = event.get("customer") if isinstance(event.get("customer"), Mapping) else {}
    assert isinstance(customer, Mapping)
    match = customer.get("match") if isinstance(customer.get("match"), Mapping) else {}
    assert isinstance(match, Mapping)
    email = _text(match.get("email"))
    call = _call(event)
    phone = _text(customer.get("lookup_number"))
    if phone is None and call.get("direction") != "OUTBOUND":
        phone = _text(call.get("from_number"))
    return email, phone


def summary_of(event: Mapping[str, Any]) -> str | None:
    return _text(_payload(event).get("summary"))


def short_description(event: Mapping[str, Any], hints: Mapping[str, Any]) -> str:
    title = _text(hints.get("short_description")) or _text(hints.get("title"))
    if title is None:
        summary = summary_of(event)
        title = summary.split(". ")[0] if summary else f"Voice call {event.get('call_id')}"
    return title[:MAX_SHORT_DESCRIPTION]


def work_note(event: Mapping[str, Any]) -> str:
    """What a call event adds to the incident's work notes (no URLs: they carry tokens)."""
    kind = str(event.get("event_type") or "event")
    p = _payload(event)
    when = occurred_at_iso(event) or "unknown time"
    if kind == "call_ended":
        text = f"Call ended after {p.get('duration_s')} s (disposition: {p.get('disposition')})."
    elif kind == "call_summary":
        text = f"Call summary: {p.get('summary')}"
    elif kind == "recording_available":
        text = f"Call recording available ({p.get('format')}, {p.get('duration_s')} s)."
    elif kind == "transcript_segment":
        text = f"[{p.get('speaker')}] {p.get('text')}"
    elif kind == "call_started":
        text = f"Call started ({p.get('direction')}, queue {p.get('queue') or '-'})."
    else:
        text = f"Call event {kind}."
    return f"voicebus {when}: {text}"


def _required(record: SyncRecord) -> tuple[str, str]:
    event = record.event
    for name in ("event_id", "call_id"):
        if _text(str(event.get(name) or "")) is None:
            raise DataError(
                f"servicenow record (key {record.key!r}) has no '{name}'; every event needs "
                "event_id and call_id (the call id is the incident's correlation_id); fix the "
                "producer and replay from the DLQ"
            )
    return str(event["event_id"]), str(event["call_id"])


def _level(hints: Mapping[str, Any], name: str, fallback: int) -> int:
    value = hints.get(name, fallback)
    try:
        level = int(value)
    except (TypeError, ValueError):
        raise DataError(
            f"routing hint '{name}' must be 1, 2 or 3 (got a {type(value).__name__})"
        ) from None
    if level not in (1, 2, 3):
        raise DataError(f"routing hint '{name}' must be 1, 2 or 3, not {level}")
    return level


def task_fields(record: SyncRecord, settings: ServiceNowSettings, call_id: str) -> dict[str, Any]:
    event, hints = record.event, record.hints
    sentiment = (sentiment_of(event) or "NEUTRAL").upper()
    intents = intents_of(event)
    urgency = _level(hints, "urgency", settings.urgency_by_sentiment.get(sentiment, 3))
    impacts = [settings.impact_by_intent[i] for i in intents if i in settings.impact_by_intent]
    impact = _level(hints, "impact", min(impacts) if impacts else settings.default_impact)
    lines = [summary_of(event) or f"Voice call {call_id}."]
    lines.append(f"Sentiment: {sentiment}. Intents: {', '.join(intents) or 'none'}.")
    customer = event.get("customer")
    match = customer.get("match") if isinstance(customer, Mapping) else None
    if isinstance(match, Mapping) and match.get("name"):
        lines.append(f"Customer: {match.get('name')} ({match.get('crm')}:{match.get('record_id')})")
    return {
        "short_description": short_description(event, hints),
        "description": "\n".join(lines),
        "contact_type": "phone",
        "category": str(hints.get("category") or settings.category),
        "urgency": str(urgency),
        "impact": str(impact),
        "correlation_id": call_id,
        "correlation_display": CORRELATION_DISPLAY,
    }


def state_fields(hints: Mapping[str, Any]) -> dict[str, Any]:
    raw = hints.get("state")
    if raw is None:
        return {}
    code = STATES.get(str(raw).lower()) if not str(raw).isdigit() else int(str(raw))
    if code is None:
        raise DataError(f"routing hint 'state' must be one of {', '.join(STATES)} or a state code")
    fields: dict[str, Any] = {"state": str(code)}
    if code in (6, 7):  # ServiceNow's data policy wants a close code and notes to resolve
        fields["close_code"] = str(hints.get("close_code") or "Solved (Permanently)")
        fields["close_notes"] = str(hints.get("close_notes") or "Resolved on the voice call.")
    return fields


def kb_fields(record: SyncRecord, settings: ServiceNowSettings, call_id: str) -> dict[str, Any]:
    summary = summary_of(record.event)
    if summary is None:
        raise DataError(
            "draft_kb_article needs a call_summary event with a 'summary' (payload.summary); "
            "route only call_summary events to this operation"
        )
    base = _text(str(record.hints.get("kb_knowledge_base") or "")) or settings.kb_knowledge_base
    if base is None:
        raise DataError(
            "draft_kb_article needs a knowledge base: set VOICEBUS_SERVICENOW_KB_KNOWLEDGE_BASE "
            "(sys_id of kb_knowledge_base) or the routing hint kb_knowledge_base, then replay"
        )
    return {
        "short_description": short_description(record.event, record.hints),
        "text": f"<p>{html.escape(summary)}</p>",
        "workflow_state": "draft",
        "kb_knowledge_base": base,
        "meta": kb_marker(call_id),
    }


def kb_marker(call_id: str) -> str:
    """Keyword that marks a draft as made from this call (the idempotency lookup)."""
    return f"voicebus-call-{call_id}"


def map_record(record: SyncRecord, settings: ServiceNowSettings) -> list[Operation]:
    kind = record.operation or OPEN_INCIDENT
    if kind not in OPERATIONS:
        raise DataError(
            f"servicenow has no operation {kind!r} (routing rule action); use one of "
            f"{', '.join(OPERATIONS)}"
        )
    if kind == RESOLVE_CONFLICT:
        return [_resolution(record)]
    event_id, call_id = _required(record)
    email, phone = contact_of(record.event)
    base: dict[str, Any] = {
        "call_id": call_id,
        "event_id": event_id,
        "occurred_at": occurred_at_iso(record.event),
    }
    if kind in (OPEN_INCIDENT, OPEN_REQUEST):
        table = "incident" if kind == OPEN_INCIDENT else "sc_request"
        payload = {
            **base,
            "table": table,
            "email": email,
            "phone": phone,
            "fields": task_fields(record, settings, call_id),
        }
    elif kind == UPDATE_INCIDENT:
        fields = {"work_notes": work_note(record.event), **state_fields(record.hints)}
        payload = {**base, "table": "incident", "fields": fields}
    else:
        payload = {**base, "table": "kb_knowledge", "fields": kb_fields(record, settings, call_id)}
    return [
        Operation(kind=kind, idempotency_key=f"{event_id}:{kind}", payload=payload, key=record.key)
    ]


def _resolution(record: SyncRecord) -> Operation:
    hints = record.hints
    ref = str(hints.get("record_ref") or "")
    table, _, sys_id = ref.removeprefix("servicenow:").partition("/")
    values = hints.get("values")
    if not ref.startswith("servicenow:") or not table or len(sys_id) != 32:
        raise DataError(
            "resolve_conflict needs hints.record_ref 'servicenow:<table>/<sys_id>' (32 hex)"
        )
    if not isinstance(values, Mapping) or not values:
        raise DataError("resolve_conflict needs hints.values: {field: value, ...}")
    key = str(hints.get("idempotency_key") or f"conflict:{hints.get('conflict_id')}")
    return Operation(
        kind=UPDATE_RECORD,
        idempotency_key=key,
        payload={"table": table, "sys_id": sys_id, "fields": dict(values), "_force": True},
        key=record.key,
    )
