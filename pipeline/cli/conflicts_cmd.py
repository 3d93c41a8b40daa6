"""``voicebus conflicts ls|show|resolve``: review conflicts parked on ``sync.conflicts`` and
publish a person's decision (see ``pipeline.conflicts.decide`` for the record it writes)."""

from __future__ import annotations

import json

import typer
from rich.table import Table
from rich.text import Text

from pipeline.cli.dlq_cmd import add_row, console, tool_errors
from pipeline.config import load_settings
from pipeline.conflicts import decide
from pipeline.conflicts.store import get_conflict, read_conflicts

conflicts_app = typer.Typer(help="Review and resolve sync conflicts (sync.conflicts).")


def _short(value: object, width: int = 60) -> str:
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else value
    return text if len(text) <= width else text[: width - 3] + "..."


@conflicts_app.command("ls")
def ls_cmd(
    target: str | None = typer.Option(None, "--target", help="Only this target."),
    status: str = typer.Option("open", "--status", help="open, resolved or all."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Conflicts (latest state of each), oldest first."""
    if status not in ("open", "resolved", "all"):
        raise typer.BadParameter("use open, resolved or all", param_hint="--status")
    with tool_errors():
        conflicts = [
            c
            for c in read_conflicts(load_settings()).values()
            if (target is None or c.target == target) and status in ("all", c.status)
        ]
    conflicts.sort(key=lambda c: c.created_at)
    if as_json:
        typer.echo(json.dumps([c.model_dump(mode="json", exclude={"event"}) for c in conflicts]))
        return
    if not conflicts:
        console().print(f"no {'' if status == 'all' else status + ' '}conflicts")
        return
    table = Table(title=f"conflicts ({status})")
    for column in ("id", "target", "record", "key", "fields", "status", "created"):
        table.add_column(column)
    for c in conflicts:
        manual = [n for n, f in c.fields.items() if not f.auto]
        fields = ", ".join(f"{n}*" if n in manual else n for n in c.fields)
        add_row(table, c.conflict_id, c.target, c.record_ref, c.key, fields, c.status, c.created_at)
    console().print(table)
    console().print("* = needs a decision")


@conflicts_app.command("show")
def show_cmd(
    conflict_id: str = typer.Argument(..., help="Conflict id (or a unique prefix)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """One conflict with the event's and the target's value of each field."""
    with tool_errors():
        c = get_conflict(load_settings(), conflict_id)
    if as_json:
        typer.echo(json.dumps(c.model_dump(mode="json", exclude={"event"})))
        return
    out = console()
    out.print(
        Text(
            f"conflict {c.conflict_id} [{c.status}] target={c.target} record={c.record_ref} "
            f"key={c.key} event={c.event_id}\nevent at {c.event_occurred_at or '-'}, target "
            f"modified at {c.target_modified_at or '-'}; {c.message}"
        )
    )
    table = Table()
    for column in ("field", "rule", "event value", "target value", "suggested"):
        table.add_column(column)
    for name, f in c.fields.items():
        suggested = _short(f.suggested) if f.auto else f"(decide) {f.reason}"
        add_row(table, name, f.rule, _short(f.event), _short(f.target), suggested)
    out.print(table)
    if c.resolution is not None:
        out.print(
            Text(f"resolved by {c.resolved_by} at {c.resolved_at}: {json.dumps(c.resolution)}")
        )


@conflicts_app.command("resolve")
def resolve_cmd(
    conflict_id: str = typer.Argument(..., help="Conflict id (or a unique prefix)."),
    take: str | None = typer.Option(None, "--take", help="event or target, for every field."),
    field: list[str] = typer.Option(
        [], "--field", help="NAME=event|target|<value> (repeatable; JSON values accepted)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the resolved conflict as JSON."),
) -> None:
    """Publish the chosen values to sync.<target> (operation resolve_conflict, applied
    unconditionally by the connector) and mark the conflict resolved."""
    choices: dict[str, str] = {}
    for item in field:
        name, sep, choice = item.partition("=")
        if not sep or not name:
            raise typer.BadParameter(
                f"{item!r}: use NAME=event|target|<value>", param_hint="--field"
            )
        choices[name] = choice
    settings = load_settings()
    with tool_errors():
        conflict = get_conflict(settings, conflict_id)
        values = decide.choose_values(conflict, take, choices)
        resolved = decide.publish_resolution(settings, conflict, values)
    if as_json:
        typer.echo(json.dumps(resolved.model_dump(mode="json", exclude={"event"})))
        return
    typer.echo(
        f"conflict {resolved.conflict_id} resolved: published {decide.RESOLVE_OPERATION} for "
        f"{resolved.record_ref} to sync.{resolved.target} (fields: {', '.join(values)})"
    )


def register(app: typer.Typer) -> None:
    """Add ``conflicts`` to the root app."""
    app.add_typer(conflicts_app, name="conflicts")
