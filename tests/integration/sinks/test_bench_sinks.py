"""bench/sinks.py runs end to end (tiny counts) and prints its comparison."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[3] / "bench" / "sinks.py"


def test_sink_bench_prints_rates_ratio_and_ceiling_fraction() -> None:
    result = subprocess.run(
        [
            sys.executable,
            str(BENCH),
            "--records",
            "60",
            "--serial-records",
            "10",
            "--keys",
            "20",
            "--latency-ms",
            "20",
            "--max-in-flight",
            "8",
            "--no-diagnostic",
        ],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    out = result.stdout
    assert re.search(r"key-ordered concurrent \(max_in_flight=8\): [\d,.]+ rec/s", out)
    assert re.search(r"one at a time \(max_in_flight=1\): [\d,.]+ rec/s", out)
    ratio = re.search(r"ratio: ([\d.]+)x", out)
    assert ratio and float(ratio.group(1)) > 0
    assert re.search(r"ceiling .* = 400 rec/s; reached \d+%", out)
