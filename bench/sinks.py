"""Sink throughput: key-ordered concurrency vs one-at-a-time consumption, same run.

Starts its own embedded broker, schema registry and webhook sandbox (every request takes
``--latency-ms``, default 50 ms), puts Avro call events over ``--keys`` call ids on a topic
with ONE partition, and runs the real sink stack (WebhookConnector + KafkaLedger + Deliverer
+ SinkRuntime) twice:

* concurrent: ``max_in_flight=--max-in-flight`` (default 64): different calls in parallel,
  each call strictly in order;
* serial: ``max_in_flight=1``: one delivery at a time, as a plain consume-deliver-commit
  loop does.

Rates are measured at the receiver (first to last arrival, so group joins do not count).
The serial run delivers ``--serial-records`` (default 100; its rate does not depend on the
count) to keep the whole bench well under two minutes.  Prints both rates, their ratio
(goal >= 10x) and the fraction of the ceiling min(rate limit, max_in_flight / latency)
the concurrent run reached (goal >= 80%).

Diagnostics printed after the goals: the same runtime with a target that only sleeps the
latency (no HTTP: how close the runtime itself gets to the ceiling) and, with
``--http aiohttp``, the webhook connector over an aiohttp transport (how much of the gap is
httpx's connection pool, encode/httpx#3215).

    .venv/bin/python bench/sinks.py [--records 1000] [--keys 100] [--latency-ms 50]
        [--max-in-flight 64] [--http httpx|aiohttp] [--no-diagnostic]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aiohttp
import httpx
from aiohttp import web
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from connectors.base.connector import Connector, DeliveryResult, Operation, SyncRecord
from connectors.base.sandbox import ADMIN_PREFIX, CONTROLS
from connectors.webhook.config import WebhookSettings
from connectors.webhook.sandbox import make_app
from connectors.webhook.sink import WebhookConnector
from pipeline.broker import EmbeddedBroker, free_port
from pipeline.config import Profile, Settings
from pipeline.observability import SinkMetrics
from pipeline.registry.process import RegistryProcess
from pipeline.resilience.target import ResilienceSettings, TargetResilience
from pipeline.schema_catalog import CALL_EVENT_SCHEMA, CALL_EVENTS_SUBJECT, load_schema
from pipeline.serde import AvroCodec
from pipeline.sinks.delivery import Deliverer
from pipeline.sinks.ledger import KafkaLedger
from pipeline.sinks.runtime import SinkRuntime
from pipeline.sinks.settings import SinkSettings

RATIO_GOAL = 10.0
CEILING_GOAL = 0.8


def serve_receiver(port: int, secret: str, latency_ms: float) -> None:
    """Receiver process: the webhook sandbox plus arrival times per path (its own clock),
    served at ``GET /_sandbox/bench/arrivals`` (and ``.../count?path=``).  A separate
    process, so the receiver does not compete with the sink for one interpreter's GIL.
    The bench's own routes sit under the sandbox's admin prefix: the configured latency
    models the receiver handling a webhook, not the bench asking how many arrived."""
    app = make_app([secret])
    arrivals: dict[str, list[float]] = {}

    @web.middleware
    async def clock(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        response = await handler(request)
        if response.status == 200 and request.path.startswith("/hooks/"):
            arrivals.setdefault(request.path, []).append(time.monotonic())
        return response

    async def report(_request: web.Request) -> web.Response:
        return web.json_response(arrivals)

    async def count(request: web.Request) -> web.Response:
        return web.json_response(len(arrivals.get(request.query["path"], [])))

    app.middlewares.insert(0, clock)
    app.router.add_get(f"{ADMIN_PREFIX}bench/arrivals", report)
    app.router.add_get(f"{ADMIN_PREFIX}bench/count", count)
    app[CONTROLS].set_latency(latency_ms)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


class Receiver:
    """Client side of the receiver process."""

    def __init__(self, latency_ms: float) -> None:
        self.secret = "whsec_" + base64.b64encode(os.urandom(32)).decode()
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._proc = subprocess.Popen(
            [
                sys.executable,
                __file__,
                "--serve-receiver",
                str(self.port),
                "--latency-ms",
                str(latency_ms),
            ],
            env={**os.environ, "BENCH_RECEIVER_SECRET": self.secret},
        )
        self._http = httpx.Client(base_url=self.url, timeout=5)
        deadline = time.monotonic() + 30
        while True:
            try:
                self._http.get(f"{ADMIN_PREFIX}bench/arrivals").raise_for_status()
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline or self._proc.poll() is not None:
                    self.stop()
                    raise SystemExit("the bench receiver did not start") from None
                time.sleep(0.1)

    def arrivals(self, path: str) -> list[float]:
        data: dict[str, list[float]] = self._http.get(f"{ADMIN_PREFIX}bench/arrivals").json()
        return sorted(data.get(path, []))

    def count(self, path: str) -> int:
        count: int = self._http.get(f"{ADMIN_PREFIX}bench/count", params={"path": path}).json()
        return count

    def rate(self, path: str) -> float:
        times = self.arrivals(path)
        if len(times) < 2 or times[-1] <= times[0]:
            return 0.0
        return (len(times) - 1) / (times[-1] - times[0])

    def stop(self) -> None:
        self._http.close()
        self._proc.terminate()
        try:
            self._proc.wait(10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait(10)


def produce(settings: Settings, topic: str, records: int, keys: int) -> None:
    admin = AdminClient(settings.admin_conf())
    for future in admin.create_topics([NewTopic(topic, 1, 1)]).values():
        future.result(10)
    codec = AvroCodec(settings)
    schema = load_schema(CALL_EVENT_SCHEMA)
    producer = Producer(settings.producer_conf(one_record_per_batch=False))
    for i in range(records):
        call_id = f"call-{i % keys}"
        event = {
            "event_id": str(uuid.uuid4()),
            "event_type": "call_ended",
            "occurred_at": datetime.now(UTC),
            "tenant_id": "bench",
            "call_id": call_id,
            "source": "bench",
            "schema_version": 1,
            "payload": (
                "io.voicebus.voice.CallEnded",
                {"duration_s": i, "disposition": "resolved", "hangup_cause": "normal_clearing"},
            ),
        }
        value = codec.encode(event, subject=CALL_EVENTS_SUBJECT, schema=schema)
        producer.produce(topic, key=call_id, value=value)
    producer.flush(30)


class AiohttpTransport(httpx.AsyncBaseTransport):
    """Diagnostic only (``--http aiohttp``): the connector's httpx client over an aiohttp
    session, to show how much of the gap is httpx's connection pool (encode/httpx#3215)."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._session: aiohttp.ClientSession | None = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self._session is None:
            self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=self._limit))
        body = await request.aread()
        async with self._session.request(
            request.method, str(request.url), headers=dict(request.headers), data=body
        ) as response:
            content = await response.read()
            return httpx.Response(
                response.status, headers=list(response.headers.items()), content=content
            )

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()


