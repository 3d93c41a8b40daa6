"""Operations -> as few HubSpot calls as possible, with an outcome per operation.

``deliver`` (realtime) and ``deliver_batch`` (batch mode) share this code: a batch of N
operations costs, per kind, one batch call per 100 inputs plus one association call, so
batch mode syncs a call in a fraction of an API call.  HubSpot answers batches with 207
Multi-Status: ``results`` are matched to inputs by their unique property (call id, task key)
or id, ``errors`` by the ids in their ``context``; only those inputs fail.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from connectors.base.connector import DeliveryResult, Operation
from connectors.base.errors import ConnectorError, DataError, PermanentError
from connectors.hubspot.client import (
    SEARCH_IN_LIMIT,
    BatchAnswer,
    HubSpotClient,
    chunks,
    error_ids,
)
from connectors.hubspot.config import HubSpotSettings
from connectors.hubspot.conflicts import ConflictGuard
from connectors.hubspot.contacts import ContactResolver
from connectors.hubspot.errors import UniqueValueConflict, classify_error, item_status
from connectors.hubspot.mapping import KIND_CALL, KIND_CONTACT, KIND_DEAL, KIND_TASK

log = logging.getLogger(__name__)

Outcome = DeliveryResult | ConnectorError
# HubSpot-defined association type ids (used inline on task creation)
TASK_TO_CONTACT = 204
TASK_TO_DEAL = 216
DEALS = "0-3"  # the deals object type id (the path the published spec uses)


class HubSpotWriter:
    def __init__(
        self,
        client: HubSpotClient,
        settings: HubSpotSettings,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.settings = settings
        self.contacts = ContactResolver(client, settings, clock=clock)
        self.conflicts = ConflictGuard(client)

    async def deliver_many(self, operations: Sequence[Operation]) -> list[Outcome]:
        outcomes: list[Outcome | None] = [None] * len(operations)
        contact_ids = await self.contacts.resolve(operations, outcomes)
        by_kind: dict[str, list[int]] = {}
        for index, op in enumerate(operations):
            if outcomes[index] is None:
                by_kind.setdefault(op.kind, []).append(index)
        handlers = {
            KIND_CALL: self._calls,
            KIND_CONTACT: self._contact_updates,
            KIND_TASK: self._tasks,
            KIND_DEAL: self._deals,
        }
        for kind, indices in by_kind.items():
            handler = handlers.get(kind)
            if handler is None:
                for i in indices:
                    outcomes[i] = PermanentError(
                        f"hubspot: unknown operation kind {kind!r} (mapped by an older or newer "
                        "connector version); replay it with the current connector"
                    )
                continue
            try:
                await handler(operations, indices, contact_ids, outcomes)
            except ConnectorError as exc:  # a whole request failed
                for i in indices:
                    if outcomes[i] is None:
                        outcomes[i] = exc
        return [
            o if o is not None else PermanentError("hubspot: operation left without an answer")
            for o in outcomes
        ]

    # ---- calls -------------------------------------------------------------------------
    async def _calls(
        self,
        ops: Sequence[Operation],
        indices: list[int],
        contacts: dict[int, str | None],
        outcomes: list[Outcome | None],
    ) -> None:
        prop = self.settings.call_id_property
        for round_ in _rounds(indices, lambda i: str(ops[i].payload["call_id"])):
            for chunk in chunks(round_):
                inputs = [
                    {
                        "idProperty": prop,
                        "id": str(ops[i].payload["call_id"]),
                        "properties": dict(ops[i].payload["properties"]),
                        "objectWriteTraceId": str(i),
                    }
                    for i in chunk
                ]
                answer = await self._batch_or_fail(chunk, outcomes, "calls", "upsert", inputs)
                if answer is None:
                    continue
                by_key = {str(r.get("properties", {}).get(prop)): r for r in answer.results}
                key_of = {i: str(ops[i].payload["call_id"]) for i in chunk}
                engagement: dict[int, str] = {}
                self._settle(chunk, key_of, by_key, answer, outcomes, engagement, "upsert calls")
                await self._associate_calls(ops, engagement, contacts, outcomes)

    async def _associate_calls(
        self,
        ops: Sequence[Operation],
        engagement: dict[int, str],
        contacts: dict[int, str | None],
        outcomes: list[Outcome | None],
    ) -> None:
        failures: dict[int, ConnectorError] = {}
        for to_type, target_of in (
            ("contacts", lambda i: contacts.get(i)),
            ("deals", lambda i: ops[i].payload.get("deal_id")),
        ):
            pairs = {i: (engagement[i], str(t)) for i in engagement if (t := target_of(i))}
            if not pairs:
                continue
            try:
                answer = await self.client.associate_default("calls", to_type, list(pairs.values()))
            except ConnectorError as whole:
                failures.update({i: whole for i in pairs})
                continue
            for error in answer.errors:
                named = error_ids(error)
                item_error = classify_error(
                    item_status(error),
                    error,
                    operation=f"associate calls with {to_type}",
                    missing_is_data=True,
                )
                for i, (call_hs, target) in pairs.items():
                    if not named or call_hs in named or target in named:
                        failures.setdefault(i, item_error)
                        if to_type == "contacts":
                            self.contacts.forget(target)
        for i, call_hs in engagement.items():
            outcomes[i] = failures.get(i) or DeliveryResult(
                external_id=call_hs,
                detail={"contact_id": contacts.get(i), "deal_id": ops[i].payload.get("deal_id")},
            )

    # ---- contact insights --------------------------------------------------------------
    async def _contact_updates(
        self,
        ops: Sequence[Operation],
        indices: list[int],
        contacts: dict[int, str | None],
        outcomes: list[Outcome | None],
    ) -> None:
        live = []
        for i in indices:
            if contacts.get(i) is None:
                log.info("hubspot: no contact with the caller's number; insights not written")
                outcomes[i] = DeliveryResult(detail={"skipped": "no matching HubSpot contact"})
            else:
                live.append(i)
        updated = await self._update_by_id(
            "contacts", ops, live, lambda i: str(contacts[i]), outcomes, missing_is_data=True
        )
        for i in updated:
            if isinstance(outcomes[i], DataError):
                self.contacts.forget(str(contacts[i]))

    # ---- deals -------------------------------------------------------------------------
    async def _deals(
        self,
        ops: Sequence[Operation],
        indices: list[int],
        contacts: dict[int, str | None],
        outcomes: list[Outcome | None],
    ) -> None:
        await self._update_by_id(
            DEALS, ops, indices, lambda i: str(ops[i].payload["deal_id"]), outcomes
        )

    # ---- tasks -------------------------------------------------------------------------
    async def _tasks(
        self,
        ops: Sequence[Operation],
        indices: list[int],
        contacts: dict[int, str | None],
        outcomes: list[Outcome | None],
    ) -> None:
        prop = self.settings.task_id_property
        for chunk in chunks(indices):
            key_of = {i: str(ops[i].payload["task_key"]) for i in chunk}
            pending = list(chunk)
            for _attempt in range(2):
                inputs = [self._task_input(ops[i], contacts.get(i), str(i)) for i in pending]
                try:
                    answer = await self.client.batch("tasks", "create", inputs)
                except UniqueValueConflict:
                    pending = await self._adopt_existing_tasks(pending, key_of, outcomes)
                    if not pending:
                        break
                    continue
                by_key = {str(r.get("properties", {}).get(prop)): r for r in answer.results}
                conflicted = [
                    i
                    for i in pending
                    if key_of[i] not in by_key and any(item_status(e) == 409 for e in answer.errors)
                ]
                created = [i for i in pending if i not in conflicted]
                self._settle(created, key_of, by_key, answer, outcomes, None, "create tasks")
                if conflicted:
                    await self._adopt_existing_tasks(conflicted, key_of, outcomes, final=True)
                break
            for i in pending:
                if outcomes[i] is None:
                    outcomes[i] = PermanentError(
                        "hubspot create tasks: HTTP 409 CONFLICT twice for the same inputs (a task "
                        "with this voicebus task id exists but search does not return it yet); "
                        "will be dead-lettered, replay it later"
                    )

    def _task_input(self, op: Operation, contact_id: str | None, trace: str) -> dict[str, Any]:
        associations = []
        if contact_id:
            associations.append(_assoc(contact_id, TASK_TO_CONTACT))
        if op.payload.get("deal_id"):
            associations.append(_assoc(str(op.payload["deal_id"]), TASK_TO_DEAL))
        return {
            "properties": dict(op.payload["properties"]),
            "associations": associations,
            "objectWriteTraceId": trace,
        }

    async def _adopt_existing_tasks(
        self,
        pending: list[int],
        key_of: dict[int, str],
        outcomes: list[Outcome | None],
        *,
        final: bool = False,
    ) -> list[int]:
        """409: look the tasks up by their unique key; found ones are delivered (an earlier
        attempt created them), the others are returned to be created."""
        prop = self.settings.task_id_property
        keys = sorted({key_of[i] for i in pending})
        found: dict[str, str] = {}
        for batch in chunks(keys, SEARCH_IN_LIMIT):
            groups = [
                {"filters": [{"propertyName": prop, "operator": "IN", "values": list(batch)}]}
            ]
            for task in await self.client.search("tasks", groups, [prop]):
                found[str(task.get("properties", {}).get(prop))] = str(task["id"])
        rest = []
        for i in pending:
            if key_of[i] in found:
                outcomes[i] = DeliveryResult(
                    external_id=found[key_of[i]], detail={"existing": True}
                )
            elif final:
                outcomes[i] = UniqueValueConflict(
                    "hubspot create tasks: HTTP 409 CONFLICT but no task holds this voicebus "
                    "task id; check the uniqueness of the task id property"
                )
            else:
                rest.append(i)
        return rest

    # ---- shared ------------------------------------------------------------------------
    async def _update_by_id(
        self,
        object_type: str,
        ops: Sequence[Operation],
        indices: list[int],
        id_of: Callable[[int], str],
        outcomes: list[Outcome | None],
        *,
        missing_is_data: bool = False,
    ) -> list[int]:
        """Batch-update existing objects (contacts, deals) by id behind the conflict guard;
        returns the indices HubSpot answered (settled per input)."""
        label = "deals" if object_type == DEALS else object_type
        live = await self.conflicts.admit(object_type, ops, indices, id_of, outcomes)
        answered: list[int] = []
        for round_ in _rounds(live, id_of):
            for chunk in chunks(round_):
                inputs = [{"id": id_of(i), "properties": _props(ops[i].payload)} for i in chunk]
                answer = await self._batch_or_fail(
                    chunk, outcomes, object_type, "update", inputs, missing_is_data=missing_is_data
                )
                if answer is None:
                    continue
                key_of = {i: id_of(i) for i in chunk}
                by_key = {str(r.get("id")): r for r in answer.results}
                self._settle(chunk, key_of, by_key, answer, outcomes, None, f"update {label}")
                self.conflicts.wrote(object_type, answer.results)
                answered.extend(chunk)
        return answered

    async def _batch_or_fail(
        self,
        chunk: Sequence[int],
        outcomes: list[Outcome | None],
        object_type: str,
        action: str,
        inputs: list[dict[str, Any]],
        *,
        missing_is_data: bool = False,
    ) -> BatchAnswer | None:
        try:
            return await self.client.batch(
                object_type, action, inputs, missing_is_data=missing_is_data
            )
        except ConnectorError as exc:
            for i in chunk:
                outcomes[i] = exc
            return None

    def _settle(
        self,
        chunk: Sequence[int],
        key_of: dict[int, str],
        by_key: dict[str, dict[str, Any]],
        answer: BatchAnswer,
        outcomes: list[Outcome | None],
        succeeded: dict[int, str] | None,
        operation: str,
    ) -> None:
        """Results by key, errors by the ids/trace ids they name; an input with neither
        gets the first unnamed error (HubSpot did not say which input it was)."""
        named: dict[str, ConnectorError] = {}
        unnamed: ConnectorError | None = None
        for error in answer.errors:
            exc = classify_error(
                item_status(error),
                error,
                operation=operation,
                missing_is_data=operation == "update contacts",
            )
            ids = error_ids(error)
            for value in ids:
                named.setdefault(value, exc)
            if not ids and unnamed is None:
                unnamed = exc
        for i in chunk:
            result = by_key.get(key_of[i])
            if result is not None:
                if succeeded is not None:
                    succeeded[i] = str(result["id"])
                else:
                    outcomes[i] = DeliveryResult(external_id=str(result["id"]))
                continue
            outcomes[i] = (
                named.get(key_of[i])
                or named.get(str(i))
                or unnamed
                or PermanentError(
                    f"hubspot {operation}: HTTP {answer.status} without a result or an error for "
                    "this input"
                )
            )


def _props(payload: Mapping[str, Any]) -> dict[str, str]:
    """Properties as HubSpot takes them: text; a resolved ``None`` (the target had no value)
    clears the property."""
    return {k: "" if v is None else str(v) for k, v in payload["properties"].items()}


def _assoc(to_id: str, type_id: int) -> dict[str, Any]:
    return {
        "to": {"id": to_id},
        "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": type_id}],
    }


def _rounds(indices: Sequence[int], key: Callable[[int], str]) -> list[list[int]]:
    """Split so that no round holds the same key twice (HubSpot rejects duplicate ids in
    one batch); order per key is kept."""
    rounds: list[list[int]] = []
    seen: list[set[str]] = []
    for i in indices:
        k = key(i)
        for round_, keys in zip(rounds, seen, strict=True):
            if k not in keys:
                round_.append(i)
                keys.add(k)
                break
        else:
            rounds.append([i])
            seen.append({k})
    return rounds
