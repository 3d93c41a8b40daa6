"""A ``sync.zendesk`` record (enriched call event) -> Zendesk ticket operations.

Two operation kinds:

- ``open_ticket`` (routing operation ``open_ticket``): find the call's ticket by
  ``external_id = call_id`` or create it (subject, public first comment with the summary and
  the transcript link, requester, priority, tags, custom fields), then add an internal note
  with the call's details.  Payload: ``{"call_id", "ticket": <create body>, "requester_user":
  <user for users/create_or_update or None>, "note": <comment>, "idempotency_key"}``.
- ``update_ticket`` (``add_context``, ``link_ticket`` or a record without operation): add an
  internal note to the call's ticket (by ``hints.ticket_id``, the event's ``ticket_id``, the
  caller's open ticket, or the call's external_id) and set the status from the disposition.
  Payload: ``{"call_id", "ticket_id" | None, "ticket": {"comment", ["status"], ...},
  "event_at"}``.  Fields beside ``comment`` in ``ticket`` are the ones a ``ConflictError``
  reports, so ``pipeline.conflicts`` can write resolved values over them.

Every note ends with ``voicebus-ref: <event_id>`` so a redelivery can see the note exists.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from connectors.base.connector import Operation, SyncRecord
from connectors.base.errors import DataError
from connectors.zendesk.config import TICKET_PRIORITIES, ZendeskSettings

OPEN_TICKET = "open_ticket"
UPDATE_TICKET = "update_ticket"
UPDATE_OPERATIONS = {None, "", "add_context", "link_ticket", "update_ticket"}
REQUIRED_FIELDS = ("event_id", "call_id")
REF_PREFIX = "voicebus-ref: "
_TAG_UNSAFE = re.compile(r"[^a-z0-9_]+")


def lookup(event: Mapping[str, Any], path: str) -> Any:
    """Value at a dotted path (``call.queue``, ``customer.match.email``) or None."""
    value: Any = event
    for part in path.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if hasattr(value, "value"):  # enums
        value = value.value
    text = str(value).strip()
    return text or None


def event_time(event: Mapping[str, Any]) -> str | None:
    """``occurred_at`` (datetime / epoch ms / ISO) as ISO 8601 UTC."""
    occurred = event.get("occurred_at")
    if isinstance(occurred, datetime):
        when = occurred if occurred.tzinfo else occurred.replace(tzinfo=UTC)
    elif isinstance(occurred, int | float) and not isinstance(occurred, bool):
        when = datetime.fromtimestamp(occurred / 1000.0, UTC)
    elif isinstance(occurred, str):
        return occurred
    else:
        return None
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def tag(value: str) -> str:
    return _TAG_UNSAFE.sub("_", value.lower()).strip("_")


def intents(event: Mapping[str, Any]) -> list[str]:
    found = lookup(event, "payload.intents") or lookup(event, "call.intents") or []
    return [str(i) for i in found if str(i).strip()]


def sentiment(event: Mapping[str, Any]) -> str | None:
    value = _text(lookup(event, "payload.sentiment")) or _text(lookup(event, "call.sentiment"))
    return value.upper() if value else None


def disposition(event: Mapping[str, Any]) -> str | None:
    return _text(lookup(event, "payload.disposition")) or _text(lookup(event, "call.disposition"))


def priority(event: Mapping[str, Any], settings: ZendeskSettings, hints: Mapping[str, Any]) -> str:
    hinted = _text(hints.get("priority"))
    if hinted in TICKET_PRIORITIES:
        return hinted
    rank = {p: i for i, p in enumerate(TICKET_PRIORITIES)}
    by_intent = [
        settings.priority_map[f"intent:{i}"]
        for i in intents(event)
        if f"intent:{i}" in settings.priority_map
    ]
    if by_intent:
        return max(by_intent, key=rank.__getitem__)
    mood = sentiment(event)
    return settings.priority_map.get(mood or "", "normal")


def _require(record: SyncRecord) -> tuple[str, str]:
    for name in REQUIRED_FIELDS:
        value = record.event.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            raise DataError(
                f"zendesk record (key {record.key!r}) has no '{name}'; every event needs "
                f"{' and '.join(REQUIRED_FIELDS)} (the ticket's external_id and the note "
                "reference); fix the producer and replay from the DLQ"
            )
    return str(record.event["event_id"]), str(record.event["call_id"])


def _action_items(event: Mapping[str, Any]) -> list[str]:
    items = lookup(event, "payload.action_items") or []
    lines = []
    for item in items:
        if isinstance(item, Mapping) and _text(item.get("description")):
            owner = _text(item.get("owner"))
            lines.append(f"- {item['description']}" + (f" (owner: {owner})" if owner else ""))
    return lines


def note_body(event: Mapping[str, Any], event_id: str, call_id: str) -> str:
    """The internal note: what the call was about, for agents (never public)."""
    kind = _text(event.get("event_type")) or "event"
    lines = [f"Voice call {call_id} ({kind.replace('_', ' ')})"]
    summary = _text(lookup(event, "payload.summary"))
    if summary:
        lines += ["", f"Summary: {summary}"]
    facts = [
        ("Sentiment", sentiment(event)),
        ("Intents", ", ".join(intents(event)) or None),
        ("Disposition", disposition(event)),
        ("Duration (s)", _text(lookup(event, "payload.duration_s"))),
        ("Agent", _text(lookup(event, "call.agent"))),
        ("Queue", _text(lookup(event, "call.queue"))),
        ("Recording", _text(lookup(event, "payload.url"))),
    ]
    shown = [f"{label}: {value}" for label, value in facts if value]
    if shown:
        lines += ["", *shown]
    actions = _action_items(event)
    if actions:
        lines += ["", "Action items:", *actions]
    lines += ["", f"{REF_PREFIX}{event_id}"]
    return "\n".join(lines)


def _public_body(event: Mapping[str, Any], call_id: str, settings: ZendeskSettings) -> str:
    summary = _text(lookup(event, "payload.summary"))
    body = summary or f"We received your call ({call_id}) and opened this request."
    if settings.transcript_url_template:
        link = settings.transcript_url_template.format(
            call_id=call_id, tenant_id=event.get("tenant_id") or ""
        )
        body += f"\n\nTranscript: {link}"
    return body


def _requester(event: Mapping[str, Any]) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """(inline ``requester`` for the ticket, user for users/create_or_update) -- at most one.
    A matched e-mail goes inline (Zendesk finds or creates that user); a phone-only caller
    is created/updated by external id first."""
    match = lookup(event, "customer.match")
    number = _text(lookup(event, "customer.lookup_number")) or _text(
        lookup(event, "call.from_number")
    )
    if isinstance(match, Mapping):
        name = _text(match.get("name")) or "Caller"
        email = _text(match.get("email"))
        if email:
            return {"name": name, "email": email}, None
        external = f"{match.get('crm')}:{match.get('record_id')}"
        user: dict[str, Any] = {"name": name, "external_id": external}
        if number:
            user["phone"] = number
        return None, user
    if number:
        digits = re.sub(r"\D", "", number)
        return None, {"name": f"Caller {number}", "phone": number, "external_id": f"tel:{digits}"}
    return None, None


def _custom_fields(event: Mapping[str, Any], settings: ZendeskSettings) -> list[dict[str, Any]]:
    fields = []
    for field_id, path in sorted(settings.custom_fields.items()):
        value = lookup(event, path)
        if isinstance(value, list):
            value = [_text(v) for v in value]
        elif value is not None:
            value = _text(value)
        if value not in (None, []):
            fields.append({"id": int(field_id), "value": value})
    return fields


def _tags(event: Mapping[str, Any], settings: ZendeskSettings, hints: Mapping[str, Any]) -> list:
    hinted = hints.get("tags") or []
    if isinstance(hinted, str):
        hinted = [t for t in hinted.split(",")]
    raw: Sequence[str] = [*settings.default_tags, *hinted, *(f"intent_{i}" for i in intents(event))]
    tags: list[str] = []
    for value in raw:
        cleaned = tag(str(value))
        if cleaned and cleaned not in tags:
            tags.append(cleaned)
    return tags


def _hinted_ticket_id(record: SyncRecord, settings: ZendeskSettings) -> int | None:
    """The ticket to link: routing hint, the event's ``ticket_id``, or the caller's open
    ticket (``customer.open_ticket.attributes[open_ticket_attribute]``), in that order."""
    candidates = [record.hints.get("ticket_id"), record.event.get("ticket_id")]
    if settings.open_ticket_attribute:
        attributes = lookup(record.event, "customer.open_ticket.attributes")
        if isinstance(attributes, Mapping):
            candidates.append(attributes.get(settings.open_ticket_attribute))
    for value in candidates:
        if value is None or value == "":
            continue
        try:
            return int(str(value))
        except ValueError:
            raise DataError(
                f"zendesk record (key {record.key!r}) names ticket id {str(value)[:20]!r}, "
                "which is not a number; fix the routing hint or the event and replay"
            ) from None
    return None


def open_ticket(record: SyncRecord, settings: ZendeskSettings) -> Operation:
    event_id, call_id = _require(record)
    event, hints = record.event, record.hints
    first_intent = intents(event)[0] if intents(event) else "call"
    subject = _text(hints.get("subject")) or settings.subject_template.format(
        call_id=call_id,
        intent=first_intent.replace("_", " "),
        customer=_text(lookup(event, "customer.match.name")) or "unknown caller",
    )
    ticket: dict[str, Any] = {
        "subject": subject[:250],
        "comment": {"body": _public_body(event, call_id, settings), "public": True},
        "priority": priority(event, settings, hints),
        "tags": _tags(event, settings, hints),
        "external_id": call_id,
    }
    fields = _custom_fields(event, settings)
    if fields:
        ticket["custom_fields"] = fields
    group = hints.get("group") or hints.get("group_id")
    if group is not None:
        try:
            ticket["group_id"] = int(str(group))
        except ValueError:
            raise DataError(
                f"zendesk routing hint 'group' for key {record.key!r} must be a Zendesk group id "
                "(a number); fix routes.yaml"
            ) from None
    inline, user = _requester(event)
    if inline is not None:
        ticket["requester"] = inline
    return Operation(
        kind=OPEN_TICKET,
        idempotency_key=f"{event_id}:{OPEN_TICKET}",
        payload={
            "call_id": call_id,
            "event_id": event_id,
            "ticket_id": _hinted_ticket_id(record, settings),
            "ticket": ticket,
            "requester_user": user,
            "note": {"body": note_body(event, event_id, call_id), "public": False},
            "idempotency_key": f"voicebus-{event_id}-open-ticket",
            "event_at": event_time(event),
        },
        key=record.key,
    )


def update_ticket(record: SyncRecord, settings: ZendeskSettings) -> Operation:
    event_id, call_id = _require(record)
    ticket: dict[str, Any] = {
        "comment": {"body": note_body(record.event, event_id, call_id), "public": False}
    }
    status = settings.status_map.get(disposition(record.event) or "")
    if status:
        ticket["status"] = status
    return Operation(
        kind=UPDATE_TICKET,
        idempotency_key=f"{event_id}:{UPDATE_TICKET}",
        payload={
            "call_id": call_id,
            "event_id": event_id,
            "ticket_id": _hinted_ticket_id(record, settings),
            "ticket": ticket,
            "event_at": event_time(record.event),
        },
        key=record.key,
    )


def map_record(record: SyncRecord, settings: ZendeskSettings) -> list[Operation]:
    operation = record.operation
    if operation == OPEN_TICKET:
        return [open_ticket(record, settings)]
    if operation in UPDATE_OPERATIONS:
        return [update_ticket(record, settings)]
    raise DataError(
        f"zendesk record (key {record.key!r}) asks for operation {operation!r}, which this "
        "connector does not know (open_ticket, add_context, link_ticket); fix routes.yaml"
    )
