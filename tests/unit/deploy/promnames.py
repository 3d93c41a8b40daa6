"""Prometheus names of the OpenTelemetry instruments that pipeline/observability.py creates,
derived from the module's source (so alert rules and dashboards are checked against what the
code really records, not against a copied list).

Translation as done by the OTel collector's Prometheus exporter: dots become underscores,
unit "s" adds ``_seconds``, monotonic counters add ``_total``, histograms expose
``_bucket``/``_sum``/``_count``; up-down counters and gauges keep their name.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pipeline.observability as observability

_UNIT_SUFFIX = {"s": "seconds", "ms": "milliseconds", "By": "bytes", "1": "ratio"}


def instruments() -> list[tuple[str, str, str]]:
    """(kind, otel name, unit) for every ``meter.create_*("name", unit=...)`` call."""
    tree = ast.parse(Path(observability.__file__).read_text())
    found: list[tuple[str, str, str]] = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        kind = node.func.attr
        if not kind.startswith("create_") or not node.args:
            continue
        first = node.args[0]
        if not (isinstance(first, ast.Constant) and isinstance(first.value, str)):
            continue
        unit = ""
        for kw in node.keywords:
            if kw.arg == "unit" and isinstance(kw.value, ast.Constant):
                unit = str(kw.value.value)
        found.append((kind.removeprefix("create_"), first.value, unit))
    return found


def prometheus_names() -> set[str]:
    names: set[str] = set()
    for kind, otel_name, unit in instruments():
        base = re.sub(r"[^a-zA-Z0-9_]", "_", otel_name)
        suffix = _UNIT_SUFFIX.get(unit)
        if suffix and not base.endswith(suffix):
            base = f"{base}_{suffix}"
        if kind in ("counter", "observable_counter"):
            names.add(f"{base}_total")
        elif kind == "histogram":
            names |= {f"{base}_bucket", f"{base}_sum", f"{base}_count"}
        else:  # up_down_counter, gauge, observable_gauge, observable_up_down_counter
            names.add(base)
    return names


# Metrics from kafka-exporter (deployed next to Prometheus in docker-compose.yml and
# deploy/k8s/kafka-exporter.yaml): consumer lag is a broker-side fact no worker records.
EXPORTER_PREFIX = "kafka_"

_METRIC = re.compile(r"\b((?:voicebus|kafka)_[a-zA-Z0-9_]+)\b")


def referenced_metrics(expr: str) -> set[str]:
    """voicebus_* and kafka_* metric names used in a PromQL expression."""
    return set(_METRIC.findall(expr))


def attribute_names() -> set[str]:
    """Attribute (label) keys observability.py puts on points: string keys of dict literals."""
    tree = ast.parse(Path(observability.__file__).read_text())
    keys: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Dict):
            keys |= {
                k.value
                for k in node.keys
                if isinstance(k, ast.Constant) and isinstance(k.value, str)
            }
    return keys


_BY = re.compile(r"\b(?:by|without)\s*\(([^)]*)\)")


def grouping_labels(expr: str) -> set[str]:
    """Label names in ``by (...)`` / ``without (...)`` clauses."""
    return {
        label.strip() for group in _BY.findall(expr) for label in group.split(",") if label.strip()
    }
