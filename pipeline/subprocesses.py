"""Small helpers to run a local server as a subprocess: free ports, start with a log file,
wait until it answers, stop with a grace period.

Shared by the embedded broker (``pipeline.broker``), the schema registry subprocess
(``pipeline.registry.process``) and the vendor sandboxes (``connectors.base.sandbox``), so
that "port already in use", "exited during start" and "did not answer" read the same
everywhere and a process is always reaped (SIGTERM, then SIGKILL) with its log closed.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, ClassVar, Self


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on ``host`` that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_is_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def require_free_port(host: str, port: int, error: type[Exception], hint: str) -> None:
    """Raise ``error`` when ``host:port`` is taken: a server that cannot bind may exit 0 and
    look "started" while another process answers in its place."""
    if not port_is_free(host, port):
        raise error(f"port {host}:{port} is already in use; stop whatever listens there or {hint}")


def launch(
    command: Sequence[str], log_path: Path, env: Mapping[str, str]
) -> tuple[subprocess.Popen[bytes], IO[bytes]]:
    """Start ``command`` with stdout+stderr appended to ``log_path``; returns the process and
    the open log file (close it with ``stop_process``)."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log = open(log_path, "ab")  # noqa: SIM115 - closed by stop_process()
    proc = subprocess.Popen(
        list(command),
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env=dict(env),
    )
    return proc, log


def wait_ready(
    proc: subprocess.Popen[bytes] | None,
    probe: Callable[[], str | None],
    *,
    timeout_s: float,
    name: str,
    not_ready: str,
    log_path: Path,
    error: type[Exception],
) -> None:
    """Poll ``probe`` (None = ready, else why not) every 50 ms until ``timeout_s``; raise
    ``error`` naming the log when the process exits first or never becomes ready."""
    deadline = time.monotonic() + timeout_s
    last_error = "no answer"
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise error(f"{name} exited with code {proc.returncode} during start; see {log_path}")
        reason = probe()
        if reason is None:
            return
        last_error = reason
        time.sleep(0.05)
    raise error(f"{not_ready} within {timeout_s:.0f}s ({last_error}); see {log_path}")


def stop_process(
    proc: subprocess.Popen[bytes] | None, log: IO[bytes] | None, timeout_s: float
) -> int | None:
    """SIGTERM, then SIGKILL after ``timeout_s``; closes ``log``.  Returns the exit code
    (None when there was no process)."""
    if proc is not None and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=timeout_s)
    if log is not None:
        with contextlib.suppress(Exception):
            log.close()
    return proc.returncode if proc is not None else None


class StartStopContext:
    """``with X(...) as x:`` for classes with ``start() -> Self`` and ``stop()``."""

    def start(self) -> Self:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class ServerProcess(StartStopContext):
    """A local server subprocess on ``host:port`` writing to ``log_path``.  ``start()``
    refuses a busy port, launches ``_launch_args()`` and returns once ``_wait_ready()`` does
    (stopping the process if it raises); subclasses' ``stop()`` call ``_stop_process``."""

    #: raised for a busy port, an early exit or no answer
    start_error: ClassVar[type[Exception]] = RuntimeError
    #: end of the "port in use" message: how to pick another port
    port_hint: ClassVar[str] = "choose another port"

    host: str
    port: int
    log_path: Path
    _proc: subprocess.Popen[bytes] | None = None
    _log_file: IO[bytes] | None = None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def _launch_args(self) -> tuple[list[str], dict[str, str]]:
        """(command, environment) of the server."""
        raise NotImplementedError

    def _wait_ready(self) -> None:
        raise NotImplementedError

    def start(self) -> Self:
        if self.running:
            return self
        require_free_port(self.host, self.port, self.start_error, self.port_hint)
        command, env = self._launch_args()
        self._proc, self._log_file = launch(command, self.log_path, env)
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _stop_process(self, timeout_s: float) -> int | None:
        proc, self._proc = self._proc, None
        log, self._log_file = self._log_file, None
        return stop_process(proc, log, timeout_s)
