"""Shared fixtures: the real Tansu broker and the project's real schema registry, each on a
free loopback port, started for the test session (or per test where isolation matters)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.broker import EmbeddedBroker
from pipeline.config import Profile, Settings


@pytest.fixture(scope="session")
def log_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("logs")


@pytest.fixture(scope="session")
def broker(log_dir: Path) -> Iterator[EmbeddedBroker]:
    """One broker for the session; tests isolate themselves with unique topic names."""
    b = EmbeddedBroker(port=None, log_path=log_dir / "broker-session.log")
    b.start()
    yield b
    b.stop()


@pytest.fixture
def fresh_broker(tmp_path: Path) -> Iterator[EmbeddedBroker]:
    """A broker of this test's own (starts in ~20 ms): for tests that use the fixed catalogue
    topic names or count records on a topic."""
    b = EmbeddedBroker(port=None, log_path=tmp_path / "broker.log")
    b.start()
    yield b
    b.stop()


def _start_registry(bootstrap: str, log_path: Path):  # type: ignore[no-untyped-def]
    from pipeline.registry.process import RegistryProcess

    return RegistryProcess(bootstrap_servers=bootstrap, port=None, log_path=log_path).start()


@pytest.fixture(scope="session")
def registry(broker: EmbeddedBroker, log_dir: Path):  # type: ignore[no-untyped-def]
    """The project's schema registry (subprocess, real HTTP) on the session broker."""
    proc = _start_registry(broker.bootstrap_servers, log_dir / "registry-session.log")
    yield proc
    proc.stop()


@pytest.fixture
def fresh_registry(fresh_broker: EmbeddedBroker, tmp_path: Path):  # type: ignore[no-untyped-def]
    proc = _start_registry(fresh_broker.bootstrap_servers, tmp_path / "registry.log")
    yield proc
    proc.stop()


@pytest.fixture
def settings(broker: EmbeddedBroker, registry) -> Settings:  # type: ignore[no-untyped-def]
    return Settings(
        bootstrap_servers=broker.bootstrap_servers,
        schema_registry_url=registry.url,
        profile=Profile.DEV,
        delivery_timeout_ms=10_000,
    )


@pytest.fixture
def fresh_settings(fresh_broker: EmbeddedBroker, fresh_registry) -> Settings:  # type: ignore[no-untyped-def]
    return Settings(
        bootstrap_servers=fresh_broker.bootstrap_servers,
        schema_registry_url=fresh_registry.url,
        profile=Profile.DEV,
        delivery_timeout_ms=10_000,
    )


@pytest.fixture
def unique() -> str:
    """A short unique suffix for topic, group and subject names."""
    return uuid.uuid4().hex[:10]
