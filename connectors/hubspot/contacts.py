"""Which HubSpot contact a call belongs to.

The customer's match names the contact when it is a HubSpot one; otherwise the caller's
number is searched on ``phone`` and ``mobilephone`` (EQ for one number, IN for a batch: one
search call for up to 100 numbers).  Search is rate limited separately (about 4/s per portal),
so answers are cached per number for ``contact_cache_ttl_s`` (misses for at most 60 s, so a
contact created meanwhile is found soon).  When several contacts share a number the most
recently updated wins.  A contact reported missing later is forgotten at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from connectors.base.connector import DeliveryResult, Operation
from connectors.base.errors import ConnectorError
from connectors.hubspot.client import SEARCH_IN_LIMIT, HubSpotClient, chunks, phone_filter_groups
from connectors.hubspot.config import HubSpotSettings

Outcome = DeliveryResult | ConnectorError
NEGATIVE_CACHE_S = 60.0


class ContactResolver:
    def __init__(
        self,
        client: HubSpotClient,
        settings: HubSpotSettings,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.settings = settings
        self._clock = clock
        self._contacts: dict[str, tuple[str | None, float]] = {}  # phone -> (id, expires)

    async def resolve(
        self, operations: Sequence[Operation], outcomes: list[Outcome | None]
    ) -> dict[int, str | None]:
        resolved: dict[int, str | None] = {}
        wanted: dict[int, list[str]] = {}
        now = self._clock()
        for index, op in enumerate(operations):
            contact = op.payload.get("contact")
            if not isinstance(contact, dict):
                continue
            if contact.get("id"):
                resolved[index] = str(contact["id"])
            else:
                wanted[index] = [str(p) for p in contact.get("phones") or []]
        unknown = sorted(
            {
                p
                for phones in wanted.values()
                for p in phones
                if p not in self._contacts or self._contacts[p][1] <= now
            }
        )
        try:
            for batch in chunks(unknown, SEARCH_IN_LIMIT):
                found = await self.client.search(
                    "contacts",
                    phone_filter_groups(batch),
                    ["phone", "mobilephone", "hs_object_id"],
                )
                self._remember(batch, found)
        except ConnectorError as exc:
            for index, phones in wanted.items():
                if any(p in unknown for p in phones):
                    outcomes[index] = exc
        for index, phones in wanted.items():
            if outcomes[index] is None:
                resolved[index] = next(
                    (cid for p in phones if (cid := self._contacts.get(p, (None, 0))[0])), None
                )
        return resolved

    def _remember(self, phones: Sequence[str], found: list[dict[str, Any]]) -> None:
        now = self._clock()
        best: dict[str, dict[str, Any]] = {}
        for contact in found:
            props = contact.get("properties") or {}
            for prop in ("phone", "mobilephone"):
                number = str(props.get(prop) or "")
                if number in phones and (
                    number not in best
                    or str(contact.get("updatedAt", "")) > str(best[number].get("updatedAt", ""))
                ):
                    best[number] = contact
        for phone in phones:
            hit = best.get(phone)
            if hit is not None:
                self._contacts[phone] = (str(hit["id"]), now + self.settings.contact_cache_ttl_s)
            else:
                ttl = min(NEGATIVE_CACHE_S, self.settings.contact_cache_ttl_s)
                self._contacts[phone] = (None, now + ttl)

    def forget(self, contact_id: str) -> None:
        for phone, (cid, _) in list(self._contacts.items()):
            if cid == contact_id:
                del self._contacts[phone]
