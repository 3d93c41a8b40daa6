"""A person's decision on a parked conflict (``voicebus conflicts resolve``).

The decision is published to ``sync.<target>`` as a record the sink delivers like any other:

- key: the conflict's key (the call id), so it is ordered with that call's records;
- value: the conflict's event, Avro-encoded again with the call-event schema (the sink
  decodes every value; the event gives the connector its context);
- headers: ``vb-operation: resolve_conflict``, ``vb-route: conflict-resolution`` and
  ``vb-hints`` = JSON ``{"conflict_id", "record_ref", "values", "force": true,
  "operation_kind", "idempotency_key": "conflict:<id>"}``.

A connector maps ``resolve_conflict`` to one operation that writes ``values`` onto
``record_ref`` unconditionally (``force``), with the given idempotency key so a redelivery
is a no-op.  Then the conflict gets a new record on ``sync.conflicts`` with status
``resolved``, the chosen values, who and when.
"""

from __future__ import annotations

import getpass
import json
from collections.abc import Mapping
from typing import Any

from pipeline import headers as h
from pipeline.config import Settings
from pipeline.conflicts.store import ConflictRecord, ensure_conflicts_topic, publish_conflict
from pipeline.dlq import kafka_io
from pipeline.dlq.records import iso_now, sync_topic

RESOLVE_OPERATION = "resolve_conflict"
RESOLUTION_ROUTE = "conflict-resolution"
CHOICES = ("event", "target")


def parse_literal(text: str) -> Any:
    """A literal chosen on the command line: JSON when it parses (numbers, lists, null,
    quoted strings), otherwise the text itself."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def choose_values(
    conflict: ConflictRecord, take: str | None, field_choices: Mapping[str, str]
) -> dict[str, Any]:
    """The value of every field: ``--field NAME=event|target|<literal>`` first, then
    ``--take event|target``, then the rule's own suggestion for fields it resolved."""
    if take is not None and take not in CHOICES:
        raise kafka_io.ToolError(f"--take must be one of {', '.join(CHOICES)}, not {take!r}")
    unknown = sorted(set(field_choices) - set(conflict.fields))
    if unknown:
        raise kafka_io.ToolError(
            f"conflict {conflict.conflict_id} has no field(s) {', '.join(unknown)}; its fields "
            f"are {', '.join(conflict.fields)}"
        )
    values: dict[str, Any] = {}
    undecided: list[str] = []
    for name, field in conflict.fields.items():
        choice = field_choices.get(name, take)
        if choice == "event":
            values[name] = field.event
        elif choice == "target":
            values[name] = field.target
        elif choice is not None:
            values[name] = parse_literal(choice)
        elif field.auto:
            values[name] = field.suggested
        else:
            undecided.append(name)
    if undecided:
        raise kafka_io.ToolError(
            f"no choice for field(s) {', '.join(undecided)} of conflict "
            f"{conflict.conflict_id}: give --take event|target or --field NAME=event|target|"
            "<value> for each"
        )
    return values


def resolution_hints(conflict: ConflictRecord, values: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "conflict_id": conflict.conflict_id,
        "record_ref": conflict.record_ref,
        "values": dict(values),
        "force": True,
        "operation_kind": conflict.operation_kind,
        "idempotency_key": f"conflict:{conflict.conflict_id}",
    }


def encode_event(settings: Settings, conflict: ConflictRecord) -> bytes:
    if not conflict.event:
        raise kafka_io.ToolError(
            f"conflict {conflict.conflict_id} holds no event to publish the resolution with"
        )
    from pipeline.schema_catalog import CALL_EVENT_SCHEMA, load_schema, subject_for
    from pipeline.serde import AvroCodec

    try:
        return AvroCodec(settings).encode(
            conflict.event,
            subject=subject_for(CALL_EVENT_SCHEMA),
            schema=load_schema(CALL_EVENT_SCHEMA),
        )
    except Exception as exc:  # EncodeError, registry unreachable: one clear line
        raise kafka_io.ToolError(
            f"cannot encode the event of conflict {conflict.conflict_id}: {exc}"
        ) from exc


def publish_resolution(
    settings: Settings,
    conflict: ConflictRecord,
    values: Mapping[str, Any],
    *,
    resolved_by: str | None = None,
) -> ConflictRecord:
    """Publish the decision to ``sync.<target>`` and mark the conflict resolved."""
    if conflict.status == "resolved":
        raise kafka_io.ToolError(
            f"conflict {conflict.conflict_id} was already resolved at {conflict.resolved_at}"
        )
    destination = sync_topic(conflict.target)
    kafka_io.partitions_of(settings, destination)  # clear error when the topic is missing
    value = encode_event(settings, conflict)
    hints = resolution_hints(conflict, values)
    prod = kafka_io.producer(settings)
    prod.produce(
        destination,
        key=conflict.key.encode(),
        value=value,
        headers=[
            (h.OPERATION, RESOLVE_OPERATION.encode()),
            (h.ROUTE, RESOLUTION_ROUTE.encode()),
            (h.HINTS, json.dumps(hints).encode()),
        ],
    )
    kafka_io.flush_or_fail(prod, settings, destination)
    resolved = conflict.model_copy(
        update={
            "status": "resolved",
            "resolved_at": iso_now(),
            "resolved_by": resolved_by or _whoami(),
            "resolution": dict(values),
        }
    )
    ensure_conflicts_topic(settings)
    publish_conflict(settings, resolved, prod)
    return resolved


def _whoami() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no user database in some containers
        return "unknown"
