"""bench/crm_rate.py runs end to end against both CRM sandboxes and prints its figures (a
tiny run: the figures are printed, never asserted as timings)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def test_crm_rate_bench_prints_a_ratio_line_per_crm_and_no_dead_letters() -> None:
    done = subprocess.run(  # noqa: S603 - our own script, fixed arguments
        [sys.executable, str(ROOT / "bench" / "crm_rate.py"), "--records", "3"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    for crm in ("salesforce", "hubspot"):
        ratio = re.search(
            rf"^{crm}: (\d+) API requests in [\d.]+ s = [\d.]+ req/s; limit 10 req/s; "
            r"ratio [\d.]+ \(goal >= 0.8\)",
            done.stdout,
            re.MULTILINE,
        )
        assert ratio is not None, done.stdout
        assert int(ratio.group(1)) >= 3  # at least one write per record reached the sandbox
        assert re.search(
            rf"^{crm}: 429/REQUEST_LIMIT_EXCEEDED answers \d+; delivered 3/3; DEAD_LETTER 0 ",
            done.stdout,
            re.MULTILINE,
        ), done.stdout
