"""Run the schema registry as a subprocess (tests, ``voicebus dev up``).

``RegistryProcess(...).start()`` refuses a busy port, launches ``python -m pipeline.registry``
with the current interpreter and returns once ``GET /subjects`` answers 200, so callers can
use ``.url`` at once.  ``.stop()`` sends SIGTERM (clean shutdown) and kills only if needed.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import httpx

from pipeline.config import Profile
from pipeline.registry.compat import CompatibilityLevel
from pipeline.subprocesses import ServerProcess, free_port, wait_ready


class RegistryStartError(RuntimeError):
    """The registry subprocess could not be started or did not answer."""


class RegistryProcess(ServerProcess):
    start_error = RegistryStartError

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
        #: exit code of the last stopped process (0 = clean shutdown on SIGTERM)
        self.returncode: int | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

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

    def _launch_args(self) -> tuple[list[str], dict[str, str]]:
        return self.command(), dict(os.environ, PYTHONUNBUFFERED="1")

    def _wait_ready(self) -> None:
        with httpx.Client(timeout=2.0) as client:

            def subjects_answer() -> str | None:
                try:
                    response = client.get(f"{self.url}/subjects")
                except httpx.HTTPError as exc:
                    return type(exc).__name__
                if response.status_code == 200:
                    return None
                return f"GET /subjects answered {response.status_code}"

            wait_ready(
                self._proc,
                subjects_answer,
                timeout_s=self.start_timeout_s,
                name="registry",
                not_ready=f"registry on {self.url} did not answer",
                log_path=self.log_path,
                error=RegistryStartError,
            )

    def stop(self, timeout_s: float = 10.0) -> None:
        returncode = self._stop_process(timeout_s)
        if returncode is not None:
            self.returncode = returncode
