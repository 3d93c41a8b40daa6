"""Customer lookup: the phone-number index over ``crm.contacts`` and the match rules.

``crm.contacts`` is keyed by ``'<crm>:<record_id>'``; enrichment needs the opposite direction
(number -> entries).  ``ContactIndex`` keeps both maps and is updated record by record, in
topic order, from the GlobalTable's changelog application (``tables.ContactsTable``): an
update replaces the entry's old numbers, a tombstone (``None``) removes them.  Applying the
topic in order therefore gives the right index even on a broker that never compacts.

Numbers are normalised to strict E.164 (``+`` and 7-15 digits after removing spaces, dashes,
dots and parentheses; ``00`` becomes ``+``).  Anything else is not indexed and a caller number
that does not normalise is "unknown": parsing national formats would need the caller's region,
which the events do not carry, so ``phonenumbers`` was not added.

Several entries for one number: CONTACT before LEAD before ACCOUNT, then the most recently
updated; ``ambiguous`` is set and every candidate is listed, best first.  Matches never cross
tenants.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pipeline.processors.call_state import to_millis

__all__ = ["RECORD_PRIORITY", "ContactIndex", "lookup_number", "normalise_number", "unmatched"]

RECORD_PRIORITY = {"CONTACT": 0, "LEAD": 1, "ACCOUNT": 2}
_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
_SEPARATORS = re.compile(r"[\s\-.()/]")


def normalise_number(raw: Any) -> str | None:
    """Strict E.164 form of ``raw`` or None."""
    if not isinstance(raw, str):
        return None
    number = _SEPARATORS.sub("", raw)
    if number.startswith("00"):
        number = "+" + number[2:]
    return number if _E164.match(number) else None


def _ref(contact: Mapping[str, Any]) -> dict[str, Any]:
    record_type = contact.get("record_type") or "CONTACT"
    return {
        "crm": str(contact["crm"]),
        "record_id": str(contact["record_id"]),
        "record_type": str(getattr(record_type, "value", record_type)),
        "name": str(contact.get("name") or ""),
        "account": contact.get("account"),
        "owner": contact.get("owner"),
        "email": contact.get("email"),
        "updated_at": to_millis(contact["updated_at"]),
    }


def unmatched(lookup_number: str | None) -> dict[str, Any]:
    """The ``customer`` block for a caller nobody knows (flagged, never dropped)."""
    return {
        "matched": False,
        "ambiguous": False,
        "lookup_number": lookup_number,
        "match": None,
        "candidates": [],
        "open_deal": None,
        "open_ticket": None,
        "context": {},
    }


class ContactIndex:
    """``key -> entry`` and ``(tenant, number) -> keys``, kept consistent on every change."""

    def __init__(self) -> None:
        self._entries: dict[str, dict[str, Any]] = {}
        self._tenant_of: dict[str, str] = {}
        self._numbers_of: dict[str, set[str]] = {}
        self._keys_by_number: dict[tuple[str, str], set[str]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def apply(self, key: str, contact: Mapping[str, Any] | None) -> None:
        """Upsert ``key`` with ``contact`` (a decoded Contact) or delete it (``None``)."""
        self._forget(key)
        if contact is None:
            return
        tenant = str(contact.get("tenant_id") or "")
        self._entries[key] = _ref(contact)
        self._tenant_of[key] = tenant
        numbers = {n for n in map(normalise_number, contact.get("phone_numbers") or ()) if n}
        self._numbers_of[key] = numbers
        for number in numbers:
            self._keys_by_number.setdefault((tenant, number), set()).add(key)

    def _forget(self, key: str) -> None:
        tenant = self._tenant_of.pop(key, "")
        for number in self._numbers_of.pop(key, set()):
            keys = self._keys_by_number.get((tenant, number))
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self._keys_by_number[(tenant, number)]
        self._entries.pop(key, None)

    def entry(self, key: str) -> dict[str, Any] | None:
        return self._entries.get(key)

    def candidates(self, tenant_id: str, number: str | None) -> list[dict[str, Any]]:
        """Entries of ``tenant_id`` with ``number``, best first."""
        normalised = normalise_number(number)
        if normalised is None:
            return []
        keys = self._keys_by_number.get((tenant_id, normalised), ())
        entries = [self._entries[k] for k in keys]
        entries.sort(key=lambda e: (e["record_id"], e["crm"]))  # stable tie-break
        entries.sort(key=lambda e: -e["updated_at"])
        entries.sort(key=lambda e: RECORD_PRIORITY.get(e["record_type"], len(RECORD_PRIORITY)))
        return entries

    def match(self, tenant_id: str, number: str | None) -> dict[str, Any]:
        """The ``customer`` block (schema CustomerMatch) without business context."""
        found = self.candidates(tenant_id, number)
        out = unmatched(normalise_number(number) or number)
        if not found:
            return out
        out["matched"] = True
        out["match"] = dict(found[0])
        if len(found) > 1:
            out["ambiguous"] = True
            out["candidates"] = [dict(e) for e in found]
        return out


def lookup_number(call: Mapping[str, Any]) -> str | None:
    """The customer's number from the call state: the caller on INBOUND calls, the callee on
    OUTBOUND ones; None while no call_started has been seen (the other events carry none)."""
    direction = call.get("direction")
    if direction == "OUTBOUND":
        return call.get("to_number")
    if direction == "INBOUND":
        return call.get("from_number")
    return None
