"""``RuleBasedConflictHandler``: the sink's ``ConflictHandler`` (``pipeline.sinks.delivery``).

When a connector raises ``ConflictError`` (the target changed after the event), the
Deliverer asks ``handle(record, operation, error)``:

- every field resolves under the rules -> a **new operation** to deliver instead: the same
  kind and key, idempotency key ``<original>:resolved``, and a payload that is the original
  with the resolved values written over the conflicting fields (top level, or inside a
  one-level nested object such as ``{"fields": {...}}``) plus three hints connectors honour:

  * ``_force: True``           -> write unconditionally (skip the modified-since check that
    raised the conflict: the conflict has been decided);
  * ``_resolved_fields``       -> ``{field: value}``, the decided values;
  * ``_record_ref``            -> the target record the conflict is about.

- any field needs a person (rule ``manual``, or a rule that cannot decide) -> a conflict
  record on ``sync.conflicts`` (status ``open``) and ``None``: the record is parked, the sink
  commits it, and ``voicebus conflicts resolve`` later publishes the decision.  When the
  conflict cannot be written, ``handle`` raises ``RetryableError`` (nothing was parked, so the
  record must be retried, not committed).

Every conflict is logged with the target, record ref, conflict id and the *names* of the
fields and their rules; never values (they may be personal data).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Protocol

from connectors.base.connector import Operation, SyncRecord
from connectors.base.errors import ConflictError, RetryableError
from pipeline.conflicts.resolve import FieldResolution, jsonable, resolve_all, to_datetime
from pipeline.conflicts.rules import ConflictRules
from pipeline.conflicts.store import ConflictField, ConflictRecord
from pipeline.dlq.records import format_time

log = logging.getLogger(__name__)

FORCE = "_force"
RESOLVED_FIELDS = "_resolved_fields"
RECORD_REF = "_record_ref"
RESOLVED_SUFFIX = ":resolved"


class ConflictPublisher(Protocol):
    """Where parked conflicts go (``store.KafkaConflictPublisher`` in production)."""

    async def publish(self, record: ConflictRecord) -> None: ...


def forced_payload(
    payload: Mapping[str, Any], values: Mapping[str, Any], record_ref: str
) -> dict[str, Any]:
    """The original payload with ``values`` written over the matching fields and the hints
    that tell the connector to write unconditionally."""
    out: dict[str, Any] = dict(payload)
    for name, value in values.items():
        if name in out:
            out[name] = value
        for nested_key, nested in list(out.items()):
            if isinstance(nested, Mapping) and not nested_key.startswith("_") and name in nested:
                out[nested_key] = {**nested, name: value}
    out[FORCE] = True
    out[RESOLVED_FIELDS] = dict(values)
    out[RECORD_REF] = record_ref
    return out


class RuleBasedConflictHandler:
    """Resolves conflicts of one target with ``rules``; parks the rest via ``publisher``."""

    def __init__(
        self, rules: ConflictRules, conflicts_producer: ConflictPublisher, *, target: str
    ) -> None:
        self.rules = rules
        self.publisher = conflicts_producer
        self.target = target

    async def handle(
        self, record: SyncRecord, operation: Operation, error: ConflictError
    ) -> Operation | None:
        event_at = to_datetime(record.event.get("occurred_at"))
        target_at = to_datetime(error.target_modified_at)
        resolutions = resolve_all(
            self.rules,
            self.target,
            error.event_values,
            error.target_values,
            event_at=event_at,
            target_at=target_at,
        )
        if all(r.resolved for r in resolutions):
            values = {r.field: r.value for r in resolutions}
            self._log("conflict resolved by rules", error, resolutions, conflict_id=None)
            return Operation(
                kind=operation.kind,
                idempotency_key=f"{operation.idempotency_key}{RESOLVED_SUFFIX}",
                payload=forced_payload(operation.payload, values, error.record_ref),
                key=operation.key,
            )
        conflict = ConflictRecord(
            target=self.target,
            record_ref=error.record_ref,
            key=record.key,
            event_id=_str_or_none(record.event.get("event_id")),
            operation_kind=operation.kind,
            idempotency_key=operation.idempotency_key,
            fields={
                r.field: ConflictField(
                    event=jsonable(r.event_value),
                    target=jsonable(r.target_value),
                    rule=r.rule.value,
                    auto=r.resolved,
                    suggested=jsonable(r.value) if r.resolved else None,
                    reason=r.reason,
                )
                for r in resolutions
            },
            event_occurred_at=format_time(event_at) if event_at else None,
            target_modified_at=error.target_modified_at,
            message=error.message,
            event=jsonable(dict(record.event)),
        )
        try:
            await self.publisher.publish(conflict)
        except Exception as exc:
            # not parked -> must not be committed: the sink retries the record later
            raise RetryableError(
                f"cannot park the conflict on {self.target} record {error.record_ref} in "
                f"sync.conflicts ({type(exc).__name__}: {exc}); the record will be retried"
            ) from exc
        self._log("conflict parked for review", error, resolutions, conflict.conflict_id)
        return None

    def _log(
        self,
        what: str,
        error: ConflictError,
        resolutions: list[FieldResolution],
        conflict_id: str | None,
    ) -> None:
        rules = {r.field: r.rule.value for r in resolutions}
        manual = [r.field for r in resolutions if not r.resolved]
        details = {
            "target": self.target,
            "record_ref": error.record_ref,
            "conflict_id": conflict_id,
            "fields": sorted(rules),
            "rules": rules,
            "manual_fields": manual,
        }
        log.log(
            logging.WARNING if conflict_id else logging.INFO,
            "%s: target=%s record_ref=%s conflict_id=%s fields=%s manual=%s",
            what,
            self.target,
            error.record_ref,
            conflict_id or "-",
            ",".join(sorted(rules)),
            ",".join(manual) or "-",
            extra={"conflict": details},
        )


def _str_or_none(value: Any) -> str | None:
    return None if value is None else str(value)
