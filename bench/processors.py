"""Processors benchmark: events/s through enrich + route vs a bare faust passthrough agent.

Both run on the same embedded broker, the same input topic (voice.call-events, filled once
with simulated calls) and the same faust client tuning (``build_faust_app``), one after the
other in one run; each is a separate worker process with its own consumer group.  Rate =
distinct event ids on the output topic, over the time between the first and the last output
record's producer timestamp (start-up excluded).  Goal: ratio >= 0.70 (our logic costs at most
30% of the passthrough rate).

Tuning is the dev profile's (session/heartbeat timeouts and the 20 ms fetch wait the embedded
broker needs to be correct and not stall) except that BOTH sides keep faust's normal producer
batching (``one_record_per_batch=False``, as in the prod profile): one record per batch is
only needed where end offsets must be exact, and this bench counts output records by reading
them and never restarts a worker, so no changelog is ever recovered.  ``--dev-batching``
runs both sides with the dev profile's one record per batch instead (the old comparison).
The processors side is exactly what ``voicebus process`` runs: micro-batches and its output
records through librdkafka (pipeline/processors/README.md); the passthrough stays a bare
per-record faust agent sending with faust.  Both run as ``QuietWorker``.

    .venv/bin/python bench/processors.py [--calls 200]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, TopicPartition

from pipeline.broker import EmbeddedBroker
from pipeline.config import Profile, Settings
from pipeline.processors.app import ensure_topics
from pipeline.registry.process import RegistryProcess
from pipeline.serde import AvroCodec
from pipeline.simulate import build_scenario, publish_scenario
from pipeline.topics import CALL_EVENTS_TOPIC, ENRICHED_TOPIC

ROOT = Path(__file__).resolve().parents[1]
PASSTHROUGH_OUT = "bench.passthrough"


def passthrough_worker() -> None:
    """Child mode: bytes in -> bytes out, nothing else (the baseline)."""
    import faust

    from pipeline.config import load_settings
    from pipeline.processors.faust_support import QuietWorker, build_faust_app

    settings = load_settings()
    app = build_faust_app(
        settings,
        "bench-passthrough",
        partitions=6,
        datadir=os.environ["BENCH_DIR"],
        one_record_per_batch=_one_record_per_batch(),
    )
    raw: Any = faust.Schema(key_serializer="raw", value_serializer="raw")
    source = app.topic(CALL_EVENTS_TOPIC, schema=raw)
    out = app.topic(PASSTHROUGH_OUT, schema=raw, partitions=6)

    @app.agent(source)
    async def passthrough(stream):  # type: ignore[no-untyped-def]
        async for event in stream.events():
            await out.send(key=event.message.key, value=event.message.value)

    QuietWorker(
        app, loglevel="warning", quiet=True, redirect_stdouts=False
    ).execute_from_commandline()


def _one_record_per_batch() -> bool | None:
    """Child side of ``--dev-batching``: None = the profile's default, False = batching."""
    return None if os.environ.get("BENCH_DEV_BATCHING") == "1" else False


def processors_worker(routes: str | None) -> None:
    """Child mode: the real processors worker (what ``voicebus process`` runs), with the
    producer batching of the passthrough."""
    from pipeline.config import load_settings
    from pipeline.observability import configure_telemetry
    from pipeline.processors.worker import create_processors, load_router, run_worker

    configure_telemetry("voicebus-processors")
    processors = create_processors(
        load_settings(),
        router=load_router(Path(routes) if routes else None),
        workdir=Path(os.environ["BENCH_DIR"]) / "proc",
        one_record_per_batch=_one_record_per_batch(),
    )
    run_worker(processors, loglevel="warning")


