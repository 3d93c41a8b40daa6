"""Ticket writes: find-or-create by external_id, internal notes, safe updates, conflicts.

Why each step:

- **Find before create.** ``external_id`` (= call id) is not unique in Zendesk, so a ticket is
  looked up first; several matches are settled by ``duplicate_rule`` (oldest | newest |
  dead-letter naming the ids), never "the first one".
- **Idempotency-Key on create** (``voicebus-<event_id>-open-ticket``): a retried POST after a
  lost response returns the same ticket (``x-idempotency-lookup: hit``) for 2 hours.
- **Notes carry ``voicebus-ref: <event_id>``.**  When we cannot be sure a note was not
  already added (ticket found rather than created, idempotent replay, retry in this process),
  the ticket's comments are checked for the marker first.
- **safe_update** on field changes (status, priority ...): ``updated_stamp`` is the
  ``updated_at`` we saw on our own last write (this process), else the event's time.  409
  UpdateConflict -> ``ConflictError`` with the ticket's current values, for
  ``pipeline.conflicts``; an operation the conflict rules resolved carries ``_force`` and is
  written without safe_update.  Comment-only updates never overwrite anything and skip it.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from connectors.base.connector import DeliveryResult, Operation
from connectors.base.errors import ConflictError, DataError, RetryableError
from connectors.zendesk.client import UpdateConflict, ZendeskClient
from connectors.zendesk.config import DuplicateRule, TicketLookup, ZendeskSettings
from connectors.zendesk.mapping import REF_PREFIX

log = logging.getLogger(__name__)

#: ``pipeline.conflicts.FORCE``: the conflict was decided, write unconditionally
FORCE_FLAG = "_force"
CACHE_SIZE = 10_000


def record_ref(ticket_id: int) -> str:
    return f"zendesk:ticket/{ticket_id}"


class _Lru(OrderedDict[Any, Any]):
    def remember(self, key: Any, value: Any) -> None:
        self[key] = value
        self.move_to_end(key)
        while len(self) > CACHE_SIZE:
            self.popitem(last=False)


class TicketWriter:
    def __init__(self, client: ZendeskClient, settings: ZendeskSettings) -> None:
        self.client = client
        self.settings = settings
        #: call id -> ticket id, ticket id -> updated_at of our last write (this process)
        self.ticket_of_call: _Lru = _Lru()
        self.stamp_of_ticket: _Lru = _Lru()
        self._attempted: _Lru = _Lru()

    # ---- lookups -----------------------------------------------------------------------
    def choose(self, call_id: str, tickets: list[dict[str, Any]]) -> dict[str, Any] | None:
        if not tickets:
            return None
        if len(tickets) == 1:
            return tickets[0]
        ordered = sorted(tickets, key=lambda t: (str(t.get("created_at") or ""), t.get("id", 0)))
        rule = self.settings.duplicate_rule
        if rule is DuplicateRule.DEAD_LETTER:
            ids = ", ".join(str(t.get("id")) for t in ordered)
            raise DataError(
                f"zendesk: {len(ordered)} tickets share external_id of call {call_id} (ids "
                f"{ids}); ambiguous under VOICEBUS_ZENDESK_DUPLICATE_RULE=dead_letter: merge "
                "them in Zendesk or choose oldest/newest, then replay"
            )
        chosen = ordered[0] if rule is DuplicateRule.OLDEST else ordered[-1]
        log.warning(
            "zendesk: %d tickets share the external_id of call %s; using ticket %s (rule %s)",
            len(ordered),
            call_id,
            chosen.get("id"),
            rule.value,
        )
        return chosen

    async def find_ticket_id(self, call_id: str) -> int | None:
        cached = self.ticket_of_call.get(call_id)
        if cached is not None:
            return int(cached)
        tickets = await self.client.find_tickets(
            call_id, use_search=self.settings.ticket_lookup is TicketLookup.SEARCH
        )
        chosen = self.choose(call_id, [t for t in tickets if t.get("external_id") == call_id])
        if chosen is None:
            return None
        ticket_id = int(chosen["id"])
        self.ticket_of_call.remember(call_id, ticket_id)
        return ticket_id

    def remember(self, call_id: str | None, ticket: Mapping[str, Any]) -> None:
        ticket_id = ticket.get("id")
        if not isinstance(ticket_id, int):
            return
        if call_id:
            self.ticket_of_call.remember(call_id, ticket_id)
        if ticket.get("updated_at"):
            self.stamp_of_ticket.remember(ticket_id, ticket["updated_at"])

    def first_attempt(self, key: tuple[str, str]) -> bool:
        """True the first time this process tries ``key`` (later tries may follow a write
        whose answer was lost, so they check for the note first)."""
        first = self._attempted.get(key) is None
        self._attempted.remember(key, True)
        return first

    # ---- notes -------------------------------------------------------------------------
    async def has_note(self, ticket_id: int, event_id: str) -> bool:
        marker = f"{REF_PREFIX}{event_id}"
        for comment in await self.client.comments(ticket_id):
            if marker in str(comment.get("body") or ""):
                return True
        return False

    async def add_note(
        self, ticket_id: int, note: Mapping[str, Any], event_id: str, *, check: bool
    ) -> None:
        if check and await self.has_note(ticket_id, event_id):
            return
        updated = await self.client.update_ticket(ticket_id, {"comment": dict(note)})
        self.remember(None, updated)

    # ---- operations --------------------------------------------------------------------
    async def open_ticket(self, payload: Mapping[str, Any]) -> DeliveryResult:
        call_id = str(payload["call_id"])
        event_id = str(payload["event_id"])
        retried = self.first_attempt(("open", event_id)) is False
        hinted = payload.get("ticket_id")
        ticket_id = int(hinted) if hinted is not None else await self.find_ticket_id(call_id)
        created = False
        if ticket_id is None:
            ticket = await self.create(payload)
            ticket_id = int(ticket["id"])
            created = not ticket.get("_replayed")
        await self.add_note(ticket_id, payload["note"], event_id, check=retried or not created)
        return DeliveryResult(
            external_id=str(ticket_id), detail={"ticket_id": ticket_id, "created": created}
        )

    async def requester_id(self, payload: Mapping[str, Any]) -> int | None:
        user = payload.get("requester_user")
        if not user:
            return None
        return await self.client.create_or_update_user(user)

    async def create(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        body = dict(payload["ticket"])
        requester = await self.requester_id(payload)
        if requester is not None:
            body["requester_id"] = requester
        ticket, replayed = await self.client.create_ticket(body, str(payload["idempotency_key"]))
        if not isinstance(ticket.get("id"), int):
            raise RetryableError("zendesk create ticket: the answer has no ticket id; will retry")
        self.remember(str(payload["call_id"]), ticket)
        return {**ticket, "_replayed": replayed}

    async def update_ticket(self, payload: Mapping[str, Any]) -> DeliveryResult:
        call_id = str(payload["call_id"])
        event_id = str(payload["event_id"])
        hinted = payload.get("ticket_id")
        cached = self.ticket_of_call.get(call_id)
        ticket_id = int(hinted) if hinted is not None else await self.find_ticket_id(call_id)
        if ticket_id is None:
            raise RetryableError(
                f"zendesk: no ticket with external_id of call {call_id} yet (the event that "
                "opens it may still be on its way or in the retry topic); will retry"
            )
        retried = self.first_attempt(("update", event_id)) is False
        ticket = dict(payload["ticket"])
        comment = ticket.get("comment")
        if comment and (retried or cached is None) and await self.has_note(ticket_id, event_id):
            ticket.pop("comment")
        fields = {k: v for k, v in ticket.items() if k not in ("comment", "safe_update")}
        if not ticket:
            return DeliveryResult(external_id=str(ticket_id), detail={"ticket_id": ticket_id})
        stamp = self.stamp_of_ticket.get(ticket_id) or payload.get("event_at")
        if fields and not payload.get(FORCE_FLAG) and stamp:
            ticket["safe_update"] = True
            ticket["updated_stamp"] = stamp
        try:
            updated = await self.client.update_ticket(ticket_id, ticket)
        except UpdateConflict:
            raise await self.conflict(ticket_id, fields) from None
        self.remember(call_id if hinted is None else None, updated)
        if hinted is not None:
            self.ticket_of_call.remember(call_id, ticket_id)
        return DeliveryResult(
            external_id=str(ticket_id),
            detail={"ticket_id": ticket_id, "status": updated.get("status")},
        )

    async def conflict(self, ticket_id: int, fields: Mapping[str, Any]) -> ConflictError:
        # the stamp is deliberately not advanced: only a decision (``_force``) may overwrite
        current = await self.client.get_ticket(ticket_id)
        return ConflictError(
            f"zendesk ticket {ticket_id} changed after our last write/the event "
            f"(fields {', '.join(sorted(fields))}); resolve per the conflict rules",
            record_ref=record_ref(ticket_id),
            event_values=dict(fields),
            target_values={name: current.get(name) for name in fields},
            target_modified_at=current.get("updated_at"),
            status_code=409,
            vendor_code="UpdateConflict",
        )

    async def deliver(self, operation: Operation) -> DeliveryResult:
        if operation.kind == "open_ticket":
            return await self.open_ticket(operation.payload)
        return await self.update_ticket(operation.payload)
