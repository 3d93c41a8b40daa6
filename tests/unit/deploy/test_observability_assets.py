"""Alert rules and the Grafana dashboard only use metrics that voicebus really records
(names derived from pipeline/observability.py) or that the deployed kafka-exporter exposes."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from tests.unit.deploy.conftest import DEPLOY, ROOT
from tests.unit.deploy.promnames import (
    EXPORTER_PREFIX,
    attribute_names,
    grouping_labels,
    prometheus_names,
    referenced_metrics,
)

# labels Prometheus adds itself (histogram buckets, scrape target) or kafka-exporter sets
STANDARD_LABELS = {"le", "job", "instance", "service_name"}
EXPORTER_LABELS = {"consumergroup", "topic", "partition"}


@pytest.fixture(scope="module")
def rules() -> list[dict[str, Any]]:
    doc = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yaml").read_text())
    return [rule for group in doc["groups"] for rule in group["rules"]]


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    return json.loads((DEPLOY / "grafana" / "voicebus.json").read_text())


def check_expr(expr: str, where: str) -> set[str]:
    used = referenced_metrics(expr)
    assert used, f"{where}: references no known metric: {expr}"
    known = prometheus_names()
    for metric in used:
        if metric.startswith("voicebus_"):
            assert metric in known, f"{where}: {metric} is not recorded by observability.py"
        else:
            assert metric.startswith(EXPORTER_PREFIX), f"{where}: {metric}"
    labels = grouping_labels(expr)
    allowed = attribute_names() | STANDARD_LABELS | EXPORTER_LABELS
    assert labels <= allowed, f"{where}: unknown labels {sorted(labels - allowed)}"
    return used


def test_derivation_finds_the_sink_instruments() -> None:
    names = prometheus_names()
    assert "voicebus_sink_delivered_total" in names
    assert "voicebus_sink_end_to_end_latency_seconds_bucket" in names
    assert "voicebus_sink_circuit_open" in names  # up-down counter: gauge, no _total
    assert "voicebus_sink_circuit_open_total" not in names
    assert {"target", "error_class"} <= attribute_names()


def test_checker_rejects_unknown_metrics() -> None:
    with pytest.raises(AssertionError):
        check_expr("rate(voicebus_sink_made_up_total[5m])", "probe")
    with pytest.raises(AssertionError):
        check_expr("sum by (tenant) (rate(voicebus_sink_delivered_total[5m]))", "probe")


def test_alert_rules_use_recorded_metrics(rules: list[dict[str, Any]]) -> None:
    for rule in rules:
        check_expr(rule["expr"], rule["alert"])
        assert rule["labels"]["severity"] in {"info", "warning", "critical"}
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]
        assert rule.get("for"), f"{rule['alert']} would fire on a single scrape"


def test_the_required_alerts_exist(rules: list[dict[str, Any]]) -> None:
    by_metric: dict[str, set[str]] = {}
    for rule in rules:
        for metric in referenced_metrics(rule["expr"]):
            by_metric.setdefault(metric, set()).add(rule["alert"])
    assert "kafka_consumergroup_lag" in by_metric  # consumer lag per group
    assert "voicebus_sink_dead_lettered_total" in by_metric  # DLQ growing
    assert "voicebus_sink_circuit_open" in by_metric  # circuit open
    assert "voicebus_sink_failed_total" in by_metric  # error rate
    latency = [r for r in rules if "end_to_end_latency_seconds_bucket" in r["expr"]]
    assert latency, "no end-to-end latency alert"
    assert "histogram_quantile" in latency[0]["expr"] and "0.95" in latency[0]["expr"]
    names = [r["alert"] for r in rules]
    assert len(names) == len(set(names)), "alert names must be unique"


def test_lag_exporter_is_deployed_wherever_the_rules_run(compose: dict[str, Any]) -> None:
    assert compose["services"]["kafka-exporter"]["image"].startswith("danielqsj/kafka-exporter:")
    assert (DEPLOY / "k8s" / "kafka-exporter.yaml").is_file()
    prom = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    targets = {
        t for job in prom["scrape_configs"] for s in job["static_configs"] for t in s["targets"]
    }
    assert {"otel-collector:8889", "kafka-exporter:9308"} <= targets
    collector = yaml.safe_load((ROOT / "deploy" / "otel-collector.yaml").read_text())
    assert collector["exporters"]["prometheus"]["endpoint"].endswith(":8889")


def test_dashboard_panels_use_recorded_metrics(dashboard: dict[str, Any]) -> None:
    panels = dashboard["panels"]
    assert len(panels) >= 6
    covered: set[str] = set()
    for panel in panels:
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            covered |= check_expr(target["expr"], panel["title"])
    for variable in dashboard["templating"]["list"]:
        check_expr(variable["definition"], f"variable {variable['name']}")
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids))
    for needed in (
        "voicebus_sink_delivered_total",
        "voicebus_sink_dead_lettered_total",
        "voicebus_sink_circuit_open",
        "voicebus_sink_end_to_end_latency_seconds_bucket",
        "kafka_consumergroup_lag",
    ):
        assert needed in covered, f"no panel shows {needed}"


def test_dashboard_datasource_is_provisioned(dashboard: dict[str, Any]) -> None:
    provisioned = yaml.safe_load(
        (DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yaml").read_text()
    )
    uids = {d["uid"] for d in provisioned["datasources"]}
    for panel in dashboard["panels"]:
        assert panel["datasource"]["uid"] in uids
