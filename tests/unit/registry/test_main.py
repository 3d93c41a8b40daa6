"""Command-line validation of ``python -m pipeline.registry`` (no broker needed)."""

from __future__ import annotations

import pytest

from pipeline.registry.__main__ import build_parser, main
from pipeline.registry.process import RegistryProcess


def test_bad_default_compatibility_exits_2_with_the_reason(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["--bootstrap-servers", "127.0.0.1:1", "--default-compatibility", "LAX"]) == 2
    assert "LAX" in capsys.readouterr().err


def test_defaults() -> None:
    args = build_parser().parse_args([])
    assert (args.host, args.port, args.default_compatibility, args.topic) == (
        "127.0.0.1", 8081, "BACKWARD_TRANSITIVE", "_schemas",
    )  # fmt: skip


def test_process_command_line() -> None:
    process = RegistryProcess("127.0.0.1:9", port=18081, default_compatibility="full")
    cmd = process.command()
    assert cmd[1:3] == ["-m", "pipeline.registry"]
    assert cmd[cmd.index("--default-compatibility") + 1] == "FULL"
    assert cmd[cmd.index("--profile") + 1] == "dev"
    assert process.url == "http://127.0.0.1:18081" and not process.running
