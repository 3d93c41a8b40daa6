"""The Zendesk sandbox's data: tickets (with comments), users (with identities), jobs and
idempotency records, behind one lock (tests read it while the server thread writes).

Time is second-resolution ISO 8601 like Zendesk's, and every change moves ``updated_at``
forward by at least one second, so ``safe_update`` comparisons behave as on Zendesk even
when changes follow each other within a second.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class RecordInvalid(Exception):
    """422 RecordInvalid with ``details`` naming the fields."""

    def __init__(self, details: dict[str, list[dict[str, str]]]) -> None:
        super().__init__("Record validation errors")
        self.details = details


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _blank(field: str, what: str) -> RecordInvalid:
    return RecordInvalid(
        {field: [{"description": f"{what}: cannot be blank", "error": "BlankValue"}]}
    )


class ZendeskState:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.tickets: dict[int, dict[str, Any]] = {}
        self.users: dict[int, dict[str, Any]] = {}
        self.jobs: dict[str, dict[str, Any]] = {}
        self.idempotency: dict[str, tuple[str, float, int, dict[str, Any]]] = {}
        self._next_ticket = 1
        self._next_user = 1000
        self._next_comment = 1
        self._last = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=1)

    def tick(self) -> str:
        """The time of a change: now, but always after the previous change."""
        now = datetime.now(UTC).replace(microsecond=0)
        self._last = max(now, self._last + timedelta(seconds=1))
        return iso(self._last)

    # ---- users -------------------------------------------------------------------------
    def find_user(self, *, email: str | None = None, external_id: str | None = None) -> Any:
        for user in self.users.values():
            if email and any(
                i["type"] == "email" and i["value"].lower() == email.lower()
                for i in user["identities"]
            ):
                return user
            if external_id and str(user.get("external_id") or "").lower() == external_id.lower():
                return user
        return None

    def upsert_user(self, data: Mapping[str, Any]) -> tuple[dict[str, Any], bool]:
        with self.lock:
            if not str(data.get("name") or "").strip():
                raise _blank("name", "Name")
            email = data.get("email")
            if email is not None and not _EMAIL.match(str(email)):
                raise RecordInvalid(
                    {"email": [{"description": "Email: is invalid", "error": "InvalidFormat"}]}
                )
            user = self.find_user(email=data.get("email"), external_id=data.get("external_id"))
            created = user is None
            if user is None:
                user = {"id": self._next_user, "identities": [], "created_at": self.tick()}
                self._next_user += 1
                self.users[user["id"]] = user
            for key in ("name", "email", "phone", "external_id"):
                if data.get(key):
                    user[key] = data[key]
            for kind, key in (("email", "email"), ("phone_number", "phone")):
                value = data.get(key)
                if value and not any(i["value"] == value for i in user["identities"]):
                    user["identities"].append({"type": kind, "value": value})
            user["updated_at"] = self.tick()
            return self.public_user(user), created

    @staticmethod
    def public_user(user: Mapping[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in user.items() if k != "identities"} | {"role": "end-user"}

    # ---- tickets -----------------------------------------------------------------------
    def create_ticket(self, data: Mapping[str, Any], author_id: int = 1) -> dict[str, Any]:
        with self.lock:
            comment = data.get("comment") or {}
            body = str(comment.get("body") or comment.get("html_body") or "").strip()
            if not body:
                raise _blank("description", "Description")
            requester_id = data.get("requester_id")
            if requester_id is not None and requester_id not in self.users:
                raise RecordInvalid(
                    {
                        "requester": [
                            {"description": "Requester: is invalid", "error": "InvalidValue"}
                        ]
                    }
                )
            if requester_id is None and isinstance(data.get("requester"), Mapping):
                try:
                    requester_id = self.upsert_user(data["requester"])[0]["id"]
                except RecordInvalid as exc:
                    problems = [p for found in exc.details.values() for p in found]
                    raise RecordInvalid({"requester": problems}) from None
            now = self.tick()
            ticket: dict[str, Any] = {
                "id": self._next_ticket,
                "url": f"/api/v2/tickets/{self._next_ticket}.json",
                "external_id": data.get("external_id"),
                "subject": data.get("subject"),
                "description": body,
                "status": data.get("status") or "new",
                "priority": data.get("priority"),
                "type": data.get("type"),
                "tags": sorted(set(data.get("tags") or [])),
                "requester_id": requester_id or author_id,
                "submitter_id": author_id,
                "group_id": data.get("group_id"),
                "custom_fields": list(data.get("custom_fields") or []),
                "created_at": now,
                "updated_at": now,
                "comments": [],
            }
            self._next_ticket += 1
            self._add_comment(ticket, comment, author_id, now)
            self.tickets[ticket["id"]] = ticket
            return self.public_ticket(ticket)

    def _add_comment(
        self, ticket: dict[str, Any], comment: Mapping[str, Any], author_id: int, now: str
    ) -> None:
        ticket["comments"].append(
            {
                "id": self._next_comment,
                "type": "Comment",
                "body": str(comment.get("body") or comment.get("html_body") or ""),
                "public": bool(comment.get("public", True)),
                "author_id": comment.get("author_id", author_id),
                "created_at": now,
            }
        )
        self._next_comment += 1

    def update_ticket(self, ticket_id: int, data: Mapping[str, Any]) -> dict[str, Any]:
        """Apply an update; ``LookupError`` if absent, ``ConflictError``-style
        ``StaleUpdate`` for a failed safe_update."""
        with self.lock:
            ticket = self.tickets.get(ticket_id)
            if ticket is None:
                raise LookupError(ticket_id)
            if data.get("safe_update"):
                stamp = data.get("updated_stamp")
                if not stamp:
                    raise _blank("updated_stamp", "Updated stamp")
                if parse(ticket["updated_at"]) > parse(str(stamp)):
                    raise StaleUpdate(ticket_id)
            now = self.tick()
            comment = data.get("comment")
            if isinstance(comment, Mapping):
                if not str(comment.get("body") or comment.get("html_body") or "").strip():
                    raise _blank("comment", "Comment")
                self._add_comment(ticket, comment, 1, now)
            for key in ("subject", "status", "priority", "type", "group_id", "external_id"):
                if key in data:
                    ticket[key] = data[key]
            if "tags" in data:
                ticket["tags"] = sorted(set(data["tags"] or []))
            if "custom_fields" in data:
                values = {f["id"]: f for f in ticket["custom_fields"]}
                values.update({f["id"]: f for f in data["custom_fields"]})
                ticket["custom_fields"] = list(values.values())
            ticket["updated_at"] = now
            return self.public_ticket(ticket)

    def change_behind_our_back(self, ticket_id: int, **fields: Any) -> dict[str, Any]:
        """What an agent does in the Zendesk UI: change fields, bump updated_at."""
        with self.lock:
            ticket = self.tickets[int(ticket_id)]
            ticket.update(fields)
            ticket["updated_at"] = self.tick()
            return self.public_ticket(ticket)

    def seed_ticket(
        self, external_id: str, subject: str = "seeded", age_s: float = 3600.0
    ) -> dict[str, Any]:
        """A ticket that existed ``age_s`` before now (created by someone else)."""
        with self.lock:
            ticket = self.create_ticket(
                {"external_id": external_id, "subject": subject, "comment": {"body": "seeded"}}
            )
            then = iso(datetime.now(UTC) - timedelta(seconds=age_s))
            stored = self.tickets[ticket["id"]]
            stored["created_at"] = stored["updated_at"] = then
            for comment in stored["comments"]:
                comment["created_at"] = then
            return self.public_ticket(stored)

    def find_by_external_id(self, external_id: str) -> list[dict[str, Any]]:
        with self.lock:
            return [
                self.public_ticket(t)
                for t in self.tickets.values()
                if t.get("external_id") == external_id
            ]

    def comments(self, ticket_id: int) -> list[dict[str, Any]]:
        with self.lock:
            return [dict(c) for c in self.tickets[ticket_id]["comments"]]

    @staticmethod
    def public_ticket(ticket: Mapping[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in ticket.items() if k != "comments"}

    # ---- idempotency -------------------------------------------------------------------
    def idempotent(self, key: str, fingerprint: str) -> tuple[int, dict[str, Any]] | str | None:
        """The stored (status, body) for ``key``; ``"mismatch"`` for a different request."""
        with self.lock:
            stored = self.idempotency.get(key)
            if stored is None or time.time() - stored[1] > 2 * 3600:
                return None
            if stored[0] != fingerprint:
                return "mismatch"
            return stored[2], stored[3]

    def remember(self, key: str, fingerprint: str, status: int, body: dict[str, Any]) -> None:
        with self.lock:
            self.idempotency[key] = (fingerprint, time.time(), status, body)


class StaleUpdate(Exception):
    def __init__(self, ticket_id: int) -> None:
        super().__init__(ticket_id)
        self.ticket_id = ticket_id
