"""``voicebus routes``: validate a rules file, see which rules an event fires, hot-reload workers.

``reload`` validates the local file first and refuses to announce a broken one; the command is
published on the control topic so workers on other machines learn about it too.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from pipeline.processors.redaction import redact_event
from pipeline.processors.routing import (
    ControlError,
    LoadedRules,
    Router,
    RoutingSettings,
    RulesError,
    load_rules,
    publish_reload,
)
from pipeline.processors.routing.events import EventFileError, load_event_file

routes_app = typer.Typer(
    name="routes",
    help="Routing rules: validate a file, test an event against it, reload the workers.",
    no_args_is_help=True,
)

RulesOption = Annotated[
    Path | None,
    typer.Option(
        "--rules",
        help="Rules file (default: $VOICEBUS_ROUTES_FILE or config/routes.yaml).",
        show_default=False,
    ),
]


def _console(stderr: bool = False) -> Console:
    console = Console(stderr=stderr)
    # Wide enough that rule names and hints are not wrapped when the output is captured.
    return console if console.is_terminal else Console(stderr=stderr, width=200)


def _load_or_exit(path: Path) -> LoadedRules:
    try:
        return load_rules(path)
    except RulesError as exc:
        err = _console(stderr=True)
        err.print(f"[bold red]invalid rules file[/] {exc.source}:", highlight=False)
        for issue in exc.issues:
            err.print(f"  {issue.render(exc.source)}", markup=False, highlight=False)
        raise typer.Exit(code=1) from None


def _rules_path(rules: Path | None) -> Path:
    return rules if rules is not None else RoutingSettings().routes_file


@routes_app.command("validate")
def validate(
    file: Annotated[Path, typer.Argument(help="Rules YAML file to check.", show_default=False)],
) -> None:
    """Check a rules file; exit 1 with the line and field of every problem."""
    loaded = _load_or_exit(file)
    router = Router(loaded)
    _console().print(
        f"[green]OK[/] {file}: {len(router.rule_names)} enabled rules, targets: "
        f"{', '.join(sorted(router.targets)) or '-'} (sha256 {loaded.sha256[:12]})",
        highlight=False,
    )


@routes_app.command("test")
def test(
    event: Annotated[
        Path, typer.Argument(help="CallEvent or enriched event JSON.", show_default=False)
    ],
    rules: RulesOption = None,
    show_payload: Annotated[
        bool,
        typer.Option(
            "--show-payload", help="Also print the payload each target gets, after redaction."
        ),
    ] = False,
) -> None:
    """Show which rules an event fires and where it would be sent."""
    path = _rules_path(rules)
    router = Router(_load_or_exit(path))
    try:
        enriched = load_event_file(event)
    except EventFileError as exc:
        _console(stderr=True).print(f"[bold red]invalid event[/] {exc}", highlight=False)
        raise typer.Exit(code=1) from None

    console = _console()
    evaluations = router.explain(enriched)
    fired = [e for e in evaluations if e.fired]

    decisions = Table(title=f"Routes for {enriched['event_type']} event ({path})")
    for column in ("Rule", "Target", "Sync topic", "Operation", "Hints", "Redaction"):
        decisions.add_column(column)
    for evaluation in fired:
        for d in evaluation.decisions:
            decisions.add_row(
                d.rule, d.target, d.topic, d.operation, json.dumps(d.hints), d.redaction
            )
    if fired:
        console.print(decisions)
    else:
        console.print("[yellow]No rule fires for this event: it is not sent anywhere.[/]")

    if show_payload:
        for evaluation in fired:
            for d in evaluation.decisions:
                redacted = redact_event(enriched, d.redaction)
                console.rule(f"{d.topic} ({d.rule}, redaction {d.redaction})")
                console.print_json(json.dumps(redacted.get("payload"), default=str))

    why = Table(title="Rule evaluation")
    for column in ("Rule", "Fires", "Why"):
        why.add_column(column)
    for evaluation in evaluations:
        why.add_row(evaluation.rule, "yes" if evaluation.fired else "no", evaluation.reason)
    console.print(why)


@routes_app.command("reload")
def reload(rules: RulesOption = None) -> None:
    """Validate the rules file here, then tell every worker to reload its rules."""
    from pipeline.config import load_settings

    path = _rules_path(rules)
    loaded = _load_or_exit(path)
    routing = RoutingSettings()
    settings = load_settings()
    try:
        command = publish_reload(settings, rules_sha256=loaded.sha256, topic=routing.control_topic)
    except ControlError as exc:
        _console(stderr=True).print(f"[bold red]reload not sent:[/] {exc}", highlight=False)
        raise typer.Exit(code=1) from None
    _console().print(
        f"[green]reload sent[/] on {routing.control_topic} at {command['at']} "
        f"(rules {path}, sha256 {loaded.sha256[:12]}); workers whose file differs log a warning",
        highlight=False,
    )


def register(app: typer.Typer) -> None:
    """Add ``voicebus routes ...`` to the root app."""
    app.add_typer(routes_app, name="routes")
