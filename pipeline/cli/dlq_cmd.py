"""``voicebus dlq ls|show|replay|purge`` and ``voicebus lag``: the SRE tools for dead letters
and consumer lag.  Logic lives in ``pipeline.dlq`` / ``pipeline.lag``; this module parses
options and renders tables.  Every expected failure ends in one red line and exit code 1."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from pipeline import headers as h
from pipeline.config import Settings, load_settings
from pipeline.dlq import inspect, purge, replay
from pipeline.dlq.kafka_io import ToolError
from pipeline.dlq.records import DlqFilter, DlqRecord, format_time, parse_time
from pipeline.dlq.tasks import ReplayTask, TaskStore

dlq_app = typer.Typer(help="Inspect, replay and purge dead-letter topics (sync.<target>.dlq).")


def add_row(table: Table, *cells: str) -> None:
    """Cells are data (error messages, keys), never markup: ``[`` must print as is."""
    table.add_row(*(Text(cell) for cell in cells))


def console() -> Console:
    return Console(width=200, soft_wrap=True) if not Console().is_terminal else Console()


@contextmanager
def tool_errors() -> Iterator[None]:
    """Expected failures (broker down, unknown topic, refused request) -> one line, exit 1."""
    try:
        yield
    except ToolError as exc:
        Console(stderr=True, soft_wrap=True).print(
            f"[red]error:[/red] {escape(str(exc))}", highlight=False
        )
        raise typer.Exit(1) from None


def _time(value: str | None, option: str) -> datetime | None:
    if value is None:
        return None
    try:
        return parse_time(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint=option) from None


def _settings() -> Settings:
    return load_settings()


@dlq_app.command("ls")
def ls_cmd(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Dead letters per target: count, oldest/newest failure, counts per error class.

    Counts come from reading the records above each purge floor, not from end offsets."""
    with tool_errors():
        summaries = inspect.summarize(_settings())
    if as_json:
        typer.echo(json.dumps([s.to_json() for s in summaries], indent=2))
        return
    out = console()
    if not summaries:
        out.print("no DLQ topics (sync.<target>.dlq) on the broker")
        return
    table = Table(title="dead-letter topics")
    for column in ("target", "count", "oldest failure", "newest failure", "by error class"):
        table.add_column(column, justify="right" if column == "count" else "left")
    for s in summaries:
        classes = ", ".join(f"{name}={n}" for name, n in sorted(s.by_class.items()))
        add_row(
            table,
            s.target,
            str(s.count),
            format_time(s.oldest),
            format_time(s.newest),
            classes or "-",
        )
    out.print(table)


def _record_json(record: DlqRecord, summarizer: inspect.ValueSummarizer) -> dict[str, Any]:
    return {
        "partition": record.partition,
        "offset": record.offset,
        "key": record.key,
        "error_class": record.error_class,
        "error_message": record.error_message,
        "attempts": record.attempts,
        "previous_attempts": _int_or_none(record.header_values.get(h.PREVIOUS_ATTEMPTS)),
        "replay_id": record.header_values.get(h.REPLAY_ID),
        "first_failure_at": format_time(record.first_failure_at),
        "last_failure_at": format_time(record.failed_at),
        "source": record.source,
        "value": summarizer.summary(record.value),
    }


def _int_or_none(text: str | None) -> int | None:
    try:
        return int(text) if text else None
    except ValueError:
        return None


def _attempts_text(row: dict[str, Any]) -> str:
    text = "-" if row["attempts"] is None else str(row["attempts"])
    if row["previous_attempts"]:
        text += f" (+{row['previous_attempts']} before replay {row['replay_id'] or ''})"
    return text


@dlq_app.command("show")
def show_cmd(
    target: str = typer.Argument(..., help="Target name, e.g. salesforce."),
    error_class: str | None = typer.Option(None, "--error-class", help="e.g. permanent, data."),
    key: str | None = typer.Option(None, "--key", help="Only records with this key (call id)."),
    since: str | None = typer.Option(None, "--since", help="ISO time, epoch ms or 2h/7d ago."),
    limit: int = typer.Option(50, "--limit", min=1, help="At most this many records."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per line."),
) -> None:
    """List dead-lettered records of one target with their error and a value summary."""
    record_filter = DlqFilter(error_class=error_class, key=key, since=_time(since, "--since"))
    settings = _settings()
    summarizer = inspect.ValueSummarizer(settings)
    rows: list[dict[str, Any]] = []
    with tool_errors():
        for record in inspect.iter_dlq(settings, target, record_filter):
            rows.append(_record_json(record, summarizer))
            if len(rows) >= limit:
                break
    if as_json:
        for row in rows:
            typer.echo(json.dumps(row))
        return
    table = Table(title=f"sync.{target}.dlq ({len(rows)} shown)")
    for column in ("p/offset", "key", "class", "message", "att", "first / last failure"):
        table.add_column(column)
    table.add_column("source")
    table.add_column("value")
    for row in rows:
        add_row(
            table,
            f"{row['partition']}/{row['offset']}",
            row["key"] or "-",
            row["error_class"],
            row["error_message"],
            _attempts_text(row),
            f"{row['first_failure_at']}\n{row['last_failure_at']}",
            row["source"],
            inspect.describe_summary(row["value"]),
        )
    console().print(table)


def _task_table(tasks: list[ReplayTask]) -> Table:
    table = Table(title="replay tasks")
    for column in ("id", "target", "status", "published", "matched", "skipped", "remaining"):
        table.add_column(column)
    for column in ("destination", "filter", "updated"):
        table.add_column(column)
    for task in tasks:
        status: str = task.status
        if task.cancel_requested and status == "running":
            status = "cancelling"
        filters = " ".join(f"{k}={v}" for k, v in task.filter.items() if v) or "all"
        add_row(
            table,
            task.id,
            task.target,
            status,
            str(task.counts.published),
            str(task.counts.matched),
            str(task.counts.skipped_already_replayed),
            str(task.remaining),
            task.destination,
            filters,
            task.updated_at,
        )
    return table


def _run_with_progress(
    settings: Settings, task: ReplayTask, store: TaskStore | None, show: bool
) -> ReplayTask:
    """Run the task with a progress bar on stderr (stdout stays clean for --json)."""
    if not show:
        return replay.run_task(settings, task, store)
    out = Console(stderr=True)
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=out,
        transient=not out.is_terminal,
    ) as progress:
        bar = progress.add_task(f"replay {task.id}", total=task.remaining)

        def on_progress(_task: ReplayTask, advanced: int) -> None:
            progress.advance(bar, advanced)

        return replay.run_task(settings, task, store, on_progress=on_progress)


@dlq_app.command("replay")
def replay_cmd(
    target: str | None = typer.Argument(None, help="Target whose DLQ to replay."),
    error_class: str | None = typer.Option(None, "--error-class"),
    key: str | None = typer.Option(None, "--key"),
    since: str | None = typer.Option(None, "--since", help="Failed at/after (inclusive)."),
    until: str | None = typer.Option(None, "--until", help="Failed before (exclusive)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Count what would be replayed."),
    rate: float | None = typer.Option(None, "--rate", min=0.001, help="Max records/s."),
    to: str | None = typer.Option(None, "--to", help="Publish here instead of sync.<target>."),
    again: bool = typer.Option(False, "--again", help="Re-publish already replayed records."),
    task_id: str | None = typer.Option(None, "--id", help="Name the new task (default random)."),
    resume: str | None = typer.Option(None, "--resume", help="Continue task ID."),
    status: bool = typer.Option(False, "--status", help="List tasks (or task ID with --id)."),
    cancel: str | None = typer.Option(None, "--cancel", help="Ask running task ID to stop."),
    as_json: bool = typer.Option(False, "--json", help="Print the task as JSON."),
) -> None:
    """Re-publish dead-lettered records as a resumable task (state in the topic
    _voicebus.replay-tasks).  Records already replayed by an earlier task to the same
    destination are skipped unless --again.  Replay never removes records from the DLQ."""
    settings = _settings()
    store = TaskStore(settings)
    with tool_errors():
        if status:
            tasks = sorted(store.load_all().values(), key=lambda t: t.created_at)
            if task_id:
                tasks = [t for t in tasks if t.id == task_id]
            if as_json:
                typer.echo(json.dumps([t.model_dump(mode="json") for t in tasks], indent=2))
            else:
                console().print(_task_table(tasks) if tasks else "no replay tasks")
            return
        if cancel:
            task = store.get(cancel)
            if task.status != "running":
                raise ToolError(f"replay task {cancel!r} is {task.status}, nothing to cancel")
            store.request_cancel(cancel)
            typer.echo(
                f"cancel requested for replay task {cancel}; it stops before its next "
                "record (resume with --resume)"
            )
            return
        if resume:
            task = replay.resume_task(settings, resume, store)
            task = _run_with_progress(settings, task, store, show=not as_json)
        else:
            if target is None:
                raise typer.BadParameter("give a TARGET (or --resume/--status/--cancel)")
            plan = replay.ReplayPlan(
                target=target,
                record_filter=DlqFilter(
                    error_class=error_class,
                    key=key,
                    since=_time(since, "--since"),
                    until=_time(until, "--until"),
                ),
                destination=to,
                again=again,
                rate=rate,
                task_id=task_id,
            )
            if dry_run:
                task = replay.preview_task(settings, plan)
                task = replay.run_task(settings, task, None, dry_run=True)
            else:
                task = replay.create_task(settings, plan, store)
                task = _run_with_progress(settings, task, store, show=not as_json)
    if as_json:
        typer.echo(json.dumps(task.model_dump(mode="json")))
        return
    c = task.counts
    verb = "would publish" if dry_run else "published"
    already = c.skipped_already_replayed
    typer.echo(
        f"replay {task.id} {task.status}: {verb} {c.matched - already if dry_run else c.published}"
        f" of {c.matched} matching record(s) to {task.destination}"
        f" ({already} already replayed by an earlier task; --again to include them)"
    )
    if task.status == "cancelled":
        typer.echo(f"resume with: voicebus dlq replay --resume {task.id}")


@dlq_app.command("purge")
def purge_cmd(
    target: str = typer.Argument(..., help="Target whose DLQ to purge."),
    before: str = typer.Option(..., "--before", help="Purge records that failed before this."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    method: purge.PurgeMethod = typer.Option(
        purge.PurgeMethod.AUTO, "--method", help="auto: DeleteRecords, else a committed floor."
    ),
) -> None:
    """Remove dead letters that failed before --before (DeleteRecords where the broker
    supports it, otherwise a committed floor that ls/show/replay respect)."""
    moment = _time(before, "--before")
    assert moment is not None
    settings = _settings()
    with tool_errors():
        plan = purge.plan_purge(settings, target, moment)
        if plan.empty:
            typer.echo(
                f"nothing to purge: no record of {plan.topic} failed before {format_time(moment)}"
            )
            return
        if not yes:
            typer.confirm(
                f"purge {plan.records} record(s) of {plan.topic} that failed before "
                f"{format_time(moment)}?",
                abort=True,
            )
        result = purge.purge(settings, target, plan, method)
    typer.echo(f"purged {plan.records} record(s) of {plan.topic} using {result.mechanism}")
    if result.refusal:
        typer.echo(
            f"(DeleteRecords not available: {result.refusal}; records are hidden by "
            "the floor in _voicebus.dlq-floors and removed by retention)"
        )


def lag_cmd(
    group: list[str] = typer.Option(
        [],
        "--group",
        "-g",
        help="Group id (repeatable). Default: voicebus-sink-* and voicebus-processors.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Consumer lag per group and partition: committed offset, high watermark, lag."""
    from pipeline.lag import collect_lag

    with tool_errors():
        rows = collect_lag(_settings(), group or None)
    if as_json:
        typer.echo(json.dumps([r.to_json() for r in rows], indent=2))
        return
    if not rows:
        console().print("no committed offsets for the selected consumer groups")
        return
    table = Table(title="consumer lag")
    for column in ("group", "topic", "partition", "committed", "high watermark", "lag"):
        table.add_column(column, justify="right" if column not in ("group", "topic") else "left")
    for r in rows:
        committed = "-" if r.committed is None else str(r.committed)
        add_row(table, r.group, r.topic, str(r.partition), committed, str(r.high), str(r.lag))
    console().print(table)


def register(app: typer.Typer) -> None:
    """Add ``dlq`` and ``lag`` to the root app."""
    app.add_typer(dlq_app, name="dlq")
    app.command("lag")(lag_cmd)
