"""The in-process parts of the embedded stack: broker, schema registry and the one-shot
topic/schema set-up (subprocess parts are ``ProcessComponent`` in ``pipeline.devstack``)."""

from __future__ import annotations

import json
import urllib.request

from pipeline.broker import EmbeddedBroker
from pipeline.devstack import Component, ComponentState, StackContext
from pipeline.registry.process import RegistryProcess


def _pid_of(process_owner: object) -> int | None:
    """pid of the subprocess an EmbeddedBroker / RegistryProcess runs (display only)."""
    proc = getattr(process_owner, "_proc", None)
    return int(proc.pid) if proc is not None else None


class BrokerComponent(Component):
    """The embedded Tansu broker (memory only: stopping it loses every record)."""

    name = "broker"

    def __init__(self, port: int | None = 9092, host: str = "127.0.0.1") -> None:
        super().__init__()
        self._port, self._host = port, host
        self.broker: EmbeddedBroker | None = None

    def start(self, ctx: StackContext) -> None:
        self.log_path = ctx.log_dir / "broker.log"
        self.broker = EmbeddedBroker(host=self._host, port=self._port, log_path=self.log_path)
        self.broker.start()
        ctx.bootstrap_servers = self.broker.bootstrap_servers
        self.detail = "Tansu, memory storage"

    def stop(self) -> None:
        if self.broker is not None:
            from pipeline.devstack_steps import forget_admin

            forget_admin(self.broker.bootstrap_servers)
            self.broker.stop()

    def health(self) -> ComponentState:
        if self.state is ComponentState.RUNNING and not (self.broker and self.broker.running):
            self.state = ComponentState.FAILED
            self.detail = "broker process exited (all data is gone: restart the stack)"
        return self.state

    @property
    def pid(self) -> int | None:
        return _pid_of(self.broker)

    @property
    def address(self) -> str:
        return self.broker.bootstrap_servers if self.broker is not None else ""

    def counts(self, ctx: StackContext) -> str:
        from pipeline.devstack_steps import admin_for

        topics = admin_for(ctx.settings()).list_topics(timeout=2.0).topics
        return f"{len(topics)} topics (memory only)"


class RegistryComponent(Component):
    """The project's Confluent-compatible schema registry (subprocess, HTTP)."""

    name = "schema-registry"

    def __init__(self, port: int | None = 8081, host: str = "127.0.0.1") -> None:
        super().__init__()
        self._port, self._host = port, host
        self.registry: RegistryProcess | None = None

    def start(self, ctx: StackContext) -> None:
        self.log_path = ctx.log_dir / "registry.log"
        self.registry = RegistryProcess(
            bootstrap_servers=ctx.bootstrap_servers,
            host=self._host,
            port=self._port,
            log_path=self.log_path,
        ).start()
        ctx.schema_registry_url = self.registry.url

    def stop(self) -> None:
        if self.registry is not None:
            self.registry.stop()

    def health(self) -> ComponentState:
        if self.state is ComponentState.RUNNING and not (self.registry and self.registry.running):
            self.state = ComponentState.FAILED
            self.detail = "registry process exited"
        return self.state

    @property
    def pid(self) -> int | None:
        return _pid_of(self.registry)

    @property
    def address(self) -> str:
        return self.registry.url if self.registry is not None else ""

    def counts(self, ctx: StackContext) -> str:
        url = f"{ctx.schema_registry_url}/subjects"
        with urllib.request.urlopen(url, timeout=2.0) as response:  # noqa: S310 - local registry
            return f"{len(json.loads(response.read()))} subjects"


class CatalogueComponent(Component):
    """One-shot: create the catalogue topics and register the schemas (idempotent)."""

    name = "topics+schemas"
    one_shot = True

    def start(self, ctx: StackContext) -> None:
        from pipeline.devstack_steps import apply_catalogue, register_schemas

        settings = ctx.settings()
        created = apply_catalogue(settings)
        subjects = register_schemas(settings)
        self.detail = f"{created} topics, {subjects} subjects"

    def stop(self) -> None:
        """Nothing to stop: topics live as long as the broker."""

    def counts(self, ctx: StackContext) -> str:
        return self.detail
