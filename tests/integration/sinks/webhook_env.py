"""Webhook sandbox + Avro call events for the sink acceptance tests."""

from __future__ import annotations

import base64
import os
import struct
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from confluent_kafka import Producer

from connectors.base.sandbox import SandboxServer
from connectors.webhook.config import WebhookSettings
from connectors.webhook.sandbox import make_app, receiver_of
from connectors.webhook.sink import WebhookConnector
from pipeline.config import Settings
from pipeline.observability import SinkMetrics
from pipeline.resilience.target import ResilienceSettings, TargetResilience
from pipeline.serde import AvroCodec, load_schema
from pipeline.sinks.delivery import Deliverer
from pipeline.sinks.ledger import KafkaLedger
from pipeline.sinks.runtime import SinkRuntime
from pipeline.sinks.settings import SinkSettings

from .helpers import TEST_CONSUMER

SUBJECT = "voice.call-events-value"


def new_secret() -> str:
    return "whsec_" + base64.b64encode(os.urandom(32)).decode()


@dataclass
class Arrivals:
    """Receiver-side clock: every request to /hooks/ with its arrival time and status."""

    items: list[tuple[float, str, int]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def times(self, webhook_id: str) -> list[tuple[float, int]]:
        with self.lock:
            return [(t, s) for t, w, s in self.items if w == webhook_id]


class WebhookSandbox:
    """The webhook receiver sandbox in a thread, plus arrival timestamps."""

    def __init__(self, port: int = 0) -> None:
        self.secret = new_secret()
        self.app = make_app([self.secret])
        self.arrivals = Arrivals()
        arrivals = self.arrivals

        @web.middleware
        async def clock(
            request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
        ) -> web.StreamResponse:
            response = await handler(request)
            if request.path.startswith("/hooks/"):
                with arrivals.lock:
                    arrivals.items.append(
                        (time.monotonic(), request.headers.get("webhook-id", ""), response.status)
                    )
            return response

        self.app.middlewares.insert(0, clock)  # outermost: sees injected faults too
        self.server = SandboxServer(self.app, port=port)

    def start(self) -> WebhookSandbox:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()

    @property
    def hook_url(self) -> str:
        return f"{self.server.url}/hooks/voicebus"

    @property
    def controls(self) -> Any:
        return self.server.controls

    def received(self) -> list[Any]:
        return receiver_of(self.app).received()

    def event_ids(self) -> list[str]:
        return [str(e.event_id) for e in self.received()]

    def sequences_by_call(self) -> dict[str, list[int]]:
        out: dict[str, list[int]] = {}
        for e in self.received():
            out.setdefault(str(e.call_id), []).append(int(e.body["data"]["payload"]["sequence"]))
        return out


def call_event(call_id: str, seq: int) -> dict[str, Any]:
    return {
        "event_id": str(uuid.uuid4()),
        "event_type": "transcript_segment",
        "occurred_at": datetime.now(UTC),
        "tenant_id": "tenant-1",
        "call_id": call_id,
        "source": "test",
        "schema_version": 1,
        "payload": (
            "io.voicebus.voice.TranscriptSegment",
            {
                "sequence": seq,
                "speaker": "AGENT",
                "text": f"segment {seq}",
                "start_ms": seq * 1000,
                "end_ms": seq * 1000 + 500,
                "confidence": 0.5,
            },
        ),
    }


def produce_events(
    settings: Settings, topic: str, events: list[dict[str, Any]], codec: AvroCodec | None = None
) -> None:
    codec = codec or AvroCodec(settings)
    schema = load_schema("voice/call_event.avsc")
    producer = Producer(settings.producer_conf())
    for ev in events:
        value = codec.encode(ev, subject=SUBJECT, schema=schema)
        producer.produce(topic, key=ev["call_id"], value=value)
    assert producer.flush(15) == 0


def produce_value(settings: Settings, topic: str, key: str, value: bytes) -> None:
    producer = Producer(settings.producer_conf())
    producer.produce(topic, key=key, value=value)
    assert producer.flush(15) == 0


def unknown_schema_value() -> bytes:
    return b"\x00" + struct.pack(">I", 987654) + b"\x02\x04ab"


def webhook_runtime(
    settings: Settings,
    target: str,
    urls: list[str],
    secret: str,
    *,
    resilience: ResilienceSettings,
    **sink_overrides: Any,
) -> tuple[SinkRuntime, KafkaLedger, WebhookConnector]:
    """The real stack, in-process: WebhookConnector + KafkaLedger + Deliverer + runtime."""
    connector = WebhookConnector(
        WebhookSettings(urls=urls, secrets=[secret], resilience=resilience)
    )
    metrics = SinkMetrics(target)
    ledger = KafkaLedger(settings, target)
    deliverer = Deliverer(
        connector,
        ledger,
        TargetResilience.from_settings(target, resilience, metrics=metrics),
        metrics,
    )
    deliverer.target = target
    defaults: dict[str, Any] = {
        "retry_delays_s": [0.3, 0.5],
        "commit_interval_s": 0.2,
        "drain_timeout_s": 10,
        "lag_interval_s": 0.5,
        "consumer_overrides": TEST_CONSUMER,
    }
    defaults.update(sink_overrides)
    runtime = SinkRuntime(
        target,
        deliverer,
        settings=settings,
        sink=SinkSettings(**defaults),
        decode=AvroCodec(settings).decode,
        connector_name="WebhookConnector",
        connector_version=connector.version,
        metrics_=metrics,
    )
    return runtime, ledger, connector
