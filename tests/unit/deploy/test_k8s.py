"""deploy/ Kubernetes manifests: well-formed, pinned, one worker per target, sensible probes,
no secret values, and a kustomization that only lists files that exist."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from pipeline.topics import SYNC_TARGETS
from tests.unit.deploy.conftest import DEPLOY
from tests.unit.deploy.test_compose import image_is_pinned


def containers(doc: dict[str, Any]) -> list[dict[str, Any]]:
    spec = doc.get("spec", {}).get("template", {}).get("spec", {})
    return list(spec.get("containers", [])) + list(spec.get("initContainers", []))


def by_kind(manifests: list[tuple[str, dict[str, Any]]], kind: str) -> dict[str, dict[str, Any]]:
    return {doc["metadata"]["name"]: doc for _, doc in manifests if doc["kind"] == kind}


def test_kustomization_lists_existing_files(kustomization: dict[str, Any]) -> None:
    listed = list(kustomization["resources"])
    for generator in kustomization.get("configMapGenerator", []):
        listed += generator.get("files", [])
    assert listed
    for rel in listed:
        assert (DEPLOY / rel).is_file(), f"kustomization.yaml lists missing {rel}"


def test_every_manifest_file_is_listed(kustomization: dict[str, Any]) -> None:
    """A manifest nobody applies is dead weight; the Secret template is deliberately left out."""
    listed = set(kustomization["resources"])
    for path in sorted((DEPLOY / "k8s").glob("*.yaml")):
        rel = f"k8s/{path.name}"
        if path.name == "secret.example.yaml":
            assert rel not in listed, "the placeholder Secret must not be applied"
        else:
            assert rel in listed, f"{rel} is not in kustomization.yaml"


def test_every_manifest_has_api_version_kind_and_name(
    manifests: list[tuple[str, dict[str, Any]]],
) -> None:
    assert len(manifests) >= 10
    for rel, doc in manifests:
        assert doc.get("apiVersion"), rel
        assert doc.get("kind"), rel
        assert doc.get("metadata", {}).get("name"), rel


def test_images_are_pinned(manifests: list[tuple[str, dict[str, Any]]]) -> None:
    count = 0
    for rel, doc in manifests:
        for container in containers(doc):
            count += 1
            assert image_is_pinned(container["image"]), f"{rel}: {container['image']}"
    assert count >= len(SYNC_TARGETS) + 2


def test_one_sink_deployment_per_catalogue_target(
    manifests: list[tuple[str, dict[str, Any]]],
) -> None:
    deployments = by_kind(manifests, "Deployment")
    pdbs = by_kind(manifests, "PodDisruptionBudget")
    for target in SYNC_TARGETS:
        name = f"voicebus-sink-{target}"
        assert name in deployments, f"no Deployment for {target}"
        (container,) = containers(deployments[name])
        assert container["args"] == ["sink", target]
        env = {e["name"]: e for e in container["env"]}
        assert env["VOICEBUS_PROBE_GROUP"]["value"] == name, "probe checks the sink's group"
        secret_refs = [s["secretRef"]["name"] for s in container["envFrom"] if "secretRef" in s]
        assert f"voicebus-sink-{target}" in secret_refs
        selector = deployments[name]["spec"]["selector"]["matchLabels"]
        assert pdbs[name]["spec"]["selector"]["matchLabels"] == selector
        assert deployments[name]["spec"]["template"]["metadata"]["labels"] == selector
    processors = deployments["voicebus-processors"]
    (container,) = containers(processors)
    assert container["args"] == ["process"]
    assert "voicebus-processors" in pdbs


def test_workers_have_resources_and_group_membership_probes(
    manifests: list[tuple[str, dict[str, Any]]],
) -> None:
    for name, doc in by_kind(manifests, "Deployment").items():
        for container in containers(doc):
            resources = container["resources"]
            for key in ("cpu", "memory"):
                assert resources["requests"][key] and resources["limits"][key], name
            assert "livenessProbe" in container and "readinessProbe" in container, name
            if name.startswith("voicebus-"):
                for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
                    command = container[probe]["exec"]["command"]
                    assert command == ["python", "-m", "pipeline.devstack_probe"], name
                env = {e["name"] for e in container["env"]}
                assert {"VOICEBUS_PROBE_GROUP", "POD_IP"} <= env, name


def test_probe_module_exists_with_a_main() -> None:
    import pipeline.devstack_probe as probe

    assert callable(probe.main)


def test_configmap_points_at_the_collector_service(
    manifests: list[tuple[str, dict[str, Any]]],
) -> None:
    config = by_kind(manifests, "ConfigMap")["voicebus-config"]["data"]
    for key in ("VOICEBUS_BOOTSTRAP_SERVERS", "VOICEBUS_SCHEMA_REGISTRY_URL", "VOICEBUS_PROFILE"):
        assert config[key], key
    assert config["VOICEBUS_PROFILE"] == "prod"
    service = by_kind(manifests, "Service")["otel-collector"]
    ports = {p["port"] for p in service["spec"]["ports"]}
    endpoint = config["OTEL_EXPORTER_OTLP_ENDPOINT"]
    match = re.fullmatch(r"http://([a-z0-9-]+)(?:\.[a-z0-9.-]+)?:(\d+)", endpoint)
    assert match, endpoint
    assert match.group(1) == "otel-collector" and int(match.group(2)) in ports
    assert not any(re.search("PASSWORD|SECRET|TOKEN", k) for k in config)


def test_topics_job_runs_apply_and_register(manifests: list[tuple[str, dict[str, Any]]]) -> None:
    job = by_kind(manifests, "Job")["voicebus-topics"]
    (container,) = containers(job)
    script = " ".join(container.get("command", []) + container.get("args", []))
    assert "voicebus topics apply" in script and "voicebus schemas register" in script
    assert "--replication-factor 3" in script, "a production cluster keeps three replicas"


def test_secret_template_holds_placeholders_only() -> None:
    docs = [d for d in yaml.safe_load_all((DEPLOY / "k8s" / "secret.example.yaml").read_text())]
    assert docs
    for doc in docs:
        assert doc["kind"] == "Secret"
        assert "data" not in doc, "base64 data could hide a real value; use stringData"
        for key, value in doc["stringData"].items():
            assert re.fullmatch(r"<[^<>]+>(:<[^<>]+>)?", value), f"{key} is not a placeholder"


def test_secret_template_covers_every_secret_the_workers_reference(
    manifests: list[tuple[str, dict[str, Any]]],
) -> None:
    templates = {
        d["metadata"]["name"]
        for d in yaml.safe_load_all((DEPLOY / "k8s" / "secret.example.yaml").read_text())
    }
    referenced: set[str] = set()
    for _, doc in manifests:
        for container in containers(doc):
            referenced |= {
                s["secretRef"]["name"] for s in container.get("envFrom", []) if "secretRef" in s
            }
        volumes = doc.get("spec", {}).get("template", {}).get("spec", {}).get("volumes", [])
        referenced |= {v["secret"]["secretName"] for v in volumes if "secret" in v}
    assert referenced
    assert referenced <= templates, f"no template for {sorted(referenced - templates)}"


def test_generated_config_files_exist(kustomization: dict[str, Any]) -> None:
    names = {g["name"] for g in kustomization["configMapGenerator"]}
    assert {
        "voicebus-otel-collector",
        "voicebus-prometheus-rules",
        "voicebus-grafana-dashboard",
    } <= names
    for generator in kustomization["configMapGenerator"]:
        for rel in generator["files"]:
            assert Path(DEPLOY / rel).stat().st_size > 0
