"""Business context per customer, folded from ``business.events``.

Teams publish what happens in their systems (a deal moving stage, a ticket closed, an incident
resolved) keyed by ``subject_ref`` = ``'<crm>:<record_id>'``, the customer's key on
``crm.contacts``.  ``BusinessContext`` keeps, per subject, the latest *open* item of each kind
(``deal``, ``ticket``, ``incident``, ... = the event type's first word); an event whose type
or ``status`` attribute says closed/resolved/won/lost closes that kind.  Events are applied in
topic order; an event older than the item it would replace is ignored, so a late
``deal_stage_changed`` cannot reopen a deal closed after it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pipeline.processors.call_state import to_millis

__all__ = ["CLOSING_WORDS", "BusinessContext", "kind_of"]

CLOSING_WORDS = frozenset({"closed", "resolved", "won", "lost", "cancelled", "canceled", "deleted"})


def kind_of(event_type: str) -> str:
    """``deal_stage_changed`` -> ``deal``; ``ticket_closed`` -> ``ticket``."""
    return event_type.split("_", 1)[0].strip().lower() or "other"


def _closes(event_type: str, attributes: Mapping[str, str]) -> bool:
    words = set(event_type.lower().split("_")[1:])
    status = str(attributes.get("status", "")).lower()
    return bool(words & CLOSING_WORDS) or status in CLOSING_WORDS


class BusinessContext:
    """``subject_ref -> {kind: item}`` of open items, plus when each kind last changed."""

    def __init__(self) -> None:
        self._open: dict[str, dict[str, dict[str, Any]]] = {}
        self._changed_at: dict[tuple[str, str], int] = {}

    def __len__(self) -> int:
        return len(self._open)

    def apply(self, event: Mapping[str, Any]) -> None:
        """Fold one decoded BusinessEvent in."""
        subject = str(event["subject_ref"])
        event_type = str(event["event_type"])
        kind = kind_of(event_type)
        at = to_millis(event["occurred_at"])
        if at < self._changed_at.get((subject, kind), -1):
            return
        self._changed_at[(subject, kind)] = at
        attributes = {str(k): str(v) for k, v in (event.get("attributes") or {}).items()}
        items = self._open.setdefault(subject, {})
        if _closes(event_type, attributes):
            items.pop(kind, None)
        else:
            items[kind] = {
                "event_id": str(event["event_id"]),
                "event_type": event_type,
                "occurred_at": at,
                "attributes": attributes,
            }
        if not items:
            del self._open[subject]

    def open_items(self, subject_ref: str) -> dict[str, dict[str, Any]]:
        return dict(self._open.get(subject_ref, {}))

    def annotate(self, customer: dict[str, Any]) -> dict[str, Any]:
        """Fill ``open_deal``/``open_ticket``/``context`` of a ``customer`` block in place."""
        match = customer.get("match")
        if not match:
            return customer
        items = self.open_items(f"{match['crm']}:{match['record_id']}")
        customer["open_deal"] = items.pop("deal", None)
        customer["open_ticket"] = items.pop("ticket", None)
        customer["context"] = {kind: item["event_id"] for kind, item in sorted(items.items())}
        return customer
