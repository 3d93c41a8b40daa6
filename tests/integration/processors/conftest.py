"""Helpers for the processors acceptance tests: run `voicebus process` as a subprocess against
the test's own broker and registry, and read topics back from the beginning."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Message, TopicPartition
from confluent_kafka.admin import AdminClient

from pipeline.config import Settings
from pipeline.processors.app import ensure_topics

VOICEBUS = str(Path(__file__).resolve().parents[3] / ".venv" / "bin" / "voicebus")


@dataclass
class WorkerProcess:
    proc: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill9(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


class WorkerPool:
    """Starts workers and guarantees they are stopped when the test ends."""

    def __init__(self, settings: Settings, tmp_path: Path) -> None:
        self.settings = settings
        self.tmp_path = tmp_path
        self.workers: list[WorkerProcess] = []

    def start(self, name: str = "w1", *extra: str) -> WorkerProcess:
        env = dict(
            os.environ,
            VOICEBUS_BOOTSTRAP_SERVERS=self.settings.bootstrap_servers,
            VOICEBUS_SCHEMA_REGISTRY_URL=self.settings.schema_registry_url,
            VOICEBUS_PROFILE="dev",
        )
        log_path = self.tmp_path / f"worker-{name}-{len(self.workers)}.log"
        args = [VOICEBUS, "process", "--workdir", str(self.tmp_path / f"data-{name}")]
        args += list(extra) or ["--no-routing"]
        proc = subprocess.Popen(args, env=env, stdout=log_path.open("wb"), stderr=subprocess.STDOUT)
        worker = WorkerProcess(proc, log_path)
        self.workers.append(worker)
        return worker

    def stop_all(self) -> None:
        for worker in self.workers:
            worker.stop()


@pytest.fixture
def workers(fresh_settings: Settings, tmp_path: Path) -> Iterator[WorkerPool]:
    ensure_topics(fresh_settings)  # so producers never race topic auto-creation
    pool = WorkerPool(fresh_settings, tmp_path)
    yield pool
    pool.stop_all()


class TopicReader:
    """Reads every record of a topic from offset 0 and keeps them (assign, no group)."""

    def __init__(self, settings: Settings, topic: str) -> None:
        admin = AdminClient(settings.admin_conf())
        meta = admin.list_topics(topic, timeout=10).topics[topic]
        self.consumer = Consumer(
            {
                "bootstrap.servers": settings.bootstrap_servers,
                "group.id": "test-reader",
                "enable.auto.commit": False,
                "fetch.wait.max.ms": 20,
            }
        )
        self.consumer.assign([TopicPartition(topic, p, 0) for p in meta.partitions])
        self.records: list[Message] = []

    def poll_until(
        self,
        until: Callable[[list[Message]], bool],
        *,
        timeout_s: float = 90.0,
        alive: Callable[[], bool] | None = None,
    ) -> list[Message]:
        """Poll until ``until(records)`` holds, the deadline passes or ``alive()`` is false
        (the caller's assertions then report what is missing)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for msg in self.consumer.consume(500, 0.2):
                if msg.error() is None:
                    self.records.append(msg)
            if until(self.records):
                break
            if alive is not None and not alive():
                break
        return self.records

    def close(self) -> None:
        self.consumer.close()


def read_topic(
    settings: Settings,
    topic: str,
    until: Callable[[list[Message]], bool],
    *,
    timeout_s: float = 90.0,
    alive: Callable[[], bool] | None = None,
) -> list[Message]:
    """Every record of ``topic`` from offset 0, polling until ``until(records)`` holds."""
    reader = TopicReader(settings, topic)
    try:
        return reader.poll_until(until, timeout_s=timeout_s, alive=alive)
    finally:
        reader.close()


def headers_of(msg: Message) -> dict[str, bytes]:
    return {k: v for k, v in (msg.headers() or [])}
