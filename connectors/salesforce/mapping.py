"""A ``sync.salesforce`` record -> Salesforce operations (one per record).

``record.operation`` (from the routing rule) picks the mapping; ``record.hints`` refine it:

``log_call`` (default)        Task upserted by the call id (``Voicebus_Call_Id__c``): every event
                              of a call rewrites the same Task, replays update it.  A
                              ``call_summary`` also yields one follow-up Task per action item,
                              upserted by ``Voicebus_Action_Item_Id__c`` = ``<event_id>:<index>``.
``upsert_lead``               Lead upserted by caller number (``Voicebus_Phone__c``), for callers
                              without a Salesforce match; hints ``last_name``, ``company``,
                              ``lookup_first`` (skip when a Contact has the number).
``update_opportunity_stage``  Opportunity ``StageName`` = hints ``stage``; id from hints
                              ``opportunity_id`` or the customer's open deal.  Conditional on
                              the record not having changed since the event.
``update_insights``           sentiment and intents of a call summary into configurable
                              Contact/Lead fields.  Conditional as above.

Documented choice: the Task ``Description`` holds the summary, sentiment, intents, action
items, the transcript *link*, the recording link and the voicebus call id, then the transcript
text when the record carries it (call_ended / call_summary records; ``[mm:ss] SPEAKER: text``
lines from ``connectors.base.transcript``, CRM class: unredacted by default), cut with a note to
stay within Salesforce's 32,000-character limit.
"""

from __future__ import annotations

import email.utils
import re
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

from connectors.base.connector import Operation, SyncRecord
from connectors.base.errors import DataError
from connectors.base.transcript import transcript_text
from connectors.salesforce.config import SalesforceSettings
from pipeline.conflicts.resolve import to_datetime

LOG_CALL = "log_call"
ACTION_ITEM = "log_action_item"  # derived from log_call of a call_summary, not a rule operation
UPSERT_LEAD = "upsert_lead"
UPDATE_STAGE = "update_opportunity_stage"
UPDATE_INSIGHTS = "update_insights"
OPERATIONS = (LOG_CALL, UPSERT_LEAD, UPDATE_STAGE, UPDATE_INSIGHTS)

DESCRIPTION_LIMIT = 32_000
TRANSCRIPT_CUT_NOTE = "\n[transcript cut at Salesforce's 32,000-character Description limit]"
SUBJECT_LIMIT = 255
_SF_ID = re.compile(r"^[a-zA-Z0-9]{15}(?:[a-zA-Z0-9]{3})?$")


def _fail(record: SyncRecord, what: str) -> DataError:
    return DataError(
        f"salesforce {record.operation or LOG_CALL} (key {record.key!r}): {what}; fix the "
        "producer or the routing rule's hints, then replay from the DLQ"
    )


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _payload_of(event: Mapping[str, Any]) -> Mapping[str, Any]:
    payload = event.get("payload")
    return payload if isinstance(payload, Mapping) else {}


