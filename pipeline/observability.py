"""OpenTelemetry set-up and the instruments voicebus records.

``configure_telemetry`` installs tracer and meter providers once per process: OTLP exporters
when ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or ``endpoint``) is set, in-memory readers for tests
(``in_memory=True``), otherwise no export.  Instruments are created lazily from the global
providers, so code can record metrics whether or not telemetry was configured.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from opentelemetry import metrics, propagate, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, MetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

_METER_NAME = "voicebus"


@dataclass
class Telemetry:
    """Handles returned by ``configure_telemetry`` (exporters are None unless in memory)."""

    span_exporter: InMemorySpanExporter | None = None
    metric_reader: InMemoryMetricReader | None = None

    def metric_points(self) -> dict[str, list[tuple[dict[str, Any], float]]]:
        """name -> [(attributes, value)] from the in-memory reader (sums and histogram
        counts), for tests and ``voicebus`` status output."""
        out: dict[str, list[tuple[dict[str, Any], float]]] = {}
        if self.metric_reader is None:
            return out
        data = self.metric_reader.get_metrics_data()
        if data is None:
            return out
        for rm in data.resource_metrics:
            for sm in rm.scope_metrics:
                for metric in sm.metrics:
                    for point in metric.data.data_points:
                        raw: Any = getattr(point, "value", None)
                        if raw is None:
                            raw = getattr(point, "count", 0)
                        out.setdefault(metric.name, []).append(
                            (dict(point.attributes or {}), float(raw))
                        )
        return out

    def metric_total(self, name: str, **attrs: Any) -> float:
        return sum(
            v
            for a, v in self.metric_points().get(name, [])
            if all(a.get(k) == val for k, val in attrs.items())
        )


_configured: Telemetry | None = None


def configure_telemetry(
    service_name: str = "voicebus", *, in_memory: bool = False, endpoint: str | None = None
) -> Telemetry:
    """Install providers once per process; later calls return the first configuration."""
    global _configured
    if _configured is not None:
        return _configured
    resource = Resource.create({"service.name": service_name})
    endpoint = endpoint or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    tracer_provider = TracerProvider(resource=resource)
    readers: list[MetricReader] = []
    telemetry = Telemetry()
    if in_memory:
        telemetry.span_exporter = InMemorySpanExporter()
        tracer_provider.add_span_processor(SimpleSpanProcessor(telemetry.span_exporter))
        telemetry.metric_reader = InMemoryMetricReader()
        readers.append(telemetry.metric_reader)
    elif endpoint:
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader

        tracer_provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
        readers.append(PeriodicExportingMetricReader(OTLPMetricExporter(endpoint=endpoint)))
    trace.set_tracer_provider(tracer_provider)
    metrics.set_meter_provider(MeterProvider(resource=resource, metric_readers=readers))
    _configured = telemetry
    return telemetry


def tracer() -> trace.Tracer:
    return trace.get_tracer(_METER_NAME)


def inject_trace_headers(headers: dict[str, str] | None = None) -> dict[str, str]:
    """W3C traceparent/tracestate of the current span, for Kafka headers."""
    carrier: dict[str, str] = dict(headers or {})
    propagate.inject(carrier)
    return carrier


@contextmanager
def span_from_headers(
    name: str, headers: Mapping[str, str], attributes: Mapping[str, Any] | None = None
) -> Iterator[trace.Span]:
    """A consumer-side span whose parent is the producer's traceparent header."""
    ctx = propagate.extract(dict(headers))
    with tracer().start_as_current_span(
        name, context=ctx, kind=trace.SpanKind.CONSUMER, attributes=dict(attributes or {})
    ) as span:
        yield span


class SinkMetrics:
    """Instruments of one sink target (attribute ``target`` on every point)."""

    def __init__(self, target: str) -> None:
        meter = metrics.get_meter(_METER_NAME)
        self.target = target
        self._attrs = {"target": target}
        self._delivered = meter.create_counter("voicebus.sink.delivered")
        self._failed = meter.create_counter("voicebus.sink.failed")
        self._retried = meter.create_counter("voicebus.sink.retried")
        self._dead_lettered = meter.create_counter("voicebus.sink.dead_lettered")
        self._throttled = meter.create_histogram("voicebus.sink.throttled_wait", unit="s")
        self._latency = meter.create_histogram("voicebus.sink.end_to_end_latency", unit="s")
        self._api_calls = meter.create_counter("voicebus.sink.api_calls")
        self._circuit = meter.create_up_down_counter("voicebus.sink.circuit_open")
        self._duplicates = meter.create_counter("voicebus.sink.duplicates_skipped")

    def delivered(self, latency_s: float | None = None) -> None:
        self._delivered.add(1, self._attrs)
        if latency_s is not None:
            self._latency.record(max(0.0, latency_s), self._attrs)

    def failed(self, error_class: str) -> None:
        self._failed.add(1, {**self._attrs, "error_class": error_class})

    def retried(self) -> None:
        self._retried.add(1, self._attrs)

    def dead_lettered(self, error_class: str) -> None:
        self._dead_lettered.add(1, {**self._attrs, "error_class": error_class})

    def throttled(self, wait_s: float) -> None:
        self._throttled.record(wait_s, self._attrs)

    def api_call(self, operation: str = "") -> None:
        self._api_calls.add(1, {**self._attrs, "operation": operation})

    def duplicate_skipped(self) -> None:
        self._duplicates.add(1, self._attrs)

    def circuit_opened(self) -> None:
        self._circuit.add(1, self._attrs)

    def circuit_closed(self) -> None:
        self._circuit.add(-1, self._attrs)


class ApiQuotaMetrics:
    """Vendor-reported API quota of one target (e.g. Salesforce ``Sforce-Limit-Info:
    api-usage=N/M``), as gauges ``voicebus.target.api_usage`` / ``..._limit`` (attribute
    ``target``), so an alert can fire before the vendor starts refusing calls."""

    def __init__(self, target: str) -> None:
        meter = metrics.get_meter(_METER_NAME)
        self._attrs = {"target": target}
        self._used = meter.create_gauge("voicebus.target.api_usage")
        self._limit = meter.create_gauge("voicebus.target.api_limit")

    def observe(self, used: int, limit: int) -> None:
        self._used.set(used, self._attrs)
        self._limit.set(limit, self._attrs)
