"""Run a vendor sandbox as its own process (``python -m connectors.<target>.sandbox``), the way
the demo and SREs run it, and wait until its admin API answers."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import httpx

from pipeline.subprocesses import free_port


@contextlib.contextmanager
def sandbox_process(module: str, args: Sequence[str], log_path: Path) -> Iterator[str]:
    """Start ``module`` on a free port with ``args``; yields its URL once
    ``/_sandbox/stats`` answers, and terminates it on exit.  Its output goes to
    ``log_path`` (shown when it dies during start)."""
    port = free_port()
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", module, "--port", str(port), *args],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 20
            while True:
                try:
                    httpx.get(url + "/_sandbox/stats", timeout=1).raise_for_status()
                    break
                except httpx.HTTPError:
                    assert proc.poll() is None, log_path.read_text()
                    assert time.monotonic() < deadline, "sandbox did not start"
                    time.sleep(0.05)
            yield url
        finally:
            proc.terminate()
            proc.wait(10)
