"""``deliver_batch``: new tickets through ``POST /tickets/create_many`` (up to 100 per job),
their internal notes through ``PUT /tickets/update_many``; everything else one by one.

Both endpoints answer a ``job_status`` that is polled to completion; its ``results``
(``{index, id, success, error, details}``) become per-operation outcomes: an item Zendesk
refused fails alone with its reason (``DataError`` -> DLQ), the others are delivered.
create_many takes no Idempotency-Key, so every ticket is looked up by external_id first
and only the first operation of a call in a batch creates; the rest follow one by one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from connectors.base.connector import DeliveryResult, Operation
from connectors.base.errors import ConnectorError, RetryableError
from connectors.zendesk.errors import job_item_error
from connectors.zendesk.writer import TicketWriter

Outcome = DeliveryResult | ConnectorError


def _item_failed(item: Mapping[str, Any]) -> bool:
    return bool(item.get("error")) or item.get("success") is False or item.get("id") is None


def _by_index(job: Mapping[str, Any]) -> dict[int, Mapping[str, Any]]:
    results = job.get("results") or []
    indexed: dict[int, Mapping[str, Any]] = {}
    for position, item in enumerate(results):
        if isinstance(item, Mapping):
            index = item.get("index", position)
            indexed[int(index)] = item
    return indexed


class BatchWriter:
    def __init__(self, writer: TicketWriter) -> None:
        self.w = writer

    async def deliver(self, operations: Sequence[Operation]) -> list[Outcome]:
        outcomes: dict[int, Outcome] = {}
        creates: list[tuple[int, Operation, dict[str, Any]]] = []
        later: list[int] = []
        calls_in_batch: set[str] = set()
        for index, op in enumerate(operations):
            if op.kind != "open_ticket" or op.payload.get("ticket_id") is not None:
                later.append(index)
                continue
            call_id = str(op.payload["call_id"])
            if call_id in calls_in_batch:
                later.append(index)
                continue
            try:
                found = await self.w.find_ticket_id(call_id)
                if found is not None:
                    later.append(index)
                    continue
                body = dict(op.payload["ticket"])
                requester = await self.w.requester_id(op.payload)
                if requester is not None:
                    body["requester_id"] = requester
            except ConnectorError as exc:
                outcomes[index] = exc
                continue
            calls_in_batch.add(call_id)
            creates.append((index, op, body))
        size = self.w.settings.batch_size
        for start in range(0, len(creates), size):
            await self._create_chunk(creates[start : start + size], outcomes)
        for index in later:
            try:
                outcomes[index] = await self.w.deliver(operations[index])
            except ConnectorError as exc:
                outcomes[index] = exc
        return [outcomes[i] for i in range(len(operations))]

    async def _wait(self, job: Mapping[str, Any], operation: str) -> dict[str, Any]:
        s = self.w.settings
        return await self.w.client.wait_job(
            job,
            operation,
            interval_s=s.job_poll_interval_s,
            max_interval_s=s.job_poll_max_interval_s,
            timeout_s=s.job_timeout_s,
        )

    async def _create_chunk(
        self, chunk: list[tuple[int, Operation, dict[str, Any]]], outcomes: dict[int, Outcome]
    ) -> None:
        try:
            job = await self.w.client.create_many([body for _, _, body in chunk])
        except ConnectorError as exc:
            for index, _, _ in chunk:
                outcomes[index] = exc
            return
        results = _by_index(job)
        created: list[tuple[int, Operation, int]] = []
        for position, (index, op, _) in enumerate(chunk):
            item = results.get(position)
            if item is None:
                outcomes[index] = RetryableError(
                    f"zendesk create many tickets: job {job.get('id')} has no result for item "
                    f"#{position}; will retry (a created ticket is found by external_id)"
                )
            elif _item_failed(item):
                outcomes[index] = job_item_error(item, operation="create many tickets")
            else:
                ticket_id = int(item["id"])
                self.w.ticket_of_call.remember(str(op.payload["call_id"]), ticket_id)
                created.append((index, op, ticket_id))
        if created:
            await self._notes(created, outcomes)

    async def _notes(
        self, created: list[tuple[int, Operation, int]], outcomes: dict[int, Outcome]
    ) -> None:
        tickets = [{"id": tid, "comment": dict(op.payload["note"])} for _, op, tid in created]
        try:
            job = await self.w.client.update_many(tickets)
        except ConnectorError as exc:
            for index, _, _ in created:
                outcomes[index] = exc
            return
        results = _by_index(job)
        for position, (index, _, ticket_id) in enumerate(created):
            item = results.get(position)
            if item is not None and _item_failed(item):
                outcomes[index] = job_item_error(item, operation="update many tickets")
                continue
            outcomes[index] = DeliveryResult(
                external_id=str(ticket_id),
                detail={"ticket_id": ticket_id, "created": True, "job": job.get("id")},
            )
