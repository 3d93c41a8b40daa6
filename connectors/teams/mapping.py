"""Enriched call event -> an Adaptive Card (1.4) message for a Teams channel.

One operation per (event, channel), idempotency key ``<event_id>:<operation>@<channel>``:
Teams has no upsert, the sync ledger prevents double posts.  Operations: ``post_summary``
(needs ``payload.summary``) and ``post_alert`` (any event: a short card); absent ->
``post_summary`` for call_summary events, else ``post_alert``.  ``hints.channel`` names a
configured channel (``#support`` and ``support`` are the same), else
``VOICEBUS_TEAMS_DEFAULT_CHANNEL``.

The webhook body is Teams' documented envelope::

    {"type": "message", "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive",
      "contentUrl": null, "content": {"$schema": ..., "type": "AdaptiveCard", "version": "1.4",
      "body": [...], "actions": [...]}}]}
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

from connectors.base.connector import Operation, SyncRecord
from connectors.base.errors import DataError, PermanentError
from connectors.slack.mapping import customer_text, facts, required_field, truncate

POST_SUMMARY = "post_summary"
POST_ALERT = "post_alert"
OPERATIONS = (POST_SUMMARY, POST_ALERT)
CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
CARD_SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
CARD_VERSION = "1.4"
TEXT_MAX = 4000


def _alert_text(event: Mapping[str, Any]) -> str:
    payload = event.get("payload") if isinstance(event.get("payload"), Mapping) else {}
    assert isinstance(payload, Mapping)
    kind = event.get("event_type")
    if kind == "transcript_segment":
        return f"{str(payload.get('speaker') or 'unknown').lower()}: {payload.get('text') or ''}"
    if kind == "call_ended":
        return f"Call ended: {payload.get('disposition') or 'unknown'}"
    if kind == "call_summary":
        return str(payload.get("summary") or "")
    return str(kind)


def build_card(
    event: Mapping[str, Any], operation: str, call_url_template: str | None = None
) -> dict[str, Any]:
    payload = event.get("payload") if isinstance(event.get("payload"), Mapping) else {}
    assert isinstance(payload, Mapping)
    if operation == POST_SUMMARY:
        summary = payload.get("summary")
        if not isinstance(summary, str) or not summary.strip():
            raise DataError(
                "teams post_summary: event field 'payload.summary' is missing or empty (only "
                "call_summary events carry one; route other event types with post_alert)"
            )
        sentiment = str(payload.get("sentiment") or "unknown").lower()
        title, text = f"Call summary ({sentiment}): {customer_text(event)}", summary
    else:
        title, text = f"Call alert: {customer_text(event)}", _alert_text(event)
    body: list[dict[str, Any]] = [
        {
            "type": "TextBlock",
            "text": truncate(title, 200),
            "size": "Large",
            "weight": "Bolder",
            "wrap": True,
        },
        {"type": "TextBlock", "text": truncate(text, TEXT_MAX), "wrap": True},
        {"type": "FactSet", "facts": [{"title": k, "value": v} for k, v in facts(event)]},
        {
            "type": "TextBlock",
            "text": f"call {event.get('call_id')} · event {event.get('event_id')}",
            "isSubtle": True,
            "size": "Small",
            "wrap": True,
        },
    ]
    actions: list[dict[str, Any]] = []
    if call_url_template:
        url = call_url_template.replace("{call_id}", quote(str(event.get("call_id")), safe=""))
        actions.append({"type": "Action.OpenUrl", "title": "Open call", "url": url})
    return {
        "$schema": CARD_SCHEMA,
        "type": "AdaptiveCard",
        "version": CARD_VERSION,
        "body": body,
        "actions": actions,
    }


def webhook_body(card: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "type": "message",
        "attachments": [{"contentType": CARD_CONTENT_TYPE, "contentUrl": None, "content": card}],
    }


def choose_channel(record: SyncRecord, default: str | None, known: Sequence[str]) -> str:
    hinted = record.hints.get("channel") if record.hints else None
    channel = hinted if isinstance(hinted, str) and hinted.strip() else default
    if not channel:
        raise PermanentError(
            "teams: no channel for this record; give the routing rule hints.channel or set "
            "VOICEBUS_TEAMS_DEFAULT_CHANNEL, then replay"
        )
    name = channel.strip().lstrip("#")
    if name not in known:
        raise PermanentError(
            f"teams: channel {name!r} has no configured webhook/Graph channel (configured: "
            f"{', '.join(known) or 'none'}); add it to VOICEBUS_TEAMS_WEBHOOKS or fix the rule"
        )
    return name


def map_record(
    record: SyncRecord,
    *,
    default_channel: str | None,
    channels: Sequence[str],
    call_url_template: str | None = None,
) -> list[Operation]:
    event = record.event
    event_id = required_field(event, "event_id", "teams")
    required_field(event, "call_id", "teams")
    operation = record.operation or (
        POST_SUMMARY if event.get("event_type") == "call_summary" else POST_ALERT
    )
    if operation not in OPERATIONS:
        raise PermanentError(
            f"teams: unknown operation {operation!r} in the routing rule; use one of: "
            + ", ".join(OPERATIONS)
        )
    channel = choose_channel(record, default_channel, channels)
    card = build_card(event, operation, call_url_template)
    return [
        Operation(
            operation,
            f"{event_id}:{operation}@{channel}",
            {"channel": channel, "event_id": event_id, "card": card},
            key=record.key,
        )
    ]
