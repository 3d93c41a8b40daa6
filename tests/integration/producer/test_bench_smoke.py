"""bench/producer.py runs end to end (tiny count) and prints its figures; the speed goal
itself is judged by running the bench, not here."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.timeout(120)
def test_producer_bench_prints_rates_and_ratio() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "producer.py"), "--events", "300", "--rounds", "1"],
        capture_output=True,
        text=True,
        timeout=110,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    out = result.stdout
    assert re.search(r"^events: 300 ", out, re.M)
    sdk = re.search(r"^sdk .*: ([\d,]+) events/s$", out, re.M)
    raw = re.search(r"^raw .*: ([\d,]+) events/s$", out, re.M)
    ratio = re.search(r"^ratio sdk/raw: (\d+\.\d+) \((meets|BELOW) goal >= 0\.25\)$", out, re.M)
    assert sdk and raw and ratio, out
    sdk_rate, raw_rate = (float(m.group(1).replace(",", "")) for m in (sdk, raw))
    assert sdk_rate > 0 and raw_rate > 0
    assert float(ratio.group(1)) == pytest.approx(sdk_rate / raw_rate, rel=0.01, abs=0.001)