def salesforce_match(event: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The customer match when it points at a Salesforce Contact or Lead."""
    customer = event.get("customer")
    match = customer.get("match") if isinstance(customer, Mapping) else None
    if not isinstance(match, Mapping) or str(match.get("crm", "")).lower() != "salesforce":
        return None
    if str(match.get("record_type", "")).upper() not in ("CONTACT", "LEAD"):
        return None
    return match if _SF_ID.match(str(match.get("record_id", ""))) else None


def caller_number(event: Mapping[str, Any]) -> str | None:
    call = event.get("call") if isinstance(event.get("call"), Mapping) else {}
    customer = event.get("customer") if isinstance(event.get("customer"), Mapping) else {}
    assert isinstance(call, Mapping) and isinstance(customer, Mapping)
    direction = str(call.get("direction") or "").upper()
    number = customer.get("lookup_number") or (
        call.get("to_number") if direction == "OUTBOUND" else call.get("from_number")
    )
    return _text(number)


def opportunity_id(record: SyncRecord) -> str | None:
    hinted = _text(record.hints.get("opportunity_id"))
    if hinted:
        return hinted
    customer = record.event.get("customer")
    deal = customer.get("open_deal") if isinstance(customer, Mapping) else None
    attributes = deal.get("attributes") if isinstance(deal, Mapping) else None
    if isinstance(attributes, Mapping):
        for key in ("opportunity_id", "deal_id"):
            value = _text(attributes.get(key))
            if value and value.startswith("006") and _SF_ID.match(value):
                return value
    return None


def http_date(moment: datetime) -> str:
    return email.utils.format_datetime(moment.astimezone(UTC), usegmt=True)


def _occurred(record: SyncRecord) -> datetime:
    moment = to_datetime(record.event.get("occurred_at"))
    if moment is None:
        raise _fail(record, "no readable 'occurred_at'")
    return moment


def _required(record: SyncRecord, name: str) -> str:
    value = _text(record.event.get(name))
    if value is None:
        raise _fail(record, f"the event has no '{name}'")
    return value


def _description(record: SyncRecord, settings: SalesforceSettings, call_id: str) -> str:
    event, call = record.event, record.event.get("call") or {}
    payload = _payload_of(event)
    lines: list[str] = []
    if _text(payload.get("summary")):
        lines += ["Summary:", str(payload["summary"]).strip(), ""]
    sentiment = payload.get("sentiment") or (call.get("sentiment") if call else None)
    if sentiment:
        lines.append(f"Sentiment: {sentiment}")
    intents = payload.get("intents") or (call.get("intents") if call else None) or []
    if intents:
        lines.append(f"Intents: {', '.join(str(i) for i in intents)}")
    for item in payload.get("action_items") or []:
        if isinstance(item, Mapping) and _text(item.get("description")):
            lines.append(f"Action item: {item['description']}")
    if settings.transcript_url_base:
        lines.append(f"Transcript: {settings.transcript_url_base.rstrip('/')}/{call_id}")
    if event.get("event_type") == "recording_available" and _text(payload.get("url")):
        lines.append(f"Recording: {payload['url']}")
    lines.append(f"voicebus call id: {call_id}")
    head = "\n".join(lines)
    transcript = transcript_text(record)
    if transcript is None:
        return head[:DESCRIPTION_LIMIT]
    description = f"{head}\n\nTranscript:\n{transcript.rstrip()}"
    if len(description) <= DESCRIPTION_LIMIT:
        return description
    return description[: DESCRIPTION_LIMIT - len(TRANSCRIPT_CUT_NOTE)] + TRANSCRIPT_CUT_NOTE


def map_log_call(record: SyncRecord, settings: SalesforceSettings) -> dict[str, Any]:
    call_id = _required(record, "call_id")
    event = record.event
    call = event.get("call") if isinstance(event.get("call"), Mapping) else {}
    assert isinstance(call, Mapping)
    payload = _payload_of(event)
    direction = str(call.get("direction") or payload.get("direction") or "INBOUND").upper()
    started = to_datetime(call.get("started_at")) or _occurred(record)
    duration = call.get("duration_s", payload.get("duration_s"))
    disposition = _text(call.get("disposition") or payload.get("disposition"))
    fields: dict[str, Any] = {
        "Subject": f"{direction.title()} call" + (f" ({disposition})" if disposition else ""),
        "TaskSubtype": "Call",
        "Type": "Call",
        "CallType": "Outbound" if direction == "OUTBOUND" else "Inbound",
        "Status": "Completed",
        "ActivityDate": started.date().isoformat(),
        "Description": _description(record, settings, call_id),
    }
    if isinstance(duration, int) and not isinstance(duration, bool) and duration >= 0:
        fields["CallDurationInSeconds"] = duration
    if disposition:
        fields["CallDisposition"] = disposition[:255]
    match = salesforce_match(event)
    if match is not None:
        fields["WhoId"] = str(match["record_id"])
    what_id = opportunity_id(record)
    if what_id:
        fields["WhatId"] = what_id
    return {
        "method": "upsert",
        "sobject": "Task",
        "external_id_field": settings.task_external_id_field,
        "external_id": call_id,
        "fields": fields,
        "lookup_phone": (
            caller_number(event) if match is None and settings.lookup_unmatched_callers else None
        ),
    }


def _due_date(value: Any) -> str | None:
    """Avro ``date`` arrives as a ``date`` (fastavro), days since the epoch or ISO text."""
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, int) and not isinstance(value, bool):
        return (date(1970, 1, 1) + timedelta(days=value)).isoformat()
    text = _text(value)
    if text is None:
        return None
    try:
        return date.fromisoformat(text[:10]).isoformat()
    except ValueError:
        return None  # an unreadable due date is left off; the item itself still matters


def map_action_items(
    record: SyncRecord, settings: SalesforceSettings, call_task: Mapping[str, Any]
) -> list[tuple[int, dict[str, Any]]]:
    """(index, payload) per action item of a ``call_summary``: a follow-up Task on the
    same Contact/Lead as the call Task.  The id ``<event_id>:<index>`` makes a replay of the
    summary update its Tasks instead of adding more."""
    if record.event.get("event_type") != "call_summary":
        return []
    event_id = _required(record, "event_id")
    call_id = str(call_task["external_id"])
    out: list[tuple[int, dict[str, Any]]] = []
    for index, item in enumerate(_payload_of(record.event).get("action_items") or []):
        description = _text(item.get("description")) if isinstance(item, Mapping) else None
        if description is None:
            continue  # nothing to do: an empty item is no task
        fields: dict[str, Any] = {
            "Subject": description[:SUBJECT_LIMIT],
            "Status": "Not Started",
            "Priority": "Normal",
            "TaskSubtype": "Task",
            "Description": f"{description}\n\nAction item from voicebus call id: {call_id}"[
                :DESCRIPTION_LIMIT
            ],
        }
        due = _due_date(item.get("due_date"))
        if due:
            fields["ActivityDate"] = due
        for name in ("WhoId", "WhatId"):
            if name in call_task["fields"]:
                fields[name] = call_task["fields"][name]
        external_id = f"{event_id}:{index}"
        out.append(
            (
                index,
                {
                    "method": "upsert",
                    "sobject": "Task",
                    "external_id_field": settings.action_item_external_id_field,
                    "external_id": external_id,
                    "fields": fields,
                    "lookup_phone": call_task.get("lookup_phone"),
                },
            )
        )
    return out


def map_upsert_lead(record: SyncRecord, settings: SalesforceSettings) -> dict[str, Any]:
    number = caller_number(record.event)
    if number is None:
        raise _fail(record, "no caller number (customer.lookup_number / call.from_number)")
    hints = record.hints
    fields: dict[str, Any] = {
        "LastName": _text(hints.get("last_name")) or f"Caller {number}",
        "Company": _text(hints.get("company")) or settings.lead_company_default,
        "Phone": number,
        "LeadSource": _text(hints.get("lead_source")) or settings.lead_source,
    }
    return {
        "method": "upsert",
        "sobject": "Lead",
        "external_id_field": settings.lead_external_id_field,
        "external_id": number,
        "fields": fields,
        "lookup_phone": number if hints.get("lookup_first") else None,
        "skip_if_contact": bool(hints.get("lookup_first")),
    }


def map_update_stage(record: SyncRecord, settings: SalesforceSettings) -> dict[str, Any]:
    stage = _text(record.hints.get("stage"))
    if stage is None:
        raise _fail(record, "the routing rule gave no hints.stage")
    opportunity = opportunity_id(record)
    if opportunity is None:
        raise _fail(record, "no opportunity id (hints.opportunity_id or customer.open_deal)")
    return {
        "method": "update",
        "sobject": "Opportunity",
        "record_id": opportunity,
        "fields": {"StageName": stage},
        "if_unmodified_since": http_date(_occurred(record)),
    }


def map_update_insights(record: SyncRecord, settings: SalesforceSettings) -> dict[str, Any]:
    match = salesforce_match(record.event)
    if match is None:
        raise _fail(record, "the caller has no Salesforce Contact/Lead match (customer.match)")
    payload = _payload_of(record.event)
    call = record.event.get("call") if isinstance(record.event.get("call"), Mapping) else {}
    assert isinstance(call, Mapping)
    sentiment = _text(payload.get("sentiment") or call.get("sentiment"))
    intents = payload.get("intents") or call.get("intents") or []
    if sentiment is None and not intents:
        raise _fail(record, "no sentiment or intents to write (payload or call aggregate)")
    fields: dict[str, Any] = {}
    if sentiment is not None:
        fields[settings.sentiment_field] = sentiment.title()
    if intents:
        fields[settings.intents_field] = ";".join(str(i) for i in intents)  # multi-select
    return {
        "method": "update",
        "sobject": "Contact" if str(match["record_type"]).upper() == "CONTACT" else "Lead",
        "record_id": str(match["record_id"]),
        "fields": fields,
        "if_unmodified_since": http_date(_occurred(record)),
    }


_MAPPERS = {
    LOG_CALL: map_log_call,
    UPSERT_LEAD: map_upsert_lead,
    UPDATE_STAGE: map_update_stage,
    UPDATE_INSIGHTS: map_update_insights,
}


def map_record(record: SyncRecord, settings: SalesforceSettings) -> list[Operation]:
    kind = record.operation or LOG_CALL
    mapper = _MAPPERS.get(kind)
    if mapper is None:
        raise DataError(
            f"salesforce: unknown operation {kind!r} in the routing rule (known: "
            f"{', '.join(OPERATIONS)}); fix the rule in routes.yaml, then replay"
        )
    event_id = _required(record, "event_id")
    payload = mapper(record, settings)
    operations = [
        Operation(
            kind=kind,
            idempotency_key=f"{event_id}:{kind}",
            payload=payload,
            key=record.key,
        )
    ]
    if kind == LOG_CALL:
        operations += [
            Operation(
                kind=ACTION_ITEM,
                idempotency_key=f"{event_id}:{ACTION_ITEM}:{index}",
                payload=item,
                key=record.key,
            )
            for index, item in map_action_items(record, settings, payload)
        ]
    return operations
