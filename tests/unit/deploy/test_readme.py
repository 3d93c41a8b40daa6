"""README.md stays true: it opens with the two fresh-machine commands, and every
`voicebus ...` command it mentions exists in the CLI."""

from __future__ import annotations

import re

from tests.unit.deploy.conftest import ROOT

README = (ROOT / "README.md").read_text()


def cli_tree() -> dict[str, set[str]]:
    """Top-level command -> its subcommands (empty for plain commands)."""
    from pipeline.cli import app

    tree: dict[str, set[str]] = {}
    for command in app.registered_commands:
        tree[command.name or command.callback.__name__] = set()  # type: ignore[union-attr]
    for group in app.registered_groups:
        sub = group.typer_instance.registered_commands  # type: ignore[union-attr]
        tree[group.name or ""] = {c.name or c.callback.__name__ for c in sub}  # type: ignore[union-attr]
    return tree


def test_readme_opens_with_make_demo_and_make_test() -> None:
    lines = README.splitlines()
    assert lines[0].startswith("# ")
    rest = [line for line in lines[1:] if line.strip()]
    assert rest[0].startswith("```")
    assert rest[1:4] == ["make demo", "make test", "```"]


def test_every_documented_command_exists() -> None:
    tree = cli_tree()
    mentions = re.findall(r"voicebus ([a-z][a-z-]*)(?: ([a-z][a-z-]*))?", README)
    checked = 0
    for command, sub in mentions:
        if command not in tree:
            continue  # prose such as "voicebus is ..." or "voicebus image"
        checked += 1
        if tree[command] and sub:
            assert sub in tree[command], f"README mentions `voicebus {command} {sub}`"
    assert checked >= 10


def test_documented_targets_match_the_catalogue() -> None:
    from pipeline.topics import SYNC_TARGETS

    for target in SYNC_TARGETS:
        assert target in README, f"README does not mention target {target}"


def test_documented_settings_exist() -> None:
    from pipeline.config import KafkaSecurity, Settings

    fields = {f"VOICEBUS_{name.upper()}" for name in Settings.model_fields}
    fields |= {f"VOICEBUS_SECURITY__{name.upper()}" for name in KafkaSecurity.model_fields}
    for variable in re.findall(r"`(VOICEBUS_[A-Z_]+)`", README):
        if variable.startswith(("VOICEBUS_SINK_", "VOICEBUS_WEBHOOK_", "VOICEBUS_ROUTES_")):
            continue  # component settings, documented in their modules
        assert variable in fields, f"README documents unknown setting {variable}"
