"""Run the schema registry as a subprocess (tests, ``voicebus dev up``).

``RegistryProcess(...).start()`` refuses a busy port, launches ``python -m pipeline.registry``
with the current interpreter and returns once ``GET /subjects`` answers 200, so callers can
use ``.url`` at once.  ``.stop()`` sends SIGTERM (clean shutdown) and kills only if needed.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import IO

import httpx

from pipeline.broker import free_port, port_is_free
from pipeline.config import Profile
from pipeline.registry.compat import CompatibilityLevel


class RegistryStartError(RuntimeError):
    """The registry subprocess could not be started or did not answer."""


class RegistryProcess:
    def __init__(
        self,
        bootstrap_servers: str,
        host: str = "127.0.0.1",
        port: int | None = 8081,
        log_path: Path | None = None,
        start_timeout_s: float = 20.0,
        *,
        default_compatibility: CompatibilityLevel | str | None = None,
        profile: Profile = Profile.DEV,
        topic: str | None = None,
    ) -> None:
        self.bootstrap_servers = bootstrap_servers
        self.host = host
        self.port = port if port is not None else free_port(host)
        self.log_path = Path(log_path) if log_path else Path(f".voicebus/registry-{self.port}.log")
        self.start_timeout_s = start_timeout_s
        self.default_compatibility = default_compatibility
        self.profile = profile
        self.topic = topic
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_file: IO[bytes] | None = None
        #: exit code of the last stopped process (0 = clean shutdown on SIGTERM)
        self.returncode: int | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def command(self) -> list[str]:
        cmd = [
            sys.executable, "-m", "pipeline.registry",
            "--bootstrap-servers", self.bootstrap_servers,
            "--host", self.host,
            "--port", str(self.port),
            "--profile", self.profile.value,
        ]  # fmt: skip
        if self.default_compatibility is not None:
            cmd += [
                "--default-compatibility",
                str(CompatibilityLevel.parse(self.default_compatibility)),
            ]
        if self.topic is not None:
            cmd += ["--topic", self.topic]
        return cmd

    def start(self) -> RegistryProcess:
        if self.running:
            return self
        if not port_is_free(self.host, self.port):
            raise RegistryStartError(
                f"port {self.host}:{self.port} is already in use; stop whatever listens there "
                "or choose another port"
            )
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log_file = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self._proc = subprocess.Popen(
            self.command(),
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
        )
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.start_timeout_s
        last_error = "no answer"
        with httpx.Client(timeout=2.0) as client:
            while time.monotonic() < deadline:
                if self._proc is not None and self._proc.poll() is not None:
                    raise RegistryStartError(
                        f"registry exited with code {self._proc.returncode} during start; "
                        f"see {self.log_path}"
                    )
                try:
                    response = client.get(f"{self.url}/subjects")
                    if response.status_code == 200:
                        return
                    last_error = f"GET /subjects answered {response.status_code}"
                except httpx.HTTPError as exc:
                    last_error = type(exc).__name__
                time.sleep(0.05)
        raise RegistryStartError(
            f"registry on {self.url} did not answer within {self.start_timeout_s:.0f}s "
            f"({last_error}); see {self.log_path}"
        )

    def stop(self, timeout_s: float = 10.0) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=timeout_s)
        if proc is not None:
            self.returncode = proc.returncode
        if self._log_file is not None:
            with contextlib.suppress(Exception):
                self._log_file.close()
            self._log_file = None

    def __enter__(self) -> RegistryProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
