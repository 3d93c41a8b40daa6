"""Conflict detection for HubSpot records people also edit (contacts' insight properties,
deals' stage).

HubSpot has no conditional write (no ``If-Unmodified-Since``, no version on a batch update),
so before an update the record is read (``GET /crm/v3/objects/{type}/{id}`` with the fields we
write and the modified-date properties).  Its last change is the latest of ``updatedAt``,
``hs_lastmodifieddate`` and, for contacts, ``lastmodifieddate`` (HubSpot's documented contact
property; newer portals fill both).  The record is in conflict when that change is *after the
event's* ``occurred_at`` and:

- it is not our own previous write: the connector remembers, per record, the modification time
  HubSpot answered to its last update (in memory only -- after a restart our own earlier write
  can look like someone else's, and the conflict rules decide; acceptable, since
  ``voice_wins``/``latest_wins`` then write the same value again);
- at least one field we write holds a different value (when HubSpot already has our values,
  there is nothing to lose and the write goes ahead).

Known limit: HubSpot bumps a record's modified date for changes to *any* property, including
ones it computes when activities are associated, so a record can be reported in conflict for a
change that did not touch our fields.  The fields' own history
(``propertiesWithHistory``) would be exact; it costs a larger read and is the next step if
false conflicts show up in ``sync.conflicts``.

Operations carrying ``_force`` (resolved by ``pipeline.conflicts``, or a person's decision via
``resolve_conflict``) skip the check.  Call engagements and tasks are voicebus's own records
(keyed by call id / task key, never edited as a whole by people), so they are not checked.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from connectors.base.connector import DeliveryResult, Operation
from connectors.base.errors import ConflictError, ConnectorError
from connectors.hubspot.client import HubSpotClient
from connectors.hubspot.mapping import to_datetime

FORCE = "_force"  # pipeline.conflicts.handler.FORCE
MODIFIED_PROPERTIES = ("hs_lastmodifieddate", "lastmodifieddate")
REF_NAMES = {"contacts": "contact", "0-3": "deal", "deals": "deal"}

Outcome = DeliveryResult | ConnectorError


def record_ref(object_type: str, object_id: str) -> str:
    """``hubspot:contact/<id>`` / ``hubspot:deal/<id>`` (what ``resolve_conflict`` reads)."""
    return f"hubspot:{REF_NAMES.get(object_type, object_type)}/{object_id}"


def modified_at(record: Mapping[str, Any]) -> datetime | None:
    """The latest of the record's modification stamps (None when it has none)."""
    props = record.get("properties") or {}
    stamps = [to_datetime(record.get("updatedAt"))]
    stamps += [to_datetime(props.get(name)) for name in MODIFIED_PROPERTIES]
    known = [s for s in stamps if s is not None]
    return max(known) if known else None


class ConflictGuard:
    """Reads records before they are updated and tells conflicts from safe writes."""

    def __init__(self, client: HubSpotClient) -> None:
        self.client = client
        self._ours: dict[str, datetime] = {}  # record ref -> modified time of our last write

    async def admit(
        self,
        object_type: str,
        ops: Sequence[Operation],
        indices: Sequence[int],
        id_of: Callable[[int], str],
        outcomes: list[Outcome | None],
    ) -> list[int]:
        """The indices that may be written now; the others get a ``ConflictError`` (or the
        read's error) in ``outcomes``."""
        admitted = []
        for i in indices:
            payload = ops[i].payload
            occurred = to_datetime(payload.get("occurred_at"))
            if payload.get(FORCE) or occurred is None:
                admitted.append(i)
                continue
            try:
                conflict = await self.check(
                    object_type, id_of(i), dict(payload["properties"]), occurred
                )
            except ConnectorError as exc:
                outcomes[i] = exc
                continue
            if conflict is None:
                admitted.append(i)
            else:
                outcomes[i] = conflict
        return admitted

    async def check(
        self, object_type: str, object_id: str, values: Mapping[str, Any], occurred: datetime
    ) -> ConflictError | None:
        current = await self.client.get(object_type, object_id, [*values, *MODIFIED_PROPERTIES])
        changed = modified_at(current)
        ref = record_ref(object_type, object_id)
        if changed is None or changed <= occurred:
            return None
        ours = self._ours.get(ref)
        if ours is not None and changed <= ours:
            return None
        props = current.get("properties") or {}
        theirs = {name: props.get(name) for name in values}
        if all(_same(theirs[name], value) for name, value in values.items()):
            return None
        stamp = changed.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        return ConflictError(
            f"hubspot update {ref}: the record changed at {stamp}, after the event; fields "
            f"{', '.join(values)} (conflict rules decide, or a person via sync.conflicts)",
            record_ref=ref,
            event_values=dict(values),
            target_values=theirs,
            target_modified_at=stamp,
            vendor_code="MODIFIED_AFTER_EVENT",
        )

    def wrote(self, object_type: str, results: Sequence[Mapping[str, Any]]) -> None:
        """Remember the modification time HubSpot gave our own updates."""
        for result in results:
            changed = modified_at(result)
            if changed is not None and result.get("id") is not None:
                self._ours[record_ref(object_type, str(result["id"]))] = changed


def _same(theirs: Any, ours: Any) -> bool:
    """HubSpot answers every property as text; an unset property equals an empty value."""
    return ("" if theirs is None else str(theirs)) == ("" if ours is None else str(ours))
