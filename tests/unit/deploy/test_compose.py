"""docker-compose.yml is coherent: pinned images, a well-formed single-node KRaft broker, and
voicebus services that all talk to the same broker, registry and collector."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from pipeline.topics import SYNC_TARGETS

VOICEBUS_ENV = (
    "VOICEBUS_BOOTSTRAP_SERVERS",
    "VOICEBUS_SCHEMA_REGISTRY_URL",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
)


def image_is_pinned(image: str) -> bool:
    """name:tag with a real version tag (or a digest); never latest, never missing."""
    if "@sha256:" in image:
        return True
    name, _, tag = image.rpartition(":")
    if not name or "/" in tag:  # "registry:5000/foo" has no tag
        return False
    return tag != "latest" and re.search(r"\d", tag) is not None


def env_of(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: str(v) for k, v in env.items()}


def voicebus_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {n: s for n, s in compose["services"].items() if "build" in s}


def listeners(value: str) -> dict[str, tuple[str, int]]:
    """'PLAINTEXT://kafka:9092,CONTROLLER://:9093' -> {name: (host, port)}."""
    out: dict[str, tuple[str, int]] = {}
    for item in value.split(","):
        name, _, rest = item.partition("://")
        host, _, port = rest.rpartition(":")
        out[name] = (host, int(port))
    return out


def test_pinning_helper_rejects_unpinned_images() -> None:
    assert image_is_pinned("apache/kafka:3.9.1")
    assert image_is_pinned("repo/img@sha256:" + "a" * 64)
    assert not image_is_pinned("apache/kafka")
    assert not image_is_pinned("apache/kafka:latest")
    assert not image_is_pinned("localhost:5000/kafka")


def test_every_image_is_pinned(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        assert "image" in service, f"service {name} has no image (built images need a tag)"
        assert image_is_pinned(service["image"]), f"{name}: image {service['image']} not pinned"


def test_dockerfile_base_images_are_pinned(root: Path) -> None:
    bases = re.findall(r"^FROM\s+(\S+)", (root / "Dockerfile").read_text(), re.MULTILINE)
    assert bases, "Dockerfile has no FROM line"
    for base in bases:
        assert base.startswith("python:3.11"), base
        assert image_is_pinned(base) and re.match(r"python:3\.11\.\d+", base), base


def test_kafka_kraft_settings_are_coherent(compose: dict[str, Any]) -> None:
    kafka_name = "kafka"
    kafka = compose["services"][kafka_name]
    assert kafka["image"].startswith("apache/kafka:")
    env = env_of(kafka)
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    node_id = env["KAFKA_NODE_ID"]
    voters = env["KAFKA_CONTROLLER_QUORUM_VOTERS"].split(",")
    assert len(voters) == 1
    voter_id, _, voter_address = voters[0].partition("@")
    assert voter_id == node_id, "the single controller voter must be this node"
    declared = listeners(env["KAFKA_LISTENERS"])
    controller = env["KAFKA_CONTROLLER_LISTENER_NAMES"]
    assert controller in declared
    assert voter_address == f"{kafka_name}:{declared[controller][1]}"
    protocol_map = dict(
        item.split(":") for item in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(",")
    )
    assert set(declared) <= set(protocol_map), "every listener needs a security protocol"
    advertised = listeners(env["KAFKA_ADVERTISED_LISTENERS"])
    assert controller not in advertised, "the controller listener is not advertised to clients"
    internal = env.get("KAFKA_INTER_BROKER_LISTENER_NAME", "PLAINTEXT")
    assert advertised[internal] == (kafka_name, declared[internal][1]), (
        "the internal listener must advertise the compose service name"
    )
    for key in (
        "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR",
        "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR",
        "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR",
    ):
        assert env[key] == "1", f"{key} must be 1 on a single node"
    assert "healthcheck" in kafka


def _internal_bootstrap(compose: dict[str, Any]) -> str:
    env = env_of(compose["services"]["kafka"])
    host, port = listeners(env["KAFKA_ADVERTISED_LISTENERS"])[
        env.get("KAFKA_INTER_BROKER_LISTENER_NAME", "PLAINTEXT")
    ]
    return f"{host}:{port}"


def test_registry_uses_kafkas_internal_listener(compose: dict[str, Any]) -> None:
    registry = compose["services"]["schema-registry"]
    assert registry["image"].startswith("confluentinc/cp-schema-registry:")
    env = env_of(registry)
    store = env["SCHEMA_REGISTRY_KAFKASTORE_BOOTSTRAP_SERVERS"].removeprefix("PLAINTEXT://")
    assert store == _internal_bootstrap(compose)
    assert env["SCHEMA_REGISTRY_HOST_NAME"] == "schema-registry"
    assert registry["depends_on"]["kafka"]["condition"] == "service_healthy"


def test_voicebus_services_share_broker_registry_and_collector(compose: dict[str, Any]) -> None:
    services = voicebus_services(compose)
    assert {"topics", "processors"} <= set(services)
    registry_env = env_of(compose["services"]["schema-registry"])
    registry_port = urlsplit(registry_env["SCHEMA_REGISTRY_LISTENERS"]).port
    for name, service in services.items():
        env = env_of(service)
        assert env["VOICEBUS_BOOTSTRAP_SERVERS"] == _internal_bootstrap(compose), name
        assert env["VOICEBUS_SCHEMA_REGISTRY_URL"] == f"http://schema-registry:{registry_port}"
        depends = service["depends_on"]
        assert depends["kafka"]["condition"] == "service_healthy", name
        assert depends["schema-registry"]["condition"] == "service_healthy", name
        if name != "topics":
            assert depends["topics"]["condition"] == "service_completed_successfully", name
        for key, value in env.items():
            assert not re.search(r"(PASSWORD|TOKEN|SECRET)", key), f"{name}: secret {key} inline"
            assert value, f"{name}: {key} empty"


def test_otel_endpoint_is_the_collectors_grpc_receiver(compose: dict[str, Any], root: Path) -> None:
    config = yaml.safe_load((root / "deploy" / "otel-collector.yaml").read_text())
    grpc_port = int(config["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"].rsplit(":", 1)[1])
    collector = compose["services"]["otel-collector"]
    mounts = [v.split(":")[0] for v in collector["volumes"]]
    assert "./deploy/otel-collector.yaml" in mounts
    for name, service in voicebus_services(compose).items():
        endpoint = urlsplit(env_of(service)["OTEL_EXPORTER_OTLP_ENDPOINT"])
        assert (endpoint.hostname, endpoint.port) == ("otel-collector", grpc_port), name


def test_every_sink_names_a_catalogue_target(compose: dict[str, Any]) -> None:
    sinks: dict[str, str] = {}
    for name, service in voicebus_services(compose).items():
        command = service.get("command") or []
        if command[:1] == ["sink"]:
            assert len(command) == 2, name
            target = command[1]
            assert target in SYNC_TARGETS, f"{name}: unknown target {target}"
            assert name == f"sink-{target}"
            env_files = [e["path"] for e in service.get("env_file", [])]
            assert env_files == [f"./deploy/compose/{target}.env"], name
            example = Path(__file__).resolve().parents[3] / f"deploy/compose/{target}.env.example"
            assert example.exists(), f"{example} documents the variables of {target}"
            sinks[name] = target
    assert set(sinks.values()) == set(SYNC_TARGETS), "one sink per catalogue target"


def test_topics_job_applies_topics_and_registers_schemas(compose: dict[str, Any]) -> None:
    topics = compose["services"]["topics"]
    script = " ".join(topics["command"])
    assert "voicebus topics apply" in script and "voicebus schemas register" in script
    assert topics["restart"] == "no"
    assert compose["services"]["processors"]["command"] == ["process"]


def test_host_ports_are_unique_and_avoid_the_dev_stack(compose: dict[str, Any]) -> None:
    seen: dict[int, str] = {}
    for name, service in compose["services"].items():
        for mapping in service.get("ports", []):
            host_port = int(str(mapping).split(":")[-2])
            assert host_port not in seen, f"{name} and {seen.get(host_port)} both map {host_port}"
            seen[host_port] = name
    assert 9092 not in seen and 8081 not in seen, "those belong to `voicebus dev up`"


def test_mounted_files_exist(compose: dict[str, Any], root: Path) -> None:
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (root / source).exists(), f"{name} mounts missing {source}"


def connector_fields(target: str) -> set[str] | None:
    """Env-var field names of ``connectors/<target>/config.py`` (None: no connector yet)."""
    import importlib
    import inspect

    from pydantic_settings import BaseSettings

    try:
        module = importlib.import_module(f"connectors.{target}.config")
    except ModuleNotFoundError:
        return None
    prefix = f"VOICEBUS_{target.upper()}_"
    for _, cls in inspect.getmembers(module, inspect.isclass):
        if issubclass(cls, BaseSettings) and cls.model_config.get("env_prefix") == prefix:
            return {name.upper() for name in cls.model_fields}
    return None


def test_documented_connector_variables_exist(root: Path) -> None:
    """The .env.example files and the Kubernetes Secret template name real settings of the
    connectors that exist (planned ones only name the prefix)."""
    checked = 0
    sources = [p.read_text() for p in (root / "deploy" / "compose").glob("*.env.example")]
    sources.append((root / "deploy" / "k8s" / "secret.example.yaml").read_text())
    text = "\n".join(sources)
    for target in SYNC_TARGETS:
        fields = connector_fields(target)
        prefix = f"VOICEBUS_{target.upper()}_"
        for name in set(re.findall(rf"\b{prefix}([A-Z][A-Z0-9_]*)", text)):
            if fields is None:
                raise AssertionError(
                    f"{prefix}{name} documented, but connector {target} has no config"
                )
            assert name.split("__")[0] in fields, f"{prefix}{name} is not a {target} setting"
            checked += 1
    assert checked >= 5
