"""SIGTERM in the middle of `voicebus demo` stops every process the demo started."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from pipeline.devstack import voicebus_command

pytestmark = pytest.mark.integration


def _processes_with_env(marker: str) -> list[int]:
    """Pids whose environment carries ``marker`` (every child of the demo inherits it)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if marker.encode() in (entry / "environ").read_bytes():
                found.append(int(entry.name))
        except OSError:  # gone, or not ours
            continue
    return found


def test_sigterm_stops_the_demo_and_all_its_children(tmp_path: Path) -> None:
    marker = f"VOICEBUS_STATE_DIR={tmp_path / '.voicebus'}"
    env = {**os.environ, "VOICEBUS_STATE_DIR": str(tmp_path / ".voicebus"), "COLUMNS": "160"}
    proc = subprocess.Popen(
        [*voicebus_command(), "demo", "--calls", "2", "--wait-s", "120"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    seen = []
    deadline = time.monotonic() + 120
    for line in proc.stdout:  # until the stack is up (the registry is a subprocess)
        seen.append(line)
        if "topics+schemas" in line or time.monotonic() > deadline:
            break
    children = _processes_with_env(marker)
    assert len(children) >= 3, "".join(seen)  # demo itself, broker, registry, ...
    proc.send_signal(signal.SIGTERM)
    rest, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130, "".join(seen) + rest
    deadline = time.monotonic() + 10
    while _processes_with_env(marker) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _processes_with_env(marker) == []
