"""`voicebus demo` end to end, as `make demo` runs it (smaller): a subprocess on free ports."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from pipeline.devstack import voicebus_command
from pipeline.simulate import build_scenario
from pipeline.topics import SYNC_TARGETS

pytestmark = pytest.mark.integration


def test_demo_puts_every_simulated_event_on_call_events(tmp_path: Path) -> None:
    expected = len(build_scenario(3, seed=7).events())
    env = {**os.environ, "VOICEBUS_STATE_DIR": str(tmp_path / ".voicebus"), "COLUMNS": "160"}
    proc = subprocess.run(
        [*voicebus_command(), "demo", "--calls", "3", "--seed", "7", "--wait-s", "60"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    row = re.search(r"voice\.call-events\s+│\s+(\d+)\s+│", proc.stdout)
    assert row is not None, output
    assert int(row.group(1)) == expected
    assert f"all {expected} simulated events are on voice.call-events" in proc.stdout
    # the processors stage is wired: every event was enriched
    enriched = re.search(r"voice\.call-events\.enriched\s+│\s+(\d+)\s+│", proc.stdout)
    assert enriched is not None and int(enriched.group(1)) == expected, output
    assert (tmp_path / ".voicebus" / "logs" / "demo" / "broker.log").exists()
    # the per-target table accounts for every catalogue target, running or not
    for target in SYNC_TARGETS:
        assert re.search(rf"│ {target}\s+│", proc.stdout), f"no row for {target}"
