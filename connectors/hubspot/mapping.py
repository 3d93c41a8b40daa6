"""A ``sync.hubspot`` record (an enriched call event) -> HubSpot operations.

========================= =================================================================
operation (routing rule)  operations
========================= =================================================================
``log_call`` (default)    ``call.upsert`` for the event types in ``call_event_types``; on a
                          ``call_summary`` also ``contact.update`` (sentiment/intents) and
                          one ``task.create`` per action item
``update_contact``        only ``contact.update``
``create_tasks``          only the ``task.create`` operations
``move_deal_stage``       ``deal.update`` with ``hints.dealstage`` (and ``hints.pipeline``) on
                          ``hints.deal_id`` or the customer's open deal (``deal_id``)
``resolve_conflict``      a person's decision (``voicebus conflicts resolve``): one forced
                          ``contact.update``/``deal.update`` writing ``hints.values`` onto
                          ``hints.record_ref`` (``hubspot:contact/<id>``, ``hubspot:deal/<id>``)
========================= =================================================================

``contact.update`` and ``deal.update`` carry the event's ``occurred_at``: the writer checks
that nobody changed the record after it (``connectors.hubspot.conflicts``).

Idempotency: the call engagement is upserted on the unique property ``call_id_property`` =
call_id, so every event of a call updates the same engagement; tasks carry the unique
property ``task_id_property`` = ``<event_id>:<item index>`` (the ledger key too), so a replay
finds the task instead of creating a second one.

The contact is the customer's match when it is a HubSpot contact; otherwise the client looks
it up by the caller's number (``phones``), at delivery time.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

from connectors.base.connector import Operation, SyncRecord
from connectors.base.errors import DataError, PermanentError
from connectors.hubspot.config import HubSpotSettings

KIND_CALL = "call.upsert"
KIND_CONTACT = "contact.update"
KIND_TASK = "task.create"
KIND_DEAL = "deal.update"

RESOLVE_CONFLICT = "resolve_conflict"
OPERATIONS = ("log_call", "update_contact", "create_tasks", "move_deal_stage", RESOLVE_CONFLICT)
RECORD_REF = re.compile(r"^hubspot:(contact|deal)/(\d+)$")
REQUIRED_FIELDS = ("event_id", "call_id", "event_type")
TASK_TYPES = {"task": "TODO", "email": "EMAIL", "call": "CALL", "meeting": "TODO"}
ENDED_EVENTS = ("call_ended", "call_summary", "recording_available")
SUBJECT_MAX = 200


def _missing(record: SyncRecord, name: str, why: str) -> DataError:
    return DataError(
        f"hubspot record (key {record.key!r}) has no '{name}': {why}; fix the producer or the "
        "routing rule, then replay from the DLQ"
    )


def to_datetime(value: Any) -> datetime | None:
    """Avro timestamp-millis arrives as datetime (fastavro) or epoch ms; ISO text too."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value / 1000.0, UTC)
    if isinstance(value, str) and value:
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def hs_time(value: datetime) -> str:
    """HubSpot datetime properties: ISO 8601 UTC with milliseconds."""
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _as_date(value: Any) -> date | None:
    """Avro ``date`` arrives as datetime.date (fastavro) or days since the epoch."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return date(1970, 1, 1) + timedelta(days=value)
    if isinstance(value, str) and value:
        try:
            return date.fromisoformat(value[:10])
        except ValueError:
            return None
    return None


def contact_ref(event: Mapping[str, Any]) -> dict[str, Any]:
    """``{"id": <HubSpot contact id or None>, "phones": [numbers to search by]}``."""
    customer = event.get("customer") or {}
    match = customer.get("match") or {}
    contact_id = None
    if str(match.get("crm", "")).lower() == "hubspot" and str(
        match.get("record_type", "CONTACT")
    ).upper() in ("CONTACT", ""):
        contact_id = str(match["record_id"]) if match.get("record_id") else None
    call = event.get("call") or {}
    payload = event.get("payload") or {}
    direction = str(call.get("direction") or payload.get("direction") or "INBOUND").upper()
    caller_side = "to_number" if direction == "OUTBOUND" else "from_number"
    phones: list[str] = []
    for number in (
        customer.get("lookup_number"),
        call.get(caller_side),
        payload.get(caller_side) if event.get("event_type") == "call_started" else None,
    ):
        if isinstance(number, str) and number.strip() and number.strip() not in phones:
            phones.append(number.strip())
    return {"id": contact_id, "phones": phones}


def deal_id_of(record: SyncRecord) -> str | None:
    hinted = record.hints.get("deal_id")
    if hinted:
        return str(hinted)
    customer = record.event.get("customer") or {}
    match = customer.get("match") or {}
    deal = customer.get("open_deal") or {}
    attributes = deal.get("attributes") or {}
    if str(match.get("crm", "")).lower() == "hubspot" and attributes.get("deal_id"):
        return str(attributes["deal_id"])
    return None


def call_properties(record: SyncRecord, settings: HubSpotSettings) -> dict[str, str]:
    event = record.event
    call = event.get("call") or {}
    payload = event.get("payload") or {}
    event_type = str(event["event_type"])
    started = to_datetime(call.get("started_at")) or to_datetime(event.get("occurred_at"))
    if started is None:
        raise _missing(record, "occurred_at", "hs_timestamp of the call needs a time")
    direction = str(call.get("direction") or payload.get("direction") or "").upper()
    props: dict[str, str] = {
        settings.call_id_property: str(event["call_id"]),
        "hs_timestamp": hs_time(started),
        "hs_call_status": "COMPLETED"
        if call.get("ended_at") or event_type in ENDED_EVENTS
        else "IN_PROGRESS",
    }
    title = {"INBOUND": "Inbound call", "OUTBOUND": "Outbound call"}.get(direction, "Call")
    queue = call.get("queue") or payload.get("queue")
    props["hs_call_title"] = f"{title} ({queue})" if queue else title
    if direction in ("INBOUND", "OUTBOUND"):
        props["hs_call_direction"] = direction
    duration = call.get("duration_s") if call.get("duration_s") is not None else None
    if duration is None and event_type in ("call_ended", "recording_available"):
        duration = payload.get("duration_s")
    if duration is not None:
        props["hs_call_duration"] = str(int(duration) * 1000)
    disposition = call.get("disposition") or (
        payload.get("disposition") if event_type == "call_ended" else None
    )
    if disposition:
        guid = settings.dispositions.get(str(disposition).lower())
        if guid:
            props["hs_call_disposition"] = guid
    for ours, theirs in (
        ("from_number", "hs_call_from_number"),
        ("to_number", "hs_call_to_number"),
    ):
        number = call.get(ours) or (payload.get(ours) if event_type == "call_started" else None)
        if number:
            props[theirs] = str(number)
    if event_type == "recording_available" and payload.get("url"):
        props["hs_call_recording_url"] = str(payload["url"])
    if event_type == "call_summary":
        body = str(payload.get("summary") or "")
        if settings.transcript_url_template:
            link = settings.transcript_url_template.format(call_id=event["call_id"])
            body += f'\n\n<a href="{link}">Transcript</a>'
        if body:
            props["hs_call_body"] = body
    return props


def _task_properties(
    record: SyncRecord, item: Mapping[str, Any], settings: HubSpotSettings, key: str
) -> dict[str, str]:
    event = record.event
    description = str(item.get("description") or "").strip()
    if not description:
        raise _missing(record, "payload.action_items[].description", "a task needs a subject")
    occurred = to_datetime(event.get("occurred_at")) or datetime.now(UTC)
    due_date = _as_date(item.get("due_date"))
    due = (
        datetime(due_date.year, due_date.month, due_date.day, 9, tzinfo=UTC)
        if due_date is not None
        else occurred + timedelta(days=settings.task_due_days)
    )
    props = {
        settings.task_id_property: key,
        "hs_task_subject": description[:SUBJECT_MAX],
        "hs_task_body": f"{description}\n\nFrom call {event['call_id']} (voicebus).",
        "hs_timestamp": hs_time(due),
        "hs_task_status": "NOT_STARTED",
        "hs_task_priority": settings.task_priority,
        "hs_task_type": TASK_TYPES.get(str(item.get("kind") or "task").lower(), "TODO"),
    }
    owner = settings.owner_ids.get(str(item.get("owner") or "")) or settings.default_owner_id
    if owner:
        props["hubspot_owner_id"] = owner
    return props


def map_record(record: SyncRecord, settings: HubSpotSettings) -> list[Operation]:
    event = record.event
    for name in REQUIRED_FIELDS:
        value = event.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            raise _missing(record, name, f"every event needs {', '.join(REQUIRED_FIELDS)}")
    operation = record.operation or "log_call"
    if operation not in OPERATIONS:
        raise PermanentError(
            f"hubspot: routing asked for operation {operation!r}, which this connector does not "
            f"support (supported: {', '.join(OPERATIONS)}); fix the routing rule, then replay"
        )
    if operation == RESOLVE_CONFLICT:
        return [map_resolution(record)]
    event_id, call_id = str(event["event_id"]), str(event["call_id"])
    occurred = to_datetime(event.get("occurred_at"))
    occurred_at = hs_time(occurred) if occurred is not None else None
    event_type = str(event["event_type"])
    payload = event.get("payload") or {}
    contact = contact_ref(event)
    deal_id = deal_id_of(record)
    ops: list[Operation] = []
    if operation == "log_call" and event_type in settings.call_event_types:
        ops.append(
            Operation(
                kind=KIND_CALL,
                idempotency_key=f"{event_id}:call",
                payload={
                    "call_id": call_id,
                    "properties": call_properties(record, settings),
                    "contact": contact,
                    "deal_id": deal_id,
                },
                key=record.key,
            )
        )
    summary = event_type == "call_summary"
    if operation in ("log_call", "update_contact") and summary:
        insights: dict[str, str] = {}
        if settings.sentiment_property and payload.get("sentiment"):
            insights[settings.sentiment_property] = str(payload["sentiment"])
        if settings.intents_property and payload.get("intents") is not None:
            insights[settings.intents_property] = ";".join(str(i) for i in payload["intents"])
        if insights:
            ops.append(
                Operation(
                    kind=KIND_CONTACT,
                    idempotency_key=f"{event_id}:contact",
                    payload={
                        "contact": contact,
                        "properties": insights,
                        "occurred_at": occurred_at,
                    },
                    key=record.key,
                )
            )
    if operation in ("log_call", "create_tasks") and summary:
        for index, item in enumerate(payload.get("action_items") or []):
            key = f"{event_id}:{index}"
            ops.append(
                Operation(
                    kind=KIND_TASK,
                    idempotency_key=f"{key}:task",
                    payload={
                        "task_key": key,
                        "properties": _task_properties(record, item, settings, key),
                        "contact": contact,
                        "deal_id": deal_id,
                    },
                    key=record.key,
                )
            )
    if operation == "move_deal_stage":
        stage = record.hints.get("dealstage")
        if not stage:
            raise PermanentError(
                "hubspot move_deal_stage: the routing rule gives no hints.dealstage (the "
                "internal stage id, e.g. closedwon); add it to the rule's hints, then replay"
            )
        if deal_id is None:
            raise _missing(
                record,
                "customer.open_deal.attributes.deal_id",
                "move_deal_stage needs hints.deal_id or a HubSpot open deal on the customer",
            )
        properties = {"dealstage": str(stage)}
        if record.hints.get("pipeline"):
            properties["pipeline"] = str(record.hints["pipeline"])
        ops.append(
            Operation(
                kind=KIND_DEAL,
                idempotency_key=f"{event_id}:deal:{stage}",
                payload={
                    "deal_id": deal_id,
                    "properties": properties,
                    "occurred_at": occurred_at,
                },
                key=record.key,
            )
        )
    return ops


def map_resolution(record: SyncRecord) -> Operation:
    """``resolve_conflict`` -> one forced update of the conflict's record with the chosen
    values; the decision's idempotency key makes a redelivery a no-op."""
    hints = record.hints
    match = RECORD_REF.match(str(hints.get("record_ref") or ""))
    if match is None:
        raise DataError(
            "hubspot resolve_conflict: hints.record_ref must be 'hubspot:contact/<id>' or "
            "'hubspot:deal/<id>' (numeric id); republish the decision with "
            "`voicebus conflicts resolve`"
        )
    values = hints.get("values")
    if not isinstance(values, Mapping) or not values:
        raise DataError(
            "hubspot resolve_conflict: hints.values must be a non-empty {property: value} "
            "object; republish the decision with `voicebus conflicts resolve`"
        )
    kind, object_id = match.groups()
    key = str(hints.get("idempotency_key") or f"conflict:{hints.get('conflict_id')}")
    properties = {str(k): v for k, v in values.items()}
    if kind == "contact":
        payload: dict[str, Any] = {
            "contact": {"id": object_id, "phones": []},
            "properties": properties,
        }
    else:
        payload = {"deal_id": object_id, "properties": properties}
    payload["_force"] = True
    return Operation(
        kind=KIND_CONTACT if kind == "contact" else KIND_DEAL,
        idempotency_key=key,
        payload=payload,
        key=record.key,
    )
