"""Resolution metrics: publish ``incident_resolved`` / ``incident_closed`` business events for
the incidents voicebus opened, and record time-to-resolve per category.

Every poll queries ``incident`` for ``correlation_display=voicebus`` in state 6 (Resolved) or 7
(Closed) updated since the watermark (``sys_updated_on >=``, ordered by it, paged), and for
each one not seen yet publishes a ``BusinessEvent`` (schemas/business/business_event.avsc) to
``business.events`` (key = ``subject_ref``).

Exactly once per state change: ``event_id`` is a uuid5 of ``<sys_id>:<state>:<resolved_at or
closed_at>`` (the same on every poll, so a reopened-then-resolved-again incident gets a new
one); ids already published are kept in the state file with the watermark (pruned after
``keep_days``).  The state is saved after each publish: a crash between the two republishes
the same ``event_id``, which consumers dedupe (as everything downstream does).  The watermark
query uses ``>=`` because ``sys_updated_on`` has second precision.

``subject_ref`` is ``servicenow:<caller sys_id>`` (or ``servicenow:incident/<sys_id>`` without
a caller); attributes carry ``incident_id``, ``number``, ``status``, ``category``, ``call_id``
(the correlation_id), ``opened_at``, ``resolved_at`` and ``time_to_resolve_s``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from opentelemetry import metrics

from connectors.servicenow import query as q
from connectors.servicenow.client import TableClient
from connectors.servicenow.mapping import CORRELATION_DISPLAY
from pipeline.config import Settings

log = logging.getLogger(__name__)

BUSINESS_EVENTS_TOPIC = "business.events"
BUSINESS_EVENTS_SUBJECT = "business.events-value"
BUSINESS_EVENT_SCHEMA = "business/business_event.avsc"
#: namespace of the deterministic event ids (uuid5 of "voicebus.servicenow.resolution")
EVENT_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "voicebus.servicenow.resolution")
STATE_EVENTS = {"6": ("incident_resolved", "resolved_at"), "7": ("incident_closed", "closed_at")}
FIELDS = (
    "sys_id",
    "number",
    "state",
    "category",
    "caller_id",
    "correlation_id",
    "opened_at",
    "resolved_at",
    "closed_at",
    "sys_updated_on",
)


class BusinessEventPublisher(Protocol):
    def publish(self, key: str, event: Mapping[str, Any]) -> None: ...


class KafkaBusinessEventPublisher:
    """Avro (registry, subject ``business.events-value``) to ``business.events``, waiting for
    the broker's acknowledgement so the poller saves its state only after it."""

    def __init__(self, settings: Settings, topic: str = BUSINESS_EVENTS_TOPIC) -> None:
        from pipeline.producer import CallEventProducer
        from pipeline.schema_catalog import load_schema
        from pipeline.serde import AvroCodec

        self.topic = topic
        self.codec = AvroCodec(settings)
        self.schema = load_schema(BUSINESS_EVENT_SCHEMA)
        self.producer = CallEventProducer(settings)

    def publish(self, key: str, event: Mapping[str, Any]) -> None:
        value = self.codec.encode(event, subject=BUSINESS_EVENTS_SUBJECT, schema=self.schema)
        self.producer.publish_raw(self.topic, key, value, wait=True)

    def close(self) -> None:
        self.producer.close()


@dataclass
class PollerState:
    watermark: str | None = None  # sys_updated_on, "YYYY-MM-DD HH:MM:SS"
    published: dict[str, str] = field(default_factory=dict)  # event_id -> published at (ISO)


class PollerStateFile:
    """The poller's state as JSON, replaced atomically (write + rename)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def load(self) -> PollerState:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return PollerState()
        except ValueError as exc:
            raise ValueError(
                f"servicenow poller state {self.path} is not valid JSON ({exc}); fix or delete "
                "it (deleting republishes old resolutions with the same event ids)"
            ) from None
        return PollerState(data.get("watermark"), dict(data.get("published") or {}))

    def save(self, state: PollerState) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"watermark": state.watermark, "published": state.published}))
        os.replace(tmp, self.path)


class ResolutionMetrics:
    """``voicebus.servicenow.time_to_resolve`` (histogram, seconds; attributes ``category``
    and ``status``) on the process's global meter provider."""

    def __init__(self) -> None:
        meter = metrics.get_meter("voicebus")
        self._ttr = meter.create_histogram(
            "voicebus.servicenow.time_to_resolve",
            unit="s",
            description="Incident opened_at -> resolved_at, for incidents voicebus opened",
        )

    def record(self, seconds: float, category: str, status: str) -> None:
        self._ttr.record(max(0.0, seconds), {"category": category, "status": status})


