"""``voicebus demo``: the embedded stack on free ports, N simulated calls through it, a summary.

Free ports (not 9092/8081) let the demo run next to a ``voicebus dev up`` stack.  Waiting is
bounded and based on facts read from the broker: the processors' and sinks' committed offsets
against the records actually on their input topics (counted by reading, as end offsets are not
exact on the embedded broker).  The demo fails (exit 1) when a required component does not
start or dies, or when a simulated event is missing from ``voice.call-events``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from pipeline.config import Settings
from pipeline.devstack import Component, ComponentState, DevStack, StackError
from pipeline.devstack_plan import DevPlan, dev_plan
from pipeline.devstack_steps import RecordCounter, committed_total
from pipeline.devstack_targets import PROCESSORS_GROUP, planned_targets, sink_group
from pipeline.topics import (
    CALL_EVENTS_TOPIC,
    ENRICHED_TOPIC,
    catalogue,
    sync_dlq_topic,
    sync_retry_topic,
    sync_topic,
)


@dataclass
class Stage:
    """A consumer stage the demo waits for: ``group`` must commit every record of ``topic``."""

    component: Component
    group: str
    topic: str
    committed: int = 0

    @property
    def alive(self) -> bool:
        return self.component.health() is ComponentState.RUNNING


def _stages(stack: DevStack) -> list[Stage]:
    stages: list[Stage] = []
    for c in stack.components:
        if c.name == "processors":
            stages.append(Stage(c, PROCESSORS_GROUP, CALL_EVENTS_TOPIC))
        elif c.name.startswith("sink-"):
            target = c.name.removeprefix("sink-")
            stages.append(Stage(c, sink_group(target), sync_topic(target)))
    return stages


def _announce(console: Console, stack: DevStack) -> Callable[[], None]:
    """A start-progress printer: one line per component that came up or failed."""
    shown: set[tuple[str, ComponentState]] = set()
    began = time.monotonic()

    def on_change() -> None:
        at = f"{time.monotonic() - began:5.1f}s"
        for c in stack.components:
            key = (c.name, c.state)
            if key in shown or c.state in (ComponentState.PENDING, ComponentState.STARTING):
                continue
            shown.add(key)
            if c.state in (ComponentState.RUNNING, ComponentState.DONE):
                console.print(f"{at} [green]up[/]     {c.name:<20} {c.address or c.detail}")
            elif c.state is ComponentState.FAILED:
                console.print(f"{at} [red]failed[/] {c.name:<20} {c.detail} (log: {c.log_path})")

    return on_change


def _publish(console: Console, settings: Settings, calls: int, seed: int | None) -> set[str]:
    """Publish the directory and the calls; returns the event ids that were published."""
    from pipeline.simulate import build_scenario, publish_scenario

    scenario = build_scenario(calls, seed=seed)
    events = scenario.events()
    total = len(scenario.contacts) + len(events)
    console.print(
        f"publishing {len(scenario.contacts)} contacts and {len(events)} events of {calls} calls "
        f"(seed {scenario.seed})"
    )
    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), console=console
    ) as progress:
        task = progress.add_task("publish", total=total)
        publish_scenario(
            settings,
            scenario,
            contacts=True,
            on_published=lambda _kind: progress.advance(task),
        )
    return {str(e.event_id) for e in events}


def _wait_for_stages(
    console: Console, settings: Settings, counter: RecordCounter, stages: list[Stage], wait_s: float
) -> bool:
    """Until every live stage has committed every record of its input topic and nothing new
    arrived in between; False when ``wait_s`` ran out."""
    deadline = time.monotonic() + wait_s
    previous: dict[str, int] | None = None
    with console.status("waiting for processors and sinks to catch up ..."):
        while time.monotonic() < deadline:
            counts = counter.drain(idle_s=0.3, max_s=5.0)
            done = True
            for stage in stages:
                if not stage.alive:
                    continue
                stage.committed = committed_total(settings, stage.group, stage.topic)
                done = done and stage.committed >= counts.get(stage.topic, 0)
            if done and counts == previous:
                return True
            previous = counts
            time.sleep(0.5)
    return False


def _decode_ids(settings: Settings, values: list[bytes | None]) -> tuple[set[str], int]:
    from pipeline.serde import AvroCodec, DecodeError

    codec = AvroCodec(settings, auto_register=False)
    ids: set[str] = set()
    undecodable = 0
    for value in values:
        try:
            ids.add(str(codec.decode(value)["event_id"]))
        except (DecodeError, KeyError, TypeError):
            undecodable += 1
    return ids, undecodable


def missing_events_report(published: set[str], stored: set[str], undecodable: int) -> str | None:
    """Why the demo failed, or None when every published event id is on the topic."""
    missing = published - stored
    if not missing:
        return None
    return (
        f"{len(missing)} of {len(published)} simulated events are missing from "
        f"{CALL_EVENTS_TOPIC} (e.g. event_id {sorted(missing)[0]}); "
        f"{undecodable} records there could not be decoded"
    )


def _dead_letter_reasons(console: Console, dead_letters: dict[str, list[tuple[str, str]]]) -> None:
    """One line per DLQ and error class, with the first message (why, not what: DLQ headers
    carry no payload or secrets)."""
    for topic in sorted(dead_letters):
        by_class: dict[str, list[str]] = {}
        for error_class, message in dead_letters[topic]:
            by_class.setdefault(error_class, []).append(message)
        for error_class, messages in sorted(by_class.items()):
            first = messages[0][:160]
            console.print(f"{topic}: {len(messages)} x {error_class}: {first}", style="yellow")


def _summary(
    console: Console, stack: DevStack, plan: DevPlan, counts: dict[str, int], stages: list[Stage]
) -> None:
    topics = Table(title="records per topic")
    topics.add_column("topic")
    topics.add_column("records", justify="right")
    for topic in sorted(counts):
        if counts[topic] or topic in (CALL_EVENTS_TOPIC, ENRICHED_TOPIC):
            topics.add_row(topic, str(counts[topic]))
    console.print(topics)

    sinks = [s for s in stages if s.group != PROCESSORS_GROUP]
    received = {pair.target.name: pair.received() for pair in plan.targets}
    targets = Table(title="deliveries per target")
    columns = ("target", "routed", "done", "received", "retry", "DLQ", "state")
    for column in columns:
        targets.add_column(column, justify="left" if column in ("target", "state") else "right")
    for stage in sinks:
        target = stage.topic.removeprefix("sync.")
        got = received.get(target)
        targets.add_row(
            target,
            str(counts.get(stage.topic, 0)),
            str(stage.committed),
            "?" if got is None else str(got),
            str(counts.get(sync_retry_topic(target), 0)),
            str(counts.get(sync_dlq_topic(target), 0)),
            stage.component.state.value,
        )
    for target, why in planned_targets().items():
        routed = str(counts.get(sync_topic(target), 0))
        targets.add_row(target, routed, "-", "-", "-", "-", why)
    console.print(targets)
    console.print(
        "routed: records on sync.<target> · done: committed by the sink · received: accepted "
        "by the sandbox · retry / DLQ: records on sync.<target>.retry / .dlq",
        style="dim",
    )
    absent = [] if stack.get("processors") else ["processors"]
    absent += [] if sinks else ["sinks"]
    if absent:
        console.print(f"[yellow]not part of this run (not available yet):[/] {', '.join(absent)}")


def run_demo(
    *,
    calls: int,
    wait_s: float,
    log_dir: Path,
    state_dir: Path,
    console: Console,
    seed: int | None = None,
    strict: bool = False,
) -> int:
    """The whole demo; returns the process exit code (1: events missing from
    voice.call-events, or with ``strict`` a component failed or did not catch up)."""
    # processors and sinks are optional here: the demo still shows what reached the broker
    # when a later stage is broken, and names the broken stage with its log
    plan = dev_plan(
        broker_port=None, registry_port=None, processors_required=False, route_every_target=True
    )
    stack = DevStack(plan.components, log_dir, state_dir)
    console.print(f"[bold]voicebus demo[/] - {calls} calls, logs in {log_dir}")
    on_change = _announce(console, stack)
    try:
        try:
            stack.start(on_change)
        except StackError as exc:
            console.print(f"[red]demo failed:[/] {exc}")
            return 1
        settings = stack.ctx.settings()
        topic_names = [spec.name for spec in catalogue()]
        counter = RecordCounter(settings, topic_names, keep={CALL_EVENTS_TOPIC})
        try:
            published = _publish(console, settings, calls, seed)
            stages = _stages(stack)
            waited = time.monotonic()
            caught_up = _wait_for_stages(console, settings, counter, stages, wait_s)
            if caught_up and any(s.alive for s in stages):
                console.print(f"caught up in {time.monotonic() - waited:.1f}s")
            counts = counter.drain(idle_s=0.5)
            stored, undecodable = _decode_ids(settings, counter.values[CALL_EVENTS_TOPIC])
        finally:
            counter.close()
        _summary(console, stack, plan, counts, stages)
        _dead_letter_reasons(console, counter.dead_letters)
        code = 0
        if not caught_up:
            late = [
                s.component.name for s in stages if s.alive and s.committed < counts.get(s.topic, 0)
            ]
            console.print(f"[yellow]not caught up within {wait_s:.0f}s:[/] {', '.join(late)}")
            code = 1 if strict else code
        problem = missing_events_report(published, stored, undecodable)
        if problem:
            console.print(f"[red]FAILED:[/] {problem}")
            code = 1
        for c in stack.poll():
            console.print(f"[yellow]DEGRADED:[/] {c.name}: {c.detail} (log: {c.log_path})")
            if strict:
                code = 1
        if code == 0:
            console.print(
                f"[green]OK[/] all {len(published)} simulated events are on {CALL_EVENTS_TOPIC}"
            )
        return code
    finally:
        stack.stop()
