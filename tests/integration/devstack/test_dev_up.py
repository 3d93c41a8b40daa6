"""`voicebus dev up` as a user runs it: foreground, catalogue applied, SIGTERM stops it all;
a port already taken makes it exit 1 with the reason."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient

from pipeline.broker import free_port
from pipeline.devstack import voicebus_command
from pipeline.topics import CALL_EVENTS_TOPIC, catalogue

pytestmark = pytest.mark.integration


def _env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "VOICEBUS_STATE_DIR": str(tmp_path / ".voicebus"), "COLUMNS": "160"}


def _listening(port: int) -> bool:
    """Something accepts connections on the port (bind checks trip over TIME_WAIT)."""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1.0).close()
    except OSError:
        return False
    return True


def _topics(port: int) -> set[str]:
    admin = AdminClient({"bootstrap.servers": f"127.0.0.1:{port}", "log_level": 0})
    return set(admin.list_topics(timeout=1.0).topics)


def _subjects(port: int) -> list[str]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/subjects", timeout=1.0) as response:
        return list(json.loads(response.read()))


def test_dev_up_applies_the_catalogue_and_stops_on_sigterm(tmp_path: Path) -> None:
    kafka_port, registry_port = free_port(), free_port()
    proc = subprocess.Popen(
        [
            *voicebus_command(),
            "dev",
            "up",
            "--port",
            str(kafka_port),
            "--registry-port",
            str(registry_port),
            "--no-processors",
            "--no-sinks",
        ],  # fmt: skip
        cwd=tmp_path,
        env=_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wanted = {spec.name for spec in catalogue()}
        deadline = time.monotonic() + 60
        topics: set[str] = set()
        subjects: list[str] = []
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                topics = _topics(kafka_port)
                subjects = _subjects(registry_port)
            except Exception:
                pass
            if wanted <= topics and f"{CALL_EVENTS_TOPIC}-value" in subjects:
                break
            time.sleep(0.2)
        assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
        assert wanted <= topics
        assert f"{CALL_EVENTS_TOPIC}-value" in subjects
    finally:
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, output
    assert "stopped" in output
    assert not _listening(kafka_port) and not _listening(registry_port), "a child outlived dev up"
    assert (tmp_path / ".voicebus" / "logs" / "registry.log").exists()


def test_dev_up_exits_1_when_the_broker_port_is_taken(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = subprocess.run(
            [
                *voicebus_command(),
                "dev",
                "up",
                "--port",
                str(port),
                "--registry-port",
                str(free_port()),
            ],
            cwd=tmp_path,
            env=_env(tmp_path),
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "broker failed to start" in proc.stdout
    assert "already in use" in proc.stdout
