"""Observable gauges of every sink runtime in this process (lag, paused partitions).

OpenTelemetry instruments are registered once per name; each runtime adds itself to a weak
set that the one callback per gauge walks, so several runtimes (tests, one process running a
few targets) report side by side without duplicate-instrument warnings.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterable
from typing import Protocol

from opentelemetry import metrics
from opentelemetry.metrics import CallbackOptions, Observation


class GaugeSource(Protocol):
    target: str

    def lag_by_partition(self) -> dict[tuple[str, int], int]: ...

    def paused_count(self) -> int: ...


_sources: weakref.WeakSet[GaugeSource] = weakref.WeakSet()
_lock = threading.Lock()
_registered = False


def _lag(_options: CallbackOptions) -> Iterable[Observation]:
    for source in list(_sources):
        for (topic, partition), lag in source.lag_by_partition().items():
            yield Observation(
                lag, {"target": source.target, "topic": topic, "partition": partition}
            )


def _paused(_options: CallbackOptions) -> Iterable[Observation]:
    for source in list(_sources):
        yield Observation(source.paused_count(), {"target": source.target})


def register(source: GaugeSource) -> None:
    global _registered
    with _lock:
        _sources.add(source)
        if _registered:
            return
        meter = metrics.get_meter("voicebus")
        meter.create_observable_gauge(
            "voicebus.sink.lag", callbacks=[_lag], description="records behind, per partition"
        )
        meter.create_observable_gauge("voicebus.sink.paused_partitions", callbacks=[_paused])
        _registered = True