def output_rate(
    settings: Settings, codec: AvroCodec, topic: str, expected: int, timeout_s: float = 100.0
) -> float:
    """Events/s on ``topic``: distinct event ids / time between the first and the last record
    (producer timestamps).  Read until ``expected`` distinct event ids were seen, so a record
    re-emitted by the at-least-once worker is not counted twice."""
    consumer = Consumer(
        {
            "bootstrap.servers": settings.bootstrap_servers,
            "group.id": "bench-reader",
            "fetch.wait.max.ms": 20,
        }
    )
    meta = consumer.list_topics(topic, timeout=10).topics[topic]
    consumer.assign([TopicPartition(topic, p, 0) for p in meta.partitions])
    stamps: list[int] = []
    pending: list[bytes | None] = []  # decoded in bulk, so the reader stays cheap while measuring
    event_ids: set[str] = set()
    deadline = time.monotonic() + timeout_s
    try:
        while len(event_ids) < expected and time.monotonic() < deadline:
            for msg in consumer.consume(1000, 0.2):
                if msg.error() is None:
                    stamps.append(msg.timestamp()[1])
                    pending.append(msg.value())
            if len(stamps) >= expected:
                event_ids.update(str(codec.decode(v)["event_id"]) for v in pending)
                pending.clear()
    finally:
        consumer.close()
    if len(event_ids) < expected:
        raise SystemExit(
            f"only {len(event_ids)} of {expected} event ids on {topic} within {timeout_s:.0f}s"
        )
    span_s = max(1, max(stamps) - min(stamps)) / 1000
    return (len(event_ids) - 1) / span_s


def run(calls: int, *, dev_batching: bool = False) -> None:
    with tempfile.TemporaryDirectory(prefix="vb-bench-") as tmp:
        work = Path(tmp)
        broker = EmbeddedBroker(port=None, log_path=work / "broker.log")
        broker.start()
        registry = RegistryProcess(
            broker.bootstrap_servers, port=None, log_path=work / "registry.log"
        ).start()
        procs: list[subprocess.Popen[bytes]] = []
        try:
            settings = Settings(
                bootstrap_servers=broker.bootstrap_servers,
                schema_registry_url=registry.url,
                profile=Profile.DEV,
            )
            ensure_topics(
                settings,
                targets=[
                    "salesforce",
                    "slack",
                    "zendesk",
                    "gmail",
                    "hubspot",
                    "teams",
                    "outlook",
                    "servicenow",
                    "webhook",
                ],
            )
            from pipeline.topics import TopicSpec, apply_topics

            apply_topics(settings, [TopicSpec(PASSTHROUGH_OUT, 6)])
            scenario = build_scenario(calls, seed=42)
            publish_scenario(settings, scenario, contacts=True)
            total = len(scenario.events())
            env = dict(
                os.environ,
                VOICEBUS_BOOTSTRAP_SERVERS=settings.bootstrap_servers,
                VOICEBUS_SCHEMA_REGISTRY_URL=settings.schema_registry_url,
                VOICEBUS_PROFILE="dev",
                BENCH_DIR=str(work),
                BENCH_DEV_BATCHING="1" if dev_batching else "0",
            )

            def start(args: list[str], name: str) -> subprocess.Popen[bytes]:
                proc = subprocess.Popen(
                    args,
                    env=env,
                    cwd=ROOT,
                    stdout=(work / f"{name}.log").open("wb"),
                    stderr=subprocess.STDOUT,
                )
                procs.append(proc)
                return proc

            base = start([sys.executable, __file__, "--passthrough-worker"], "passthrough")
            codec = AvroCodec(settings)
            passthrough = output_rate(settings, codec, PASSTHROUGH_OUT, total)
            base.terminate()
            base.wait(30)
            routes = ROOT / "config" / "routes.yaml"
            args = [sys.executable, __file__, "--processors-worker"]
            args += ["--routes", str(routes)] if routes.is_file() else []
            start(args, "processors")
            enriched = output_rate(settings, codec, ENRICHED_TOPIC, total)
            ratio = enriched / passthrough
            print(
                f"events: {total} ({calls} calls); routing: {'on' if routes.is_file() else 'off'}; "
                f"producer: {'one record per batch' if dev_batching else 'batching'}"
            )
            print(f"passthrough:  {passthrough:8.0f} events/s")
            print(f"enrich+route: {enriched:8.0f} events/s")
            print(f"ratio: {ratio:.2f} (goal >= 0.70)")
            print(f"goal met: {'yes' if ratio >= 0.70 else 'no'}")
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.terminate()
                    try:
                        proc.wait(30)
                    except subprocess.TimeoutExpired:
                        proc.kill()
            registry.stop()
            broker.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument(
        "--dev-batching",
        action="store_true",
        help="both sides send one record per produce batch (the dev profile) instead of "
        "faust's normal batching",
    )
    parser.add_argument("--passthrough-worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--processors-worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--routes", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.passthrough_worker:
        passthrough_worker()
    elif args.processors_worker:
        processors_worker(args.routes)
    else:
        run(args.calls, dev_batching=args.dev_batching)


if __name__ == "__main__":
    main()
