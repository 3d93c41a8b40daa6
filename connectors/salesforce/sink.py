"""The Salesforce connector (``voicebus sink salesforce``).

Idempotency is Salesforce's own: every write is an upsert by an external id (the call id for
Tasks, the caller number for Leads) or an update of a known record id, so a replay updates
instead of duplicating (``natural_upsert``); the sync ledger only saves the API call.

Conflicts: updates of records people also edit (Opportunity stage, Contact/Lead insights) are
sent with ``If-Unmodified-Since: <event time>``.  A 412 makes the connector read the record and
raise ``ConflictError`` with both sides' values, so ``pipeline.conflicts`` applies its field
rules; the operation it sends back carries ``_force`` and is written without the precondition.
Tasks are voicebus's own records (one per call, derived only from the call), so they are
upserted unconditionally -- which is also what lets them travel in sObject Collections batches.

Batch mode: Task/Lead upserts go out through sObject Collections (``PATCH
/composite/sobjects/{type}/{externalIdField}``, up to 200 per call, ``allOrNone: false``) with
one SOQL lookup per batch for unmatched callers; per-record results become per-operation
outcomes.  Updates keep their per-record preconditions and go one by one.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import httpx

from connectors.base.connector import Connector, DeliveryResult, Operation, SyncRecord
from connectors.base.errors import ConflictError, ConnectorError, RetryableError
from connectors.salesforce.client import PreconditionFailed, SalesforceClient, soql_quote
from connectors.salesforce.config import SalesforceSettings
from connectors.salesforce.errors import TARGET, classify, first_error
from connectors.salesforce.mapping import map_record
from pipeline.observability import ApiQuotaMetrics
from pipeline.resilience.target import ResilienceSettings

log = logging.getLogger(__name__)

FORCE = "_force"  # set by pipeline.conflicts on a resolved operation


def _load_settings() -> SalesforceSettings:
    return SalesforceSettings()  # fields come from the environment


class SalesforceConnector(Connector):
    name: ClassVar[str] = TARGET
    version: ClassVar[str] = "0.1.0"
    natural_upsert: ClassVar[bool] = True

    def __init__(
        self,
        settings: SalesforceSettings | None = None,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.settings = settings if settings is not None else _load_settings()
        self.quota = ApiQuotaMetrics(TARGET)
        self.client = SalesforceClient(
            self.settings,
            transport=transport,
            on_api_usage=self.quota.observe,
            user_agent=f"voicebus-salesforce/{self.version}",
        )

    @property
    def resilience_settings(self) -> ResilienceSettings:
        return self.settings.resilience

    def map_record(self, record: SyncRecord) -> list[Operation]:
        return map_record(record, self.settings)

    # ---- one operation ----------------------------------------------------------------
    async def deliver(self, operation: Operation) -> DeliveryResult:
        payload = operation.payload
        if payload.get("method") == "update":
            return await self._update(payload)
        fields = dict(payload["fields"])
        phone = payload.get("lookup_phone")
        if phone and "WhoId" not in fields:
            found = await self.find_contacts([str(phone)])
            contact_id = found.get(str(phone))
            if contact_id and payload.get("skip_if_contact"):
                return DeliveryResult(contact_id, {"skipped": "a Contact has this number"})
            if contact_id and payload["sobject"] == "Task":
                fields["WhoId"] = contact_id
        result = await self.client.upsert(
            str(payload["sobject"]),
            str(payload["external_id_field"]),
            str(payload["external_id"]),
            fields,
        )
        return DeliveryResult(result.id, {"sobject": payload["sobject"], "created": result.created})

    async def _update(self, payload: Mapping[str, Any]) -> DeliveryResult:
        sobject, record_id = str(payload["sobject"]), str(payload["record_id"])
        fields = dict(payload["fields"])
        condition = None if payload.get(FORCE) else payload.get("if_unmodified_since")
        try:
            await self.client.update(sobject, record_id, fields, if_unmodified_since=condition)
        except PreconditionFailed:
            raise await self._conflict(sobject, record_id, fields) from None
        return DeliveryResult(record_id, {"sobject": sobject, "forced": bool(condition is None)})

    async def _conflict(
        self, sobject: str, record_id: str, fields: Mapping[str, Any]
    ) -> ConflictError:
        current = await self.client.get(sobject, record_id, [*fields, "LastModifiedDate"])
        modified = current.get("LastModifiedDate")
        return ConflictError(
            f"{TARGET} update {sobject} {record_id}: the record changed after the event "
            f"(LastModifiedDate {modified}); fields {', '.join(fields)}",
            record_ref=f"{sobject}/{record_id}",
            event_values=dict(fields),
            target_values={name: current.get(name) for name in fields},
            target_modified_at=str(modified) if modified else None,
            status_code=412,
            vendor_code="PRECONDITION_FAILED",
        )

    async def find_contacts(self, phones: Sequence[str]) -> dict[str, str]:
        """phone -> Contact Id for the numbers a Contact has as Phone or MobilePhone (one
        SOQL query; every number is a quoted, escaped literal)."""
        unique = sorted(set(phones))
        if not unique:
            return {}
        literals = ", ".join(soql_quote(p) for p in unique)
        soql = (
            "SELECT Id, Phone, MobilePhone FROM Contact "  # noqa: S608 - soql_quote()d literals
            f"WHERE Phone IN ({literals}) OR MobilePhone IN ({literals}) "
            "ORDER BY LastModifiedDate DESC"
        )
        found: dict[str, str] = {}
        for row in await self.client.query(soql):
            for number in (row.get("Phone"), row.get("MobilePhone")):
                if isinstance(number, str) and number in unique and number not in found:
                    found[number] = str(row["Id"])
        return found

    # ---- batches ----------------------------------------------------------------------
    async def deliver_batch(
        self, operations: Sequence[Operation]
    ) -> list[DeliveryResult | ConnectorError]:
        outcomes: list[DeliveryResult | ConnectorError | None] = [None] * len(operations)
        groups: dict[tuple[str, str], list[int]] = {}
        for index, operation in enumerate(operations):
            payload = operation.payload
            if payload.get("method") == "upsert" and not payload.get("skip_if_contact"):
                key = (str(payload["sobject"]), str(payload["external_id_field"]))
                groups.setdefault(key, []).append(index)
        for (sobject, field), indexes in groups.items():
            size = self.settings.batch_max_records
            for start in range(0, len(indexes), size):
                chunk = indexes[start : start + size]
                for index, outcome in zip(
                    chunk,
                    await self._collection_upsert(sobject, field, [operations[i] for i in chunk]),
                    strict=True,
                ):
                    outcomes[index] = outcome
        for index, operation in enumerate(operations):
            if outcomes[index] is None:
                try:
                    outcomes[index] = await self.deliver(operation)
                except ConnectorError as exc:
                    outcomes[index] = exc
        return [o for o in outcomes if o is not None]

    async def _collection_upsert(
        self, sobject: str, field: str, operations: Sequence[Operation]
    ) -> list[DeliveryResult | ConnectorError]:
        # one record per external id: Salesforce fails *every* item of a collection that
        # repeats an external id (two calls of one unknown number -> one Lead); the last wins
        slot: dict[str, int] = {}
        records: list[dict[str, Any]] = []
        try:
            phones = [
                str(op.payload["lookup_phone"])
                for op in operations
                if op.payload.get("lookup_phone") and "WhoId" not in op.payload["fields"]
            ]
            contacts = await self.find_contacts(phones) if phones else {}
            for op in operations:
                fields = dict(op.payload["fields"])
                contact = contacts.get(str(op.payload.get("lookup_phone")))
                if contact and sobject == "Task" and "WhoId" not in fields:
                    fields["WhoId"] = contact
                value = str(op.payload["external_id"])
                record = {**fields, field: value}
                if value in slot:
                    records[slot[value]] = record
                else:
                    slot[value] = len(records)
                    records.append(record)
            results = await self.client.collection_upsert(sobject, field, records)
        except ConnectorError as exc:
            return [exc] * len(operations)
        per_record = [self._item_outcome(result, sobject, field) for result in results]
        return [per_record[slot[str(op.payload["external_id"])]] for op in operations]

    def _item_outcome(
        self, result: Mapping[str, Any], sobject: str, field: str
    ) -> DeliveryResult | ConnectorError:
        if result.get("success"):
            return DeliveryResult(
                result.get("id"), {"sobject": sobject, "created": result.get("created")}
            )
        code, error_fields = first_error(result.get("errors"))
        if code == "DUPLICATE_VALUE":  # a concurrent create of the same external id
            return RetryableError(
                f"{TARGET} collection upsert {sobject} by {field}: {code} (concurrent upsert "
                "of the same external id; retrying)",
                vendor_code=code,
            )
        return classify(
            400,
            code,
            error_fields,
            operation=f"collection upsert {sobject} by {field}",
            limit_retry_after_s=self.settings.limit_retry_after_s,
        )

    async def refresh_credentials(self) -> None:
        """The runtime's one refresh after an AuthError; the OAuth flow already refreshed
        once for a 401, so this re-raises at once when that did not help."""
        await self.client.auth.refresh_credentials()

    async def aclose(self) -> None:
        await self.client.aclose()


def create_connector(settings: SalesforceSettings | None = None) -> SalesforceConnector:
    """Factory used by the sink runtime (``voicebus sink salesforce``)."""
    return SalesforceConnector(settings)