class SleepConnector(Connector):
    """Diagnostic target without HTTP: each delivery just takes the receiver's latency.
    Shows how much of the ceiling the runtime itself reaches (the rest is the HTTP client)."""

    name = "bench-sleep"

    def __init__(self, latency_s: float) -> None:
        self.latency_s = latency_s
        self.done: list[float] = []

    def map_record(self, record: SyncRecord) -> list[Operation]:
        return [Operation("post", str(record.event["event_id"]), {}, key=record.key)]

    async def deliver(self, operation: Operation) -> DeliveryResult:
        await asyncio.sleep(self.latency_s)
        self.done.append(time.monotonic())
        return DeliveryResult()

    def rate(self) -> float:
        times = sorted(self.done)
        if len(times) < 2 or times[-1] <= times[0]:
            return 0.0
        return (len(times) - 1) / (times[-1] - times[0])


async def run_sink(
    settings: Settings,
    receiver: Receiver,
    target: str,
    max_in_flight: int,
    records: int,
    sleep_connector: SleepConnector | None = None,
    aiohttp_transport: bool = False,
) -> float:
    path = f"/hooks/{target}"
    resilience = ResilienceSettings(rate_per_s=0)  # no client-side limit: measure the sink
    connector: Connector = sleep_connector or WebhookConnector(
        WebhookSettings(
            urls=[f"{receiver.url}{path}"],
            secrets=[receiver.secret],
            resilience=resilience,
            http={"max_connections": max(10, max_in_flight)},
        ),
        transport=AiohttpTransport(max_in_flight) if aiohttp_transport else None,
    )

    async def delivered() -> int:
        # asked from a worker thread: the harness must not block the event loop it measures
        if sleep_connector:
            return len(sleep_connector.done)
        return await asyncio.to_thread(receiver.count, path)

    metrics = SinkMetrics(target)
    ledger = KafkaLedger(settings, target)
    await ledger.start()
    deliverer = Deliverer(
        connector, ledger, TargetResilience.from_settings(target, resilience), metrics
    )
    deliverer.target = target
    runtime = SinkRuntime(
        target,
        deliverer,
        settings=settings,
        sink=SinkSettings(
            max_in_flight=max_in_flight,
            consumer_overrides={"session.timeout.ms": 2000, "heartbeat.interval.ms": 300},
        ),
        decode=AvroCodec(settings).decode,
        connector_version=connector.version,
        metrics_=metrics,
    )
    task = asyncio.create_task(runtime.run())
    try:
        deadline = time.monotonic() + 100
        while await delivered() < records:
            if task.done():
                task.result()
            if time.monotonic() > deadline:
                raise SystemExit(f"{target}: only {await delivered()}/{records} delivered")
            await asyncio.sleep(0.2)
    finally:
        runtime.stop()
        await task
        await ledger.close()
        await connector.aclose()
    return sleep_connector.rate() if sleep_connector else receiver.rate(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1000)
    parser.add_argument("--serial-records", type=int, default=100)
    parser.add_argument("--keys", type=int, default=100)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--max-in-flight", type=int, default=64)
    parser.add_argument(
        "--no-diagnostic", action="store_true", help="skip the runtime-only run (no HTTP)"
    )
    parser.add_argument(
        "--http",
        choices=["httpx", "aiohttp"],
        default="httpx",
        help="aiohttp: also run the webhook connector over an aiohttp transport (diagnostic)",
    )
    parser.add_argument("--serve-receiver", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_receiver is not None:
        serve_receiver(args.serve_receiver, os.environ["BENCH_RECEIVER_SECRET"], args.latency_ms)
        return 0
    serial_records = min(args.serial_records, args.records)

    with tempfile.TemporaryDirectory() as tmp:
        broker = EmbeddedBroker(port=None, log_path=Path(tmp) / "broker.log").start()
        registry = None
        receiver = None
        try:
            registry = RegistryProcess(
                broker.bootstrap_servers, port=None, log_path=Path(tmp) / "registry.log"
            ).start()
            settings = Settings(
                bootstrap_servers=broker.bootstrap_servers,
                schema_registry_url=registry.url,
                profile=Profile.DEV,
            )
            receiver = Receiver(args.latency_ms)
            produce(settings, "sync.benchfast", args.records, args.keys)
            produce(settings, "sync.benchserial", serial_records, args.keys)
            fast = asyncio.run(
                run_sink(settings, receiver, "benchfast", args.max_in_flight, args.records)
            )
            serial = asyncio.run(run_sink(settings, receiver, "benchserial", 1, serial_records))
            via_aiohttp = 0.0
            if args.http == "aiohttp":
                produce(settings, "sync.benchaiohttp", args.records, args.keys)
                via_aiohttp = asyncio.run(
                    run_sink(
                        settings,
                        receiver,
                        "benchaiohttp",
                        args.max_in_flight,
                        args.records,
                        aiohttp_transport=True,
                    )
                )
            no_http = 0.0
            if not args.no_diagnostic:
                produce(settings, "sync.benchnohttp", args.records, args.keys)
                sleeper = SleepConnector(args.latency_ms / 1000.0)
                no_http = asyncio.run(
                    run_sink(
                        settings, receiver, "benchnohttp", args.max_in_flight, args.records, sleeper
                    )
                )
        finally:
            if receiver is not None:
                receiver.stop()
            if registry is not None:
                registry.stop()
            broker.stop()

    ceiling = args.max_in_flight / (args.latency_ms / 1000.0)  # no rate limit configured
    ratio = fast / serial if serial else float("inf")
    fraction = fast / ceiling
    print(
        f"records: {args.records} concurrent, {serial_records} serial; keys: {args.keys}; "
        f"1 partition; receiver latency {args.latency_ms:g} ms"
    )
    print(f"key-ordered concurrent (max_in_flight={args.max_in_flight}): {fast:,.1f} rec/s")
    print(f"one at a time (max_in_flight=1): {serial:,.1f} rec/s")
    print(f"ratio: {ratio:.1f}x (goal >= {RATIO_GOAL:g}x)")
    print(
        f"ceiling min(rate limit, max_in_flight/latency) = {ceiling:,.0f} rec/s; reached "
        f"{fraction:.0%} (goal >= {CEILING_GOAL:.0%})"
    )
    if via_aiohttp:
        print(
            f"diagnostic, webhook connector over an aiohttp transport: {via_aiohttp:,.1f} rec/s "
            f"= {via_aiohttp / ceiling:.0%} of the ceiling"
        )
    if no_http:
        print(
            f"diagnostic, same runtime without HTTP (target sleeps {args.latency_ms:g} ms): "
            f"{no_http:,.1f} rec/s = {no_http / ceiling:.0%} of the ceiling"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