def event_id_for(sys_id: str, state: str, state_at: str) -> str:
    return str(uuid.uuid5(EVENT_NAMESPACE, f"{sys_id}:{state}:{state_at}"))


def business_event(incident: Mapping[str, Any], tenant_id: str) -> dict[str, Any] | None:
    """The BusinessEvent of an incident's current state (None for other states)."""
    state = str(incident.get("state") or "")
    if state not in STATE_EVENTS:
        return None
    event_type, when_field = STATE_EVENTS[state]
    state_at = str(incident.get(when_field) or incident.get("sys_updated_on") or "")
    sys_id = str(incident["sys_id"])
    occurred = q.parse_glide_time(state_at) or datetime.now(UTC)
    opened = q.parse_glide_time(str(incident.get("opened_at") or ""))
    resolved = q.parse_glide_time(str(incident.get("resolved_at") or "")) or occurred
    attributes = {
        "incident_id": sys_id,
        "number": str(incident.get("number") or ""),
        "status": event_type.removeprefix("incident_"),
        "state": state,
        "category": str(incident.get("category") or "uncategorized"),
        "call_id": str(incident.get("correlation_id") or ""),
        "opened_at": str(incident.get("opened_at") or ""),
        "resolved_at": str(incident.get("resolved_at") or ""),
    }
    if opened is not None:
        attributes["time_to_resolve_s"] = f"{(resolved - opened).total_seconds():g}"
    caller = str(incident.get("caller_id") or "")
    return {
        "event_id": event_id_for(sys_id, state, state_at),
        "event_type": event_type,
        "occurred_at": occurred,
        "tenant_id": tenant_id,
        "subject_ref": f"servicenow:{caller}" if caller else f"servicenow:incident/{sys_id}",
        "attributes": attributes,
    }


class ResolutionPoller:
    def __init__(
        self,
        client: TableClient,
        publisher: BusinessEventPublisher,
        state_file: PollerStateFile,
        *,
        tenant_id: str,
        page_size: int = 100,
        keep_days: int = 90,
        metrics_: ResolutionMetrics | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.client = client
        self.publisher = publisher
        self.state_file = state_file
        self.tenant_id = tenant_id
        self.page_size = page_size
        self.keep = timedelta(days=keep_days)
        self.metrics = metrics_ or ResolutionMetrics()
        self._now = now

    def _query(self, watermark: str | None) -> str:
        return q.all_of(
            q.eq("correlation_display", CORRELATION_DISPLAY),
            q.any_of([q.eq("state", s) for s in STATE_EVENTS]),
            q.op("sys_updated_on", ">=", watermark) if watermark else "",
            q.order_by("sys_updated_on"),
        )

    async def poll_once(self) -> list[dict[str, Any]]:
        """One pass; returns the events published."""
        state = self.state_file.load()
        query = self._query(state.watermark)
        published: list[dict[str, Any]] = []
        offset = 0
        while True:
            page = await self.client.query(
                "incident", query, fields=FIELDS, limit=self.page_size, offset=offset
            )
            for incident in page:
                event = business_event(incident, self.tenant_id)
                updated = str(incident.get("sys_updated_on") or "")
                if event is not None and event["event_id"] not in state.published:
                    await asyncio.to_thread(self.publisher.publish, event["subject_ref"], event)
                    state.published[event["event_id"]] = self._now().isoformat()
                    self._record(event)
                    published.append(event)
                if updated and (state.watermark is None or updated > state.watermark):
                    state.watermark = updated
                self.state_file.save(state)
            if len(page) < self.page_size:
                break
            offset += self.page_size
        self._prune(state)
        self.state_file.save(state)
        if published:
            log.info("servicenow poller: published %d resolution event(s)", len(published))
        return published

    def _record(self, event: Mapping[str, Any]) -> None:
        attrs = event["attributes"]
        ttr = attrs.get("time_to_resolve_s")
        if ttr is not None:
            self.metrics.record(float(ttr), attrs["category"], attrs["status"])

    def _prune(self, state: PollerState) -> None:
        cutoff = (self._now() - self.keep).isoformat()
        state.published = {k: v for k, v in state.published.items() if v >= cutoff}

    async def run(self, interval_s: float, stop: asyncio.Event | None = None) -> None:
        """Poll every ``interval_s`` until ``stop`` is set; a failed poll is logged and
        retried on the next tick (the watermark only advances past published events)."""
        stop = stop or asyncio.Event()
        while not stop.is_set():
            try:
                await self.poll_once()
            except Exception as exc:
                log.warning(
                    "servicenow poller: poll failed (%s); retrying in %gs",
                    type(exc).__name__,
                    interval_s,
                )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval_s)
