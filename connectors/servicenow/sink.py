"""The ServiceNow connector: incidents, requests and knowledge drafts via the Table API.

The Table API has no upsert, so creates are made retry-safe on our side: the call id is the
task's ``correlation_id`` (``correlation_display`` = ``voicebus``); before creating we query for
it and create only when absent (the sync ledger skips replays before any request).  Updates
read ``sys_updated_on`` / ``sys_updated_by`` first: a record a person changed after the event
raises ``ConflictError`` for ``pipeline.conflicts``; a resolved operation (``_force``) writes
unconditionally.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, ClassVar

import httpx

from connectors.base.connector import Connector, DeliveryResult, Operation, SyncRecord
from connectors.base.errors import ConflictError, DataError, RetryableError
from connectors.servicenow import query as q
from connectors.servicenow.auth import make_auth
from connectors.servicenow.client import TableClient
from connectors.servicenow.config import ServiceNowSettings
from connectors.servicenow.mapping import (
    CORRELATION_DISPLAY,
    DRAFT_KB,
    OPEN_INCIDENT,
    OPEN_REQUEST,
    UPDATE_INCIDENT,
    UPDATE_RECORD,
    kb_marker,
    map_record,
)
from pipeline.conflicts.resolve import to_datetime
from pipeline.resilience.http import make_http_client
from pipeline.resilience.ratelimit import TokenBucket
from pipeline.resilience.target import ResilienceSettings

log = logging.getLogger(__name__)
FORCE = "_force"  # pipeline.conflicts.handler.FORCE


def _load_settings() -> ServiceNowSettings:
    return ServiceNowSettings()  # fields come from the environment


class ServiceNowConnector(Connector):
    name: ClassVar[str] = "servicenow"
    version: ClassVar[str] = "0.1.0"
    natural_upsert: ClassVar[bool] = False  # no vendor upsert: correlation_id lookup instead

    def __init__(
        self,
        settings: ServiceNowSettings | None = None,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        reload_settings: Callable[[], ServiceNowSettings] = _load_settings,
    ) -> None:
        self.settings = settings if settings is not None else reload_settings()
        self._token_http = make_http_client(self.settings.http, transport=transport)
        auth, self._refresher = make_auth(self.settings, self._token_http, reload_settings)
        self.auth = auth
        self.client = TableClient(
            self.settings.instance_url,
            auth,
            self.settings.http,
            transport=transport,
            user_agent=f"voicebus-servicenow/{self.version}",
        )
        #: learned from ``sys_created_by`` of our own creates when not configured
        self.learned_user: str | None = None

    @property
    def resilience_settings(self) -> ResilienceSettings:
        return self.settings.resilience

    @property
    def our_user(self) -> str | None:
        return self.settings.our_user or self.learned_user

    def bind_rate_limiter(self, bucket: TokenBucket) -> None:
        self.client.observe_headers = bucket.observe_headers

    def map_record(self, record: SyncRecord) -> list[Operation]:
        return map_record(record, self.settings)

    async def deliver(self, operation: Operation) -> DeliveryResult:
        payload = operation.payload
        if operation.kind in (OPEN_INCIDENT, OPEN_REQUEST):
            return await self._find_or_create_task(payload)
        if operation.kind == UPDATE_INCIDENT:
            return await self._update_incident(payload)
        if operation.kind == DRAFT_KB:
            return await self._draft_kb(payload)
        if operation.kind == UPDATE_RECORD:
            table, sys_id = str(payload["table"]), str(payload["sys_id"])
            result = await self.client.patch(table, sys_id, dict(payload["fields"]))
            return DeliveryResult(
                external_id=sys_id,
                detail={"table": table, "forced": True, "number": result.get("number")},
            )
        raise DataError(f"servicenow cannot deliver operation kind {operation.kind!r}")

    # ---- incidents and requests ----------------------------------------------------------
    async def find_by_correlation(
        self, table: str, call_id: str, fields: tuple[str, ...] = ("sys_id", "number")
    ) -> dict[str, Any] | None:
        """The one task of this call, None if absent; several -> DataError naming them."""
        query = q.all_of(
            q.eq("correlation_id", safe_call_id(call_id)),
            q.eq("correlation_display", CORRELATION_DISPLAY),
        )
        found = await self.client.query(table, query, fields=fields, limit=2, sent=[call_id])
        if len(found) > 1:
            ids = ", ".join(str(r.get("sys_id")) for r in found)
            raise DataError(
                f"servicenow: several {table} records carry this call's correlation_id "
                f"(sys_ids {ids}); merge or cancel the duplicates, then replay from the DLQ"
            )
        return found[0] if found else None

    async def lookup_caller(self, email: str | None, phone: str | None) -> str | None:
        """sys_id of the one ``sys_user`` with this e-mail or phone; None if none or several
        (we never guess a caller and never create users)."""
        conditions: list[str] = []
        for name, value in (("email", email), ("phone", phone)):
            problem = q.unsafe_reason(value) if value else None
            if problem is not None:
                # the value never reaches a query (nor this log line): caller left unmatched
                log.warning(
                    "servicenow caller lookup skipped: the caller's %s %s; caller left empty",
                    name,
                    problem[1],
                    extra={"caller_lookup": {"skipped": True, "field": name, "reason": problem[0]}},
                )
                return None
        if email:
            conditions.append(q.eq("email", email))
        if phone:
            conditions += [q.eq("phone", phone), q.eq("mobile_phone", phone)]
        if not conditions:
            return None
        found = await self.client.query(
            "sys_user",
            q.any_of(conditions),
            fields=("sys_id",),
            limit=2,
            sent=[v for v in (email, phone) if v],
        )
        if len(found) != 1:
            if found:
                log.info("servicenow caller lookup matched several users; caller left empty")
            return None
        return str(found[0].get("sys_id"))

    async def _find_or_create_task(self, payload: Mapping[str, Any]) -> DeliveryResult:
        table, call_id = str(payload["table"]), str(payload["call_id"])
        existing = await self.find_by_correlation(table, call_id)
        if existing is not None:
            return DeliveryResult(
                external_id=str(existing["sys_id"]),
                detail={"table": table, "number": existing.get("number"), "created": False},
            )
        fields = dict(payload["fields"])
        caller = await self.lookup_caller(payload.get("email"), payload.get("phone"))
        if caller is not None:
            fields["caller_id" if table == "incident" else "requested_for"] = caller
        created = await self.client.create(table, fields)
        if not self.settings.our_user and created.get("sys_created_by"):
            self.learned_user = str(created["sys_created_by"])
        return DeliveryResult(
            external_id=str(created.get("sys_id")),
            detail={"table": table, "number": created.get("number"), "created": True},
        )

    async def _update_incident(self, payload: Mapping[str, Any]) -> DeliveryResult:
        fields = dict(payload["fields"])
        call_id = str(payload["call_id"])
        wanted = ("sys_id", "number", "sys_updated_on", "sys_updated_by", *fields)
        current = await self.find_by_correlation("incident", call_id, tuple(dict.fromkeys(wanted)))
        if current is None:
            raise RetryableError(
                "servicenow update_incident: the call's incident does not exist yet (its "
                "open_incident has not been delivered); will retry"
            )
        sys_id = str(current["sys_id"])
        if not payload.get(FORCE):
            self._check_conflict(sys_id, current, fields, payload.get("occurred_at"))
        result = await self.client.patch("incident", sys_id, fields)
        return DeliveryResult(
            external_id=sys_id, detail={"table": "incident", "number": result.get("number")}
        )

    def _check_conflict(
        self,
        sys_id: str,
        current: Mapping[str, Any],
        fields: Mapping[str, Any],
        occurred_at: Any,
    ) -> None:
        modified = q.parse_glide_time(str(current.get("sys_updated_on") or ""))
        event_at = to_datetime(occurred_at)
        if modified is None or event_at is None:
            return
        event_second = event_at.replace(microsecond=0)
        ours = self.our_user
        if modified <= event_second or (ours and current.get("sys_updated_by") == ours):
            return
        raise ConflictError(
            f"servicenow incident {current.get('number') or sys_id} was changed by "
            f"{'someone else' if ours else 'a user'} at {_iso(modified)}, after the call event "
            f"({_iso(event_second)}); fields {', '.join(fields)}",
            record_ref=f"servicenow:incident/{sys_id}",
            event_values=dict(fields),
            target_values={name: current.get(name) for name in fields},
            target_modified_at=_iso(modified),
        )

    # ---- knowledge -------------------------------------------------------------------------
    async def _draft_kb(self, payload: Mapping[str, Any]) -> DeliveryResult:
        call_id = str(payload["call_id"])
        marker = kb_marker(safe_call_id(call_id))
        found = await self.client.query(
            "kb_knowledge",
            q.op("meta", "LIKE", marker),
            fields=("sys_id", "number"),
            limit=1,
            sent=[call_id],
        )
        if found:
            return DeliveryResult(
                external_id=str(found[0]["sys_id"]),
                detail={"table": "kb_knowledge", "created": False},
            )
        created = await self.client.create("kb_knowledge", dict(payload["fields"]))
        return DeliveryResult(
            external_id=str(created.get("sys_id")),
            detail={"table": "kb_knowledge", "number": created.get("number"), "created": True},
        )

    async def refresh_credentials(self) -> None:
        await self._refresher.refresh_credentials()

    async def aclose(self) -> None:
        await self.client.aclose()
        await self._token_http.aclose()


def _iso(moment: datetime) -> str:
    return moment.isoformat()


def safe_call_id(call_id: str) -> str:
    """The call id, when it can be queried as one literal (``correlation_id``, the KB marker);
    else a ``DataError`` naming the field, never the value: a call id holding ``^`` or a control
    character is invalid (it could add conditions to the lookup that keeps us idempotent)."""
    problem = q.unsafe_reason(call_id)
    if problem is not None:
        raise DataError(
            f"servicenow: the event's call_id (looked up as correlation_id) {problem[1]}; "
            "such call ids are invalid -- fix the producer's call ids, then replay from the DLQ"
        )
    return call_id


def create_connector(settings: ServiceNowSettings | None = None) -> ServiceNowConnector:
    """Factory used by the sink runtime (``voicebus sink servicenow``)."""
    return ServiceNowConnector(settings)
