"""``voicebus topics apply|ls``: create and reconcile the topic catalogue, list what exists.

Settings come from the environment (``VOICEBUS_*``); ``--bootstrap-servers`` overrides."""

from __future__ import annotations

from typing import Any

import typer
from confluent_kafka import KafkaException
from rich.console import Console
from rich.table import Table

from pipeline.config import Settings, load_settings
from pipeline.topics import SYNC_TARGETS, TopicChange, apply_topics, catalogue, describe_topics

topics_app = typer.Typer(help="Create and inspect the voicebus topics (the catalogue).")

_ACTION_STYLE = {
    "create": "green",
    "update-config": "cyan",
    "add-partitions": "cyan",
    "unchanged": "dim",
    "warning": "yellow",
    "error": "red",
}


def _console() -> Console:
    return Console(width=160, soft_wrap=True)


def _settings(bootstrap_servers: str | None) -> Settings:
    overrides: dict[str, Any] = {}
    if bootstrap_servers:
        overrides["bootstrap_servers"] = bootstrap_servers
    return load_settings(**overrides)


def _targets(targets: str | None) -> list[str]:
    if not targets:
        return list(SYNC_TARGETS)
    return [t.strip() for t in targets.split(",") if t.strip()]


BootstrapOption = typer.Option(None, "--bootstrap-servers", help="Kafka bootstrap servers.")
TargetsOption = typer.Option(
    None, "--targets", help="Comma-separated sync targets (default: every built-in connector)."
)


@topics_app.command("apply")
def apply_cmd(
    dry_run: bool = typer.Option(False, "--dry-run", help="Only show what would change."),
    replication_factor: int = typer.Option(
        1, "--replication-factor", min=1, help="1 for the embedded broker, 3 in production."
    ),
    targets: str | None = TargetsOption,
    bootstrap_servers: str | None = BootstrapOption,
) -> None:
    """Create missing catalogue topics and reconcile their configs (idempotent).

    Exits 1 when a topic could not be brought in line (the table says why)."""
    settings = _settings(bootstrap_servers)
    specs = catalogue(_targets(targets), replication_factor=replication_factor)
    try:
        changes = apply_topics(settings, specs, dry_run=dry_run)
    except KafkaException as exc:
        Console(stderr=True).print(
            f"[red]error:[/red] cannot reach Kafka at {settings.bootstrap_servers}: {exc}",
            highlight=False,
        )
        raise typer.Exit(1) from None
    _print_changes(changes, dry_run)
    if any(c.action == "error" for c in changes):
        raise typer.Exit(1)


def _print_changes(changes: list[TopicChange], dry_run: bool) -> None:
    title = "topic changes (dry run: nothing applied)" if dry_run else "topic changes"
    table = Table(title=title)
    for column in ("topic", "action", "detail"):
        table.add_column(column, overflow="fold")
    for change in changes:
        style = _ACTION_STYLE.get(change.action, "")
        table.add_row(change.topic, f"[{style}]{change.action}[/{style}]", change.detail)
    out = _console()
    out.print(table)
    counts: dict[str, int] = {}
    for change in changes:
        counts[change.action] = counts.get(change.action, 0) + 1
    out.print(", ".join(f"{n} {action}" for action, n in sorted(counts.items())))


@topics_app.command("ls")
def ls_cmd(
    all_topics: bool = typer.Option(
        False, "--all", help="Also list topics that are not in the catalogue."
    ),
    targets: str | None = TargetsOption,
    bootstrap_servers: str | None = BootstrapOption,
) -> None:
    """Catalogue topics with their state on the broker (partitions, replication, configs)."""
    settings = _settings(bootstrap_servers)
    try:
        existing = {t.name: t for t in describe_topics(settings)}
    except KafkaException as exc:
        Console(stderr=True).print(
            f"[red]error:[/red] cannot reach Kafka at {settings.bootstrap_servers}: {exc}",
            highlight=False,
        )
        raise typer.Exit(1) from None
    specs = {s.name: s for s in catalogue(_targets(targets))}
    names = list(specs) + (sorted(n for n in existing if n not in specs) if all_topics else [])
    table = Table(title=f"topics on {settings.bootstrap_servers}")
    for column in ("topic", "state", "partitions", "replication", "cleanup.policy", "retention.ms"):
        table.add_column(column, overflow="fold")
    for name in names:
        actual, spec = existing.get(name), specs.get(name)
        if actual is None:
            state = "[red]missing[/red]"
            shown = spec
        else:
            shown = actual
            differs = spec is not None and (
                actual.partitions != spec.partitions
                or any(actual.config.get(k) != v for k, v in spec.config.items())
            )
            if spec is None:
                state = "[dim]not in catalogue[/dim]"
            else:
                state = "[yellow]differs[/yellow]" if differs else "[green]ok[/green]"
        assert shown is not None
        table.add_row(
            name,
            state,
            str(shown.partitions),
            str(shown.replication_factor),
            shown.config.get("cleanup.policy", "-"),
            shown.config.get("retention.ms", "-"),
        )
    _console().print(table)


def register(app: typer.Typer) -> None:
    """Add ``voicebus topics ...`` to the root app."""
    app.add_typer(topics_app, name="topics")
