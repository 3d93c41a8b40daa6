"""Processors benchmark: events/s through enrich + route vs a bare faust passthrough agent.

Both run on the same embedded broker, the same input topic (voice.call-events, filled once
with simulated calls) and the same faust client tuning, one after the other in one run; each
is a separate worker process with its own consumer group.  Rate = records between the first
and the last output record / time between their producer timestamps (start-up excluded).
Goal: ratio >= 0.70 (our logic costs at most 30% of the passthrough rate).

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

from confluent_kafka import Consumer, TopicPartition

from pipeline.broker import EmbeddedBroker
from pipeline.config import Profile, Settings
from pipeline.processors.app import ensure_topics
from pipeline.registry.process import RegistryProcess
from pipeline.simulate import build_scenario, publish_scenario
from pipeline.topics import CALL_EVENTS_TOPIC, ENRICHED_TOPIC

ROOT = Path(__file__).resolve().parents[1]
PASSTHROUGH_OUT = "bench.passthrough"


def passthrough_worker() -> None:
    """Child mode: bytes in -> bytes out, nothing else (the baseline)."""
    import faust

    from pipeline.config import load_settings
    from pipeline.processors.app import build_faust_app

    settings = load_settings()
    app = build_faust_app(
        settings, "bench-passthrough", partitions=6, datadir=os.environ["BENCH_DIR"]
    )
    raw = faust.Schema(key_serializer="raw", value_serializer="raw")
    source = app.topic(CALL_EVENTS_TOPIC, schema=raw)
    out = app.topic(PASSTHROUGH_OUT, schema=raw, partitions=6)

    @app.agent(source)
    async def passthrough(stream):  # type: ignore[no-untyped-def]
        async for event in stream.events():
            await out.send(key=event.message.key, value=event.message.value)

    faust.Worker(
        app, loglevel="warning", quiet=True, redirect_stdouts=False
    ).execute_from_commandline()


def output_rate(settings: Settings, topic: str, expected: int, timeout_s: float = 100.0) -> float:
    """Events/s between the first and last of ``expected`` records on ``topic``."""
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
    deadline = time.monotonic() + timeout_s
    try:
        while len(stamps) < expected and time.monotonic() < deadline:
            for msg in consumer.consume(1000, 0.2):
                if msg.error() is None:
                    stamps.append(msg.timestamp()[1])
    finally:
        consumer.close()
    if len(stamps) < expected:
        raise SystemExit(
            f"only {len(stamps)} of {expected} records on {topic} within {timeout_s:.0f}s"
        )
    span_s = max(1, max(stamps) - min(stamps)) / 1000
    return (len(stamps) - 1) / span_s


def run(calls: int) -> None:
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
            passthrough = output_rate(settings, PASSTHROUGH_OUT, total)
            base.terminate()
            base.wait(30)
            routes = ROOT / "config" / "routes.yaml"
            args = [
                str(ROOT / ".venv" / "bin" / "voicebus"),
                "process",
                "--workdir",
                str(work / "proc"),
            ]
            args += ["--routes", str(routes)] if routes.is_file() else ["--no-routing"]
            start(args, "processors")
            enriched = output_rate(settings, ENRICHED_TOPIC, total)
            ratio = enriched / passthrough
            print(
                f"events: {total} ({calls} calls); routing: {'on' if routes.is_file() else 'off'}"
            )
            print(f"passthrough:  {passthrough:8.0f} events/s")
            print(f"enrich+route: {enriched:8.0f} events/s")
            print(f"ratio: {ratio:.2f} (goal >= 0.70)")
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
    parser.add_argument("--passthrough-worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.passthrough_worker:
        passthrough_worker()
    else:
        run(args.calls)


if __name__ == "__main__":
    main()
