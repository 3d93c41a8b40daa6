"""bench/processors.py runs end to end (tiny) and prints its rates and ratio."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]


def test_processors_bench_prints_ratio():
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "processors.py"), "--calls", "6"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert re.search(r"^passthrough:\s+\d+ events/s$", result.stdout, re.M), result.stdout
    assert re.search(r"^enrich\+route:\s+\d+ events/s$", result.stdout, re.M), result.stdout
    ratio = re.search(r"^ratio: (\d+\.\d+) \(goal >= 0\.70\)$", result.stdout, re.M)
    assert ratio and float(ratio.group(1)) > 0
