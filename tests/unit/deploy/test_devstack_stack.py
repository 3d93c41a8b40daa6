"""DevStack ordering and failure handling, ProcessComponent with real subprocesses, the probe's
verdicts and the demo's missing-event report."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

from pipeline.devstack import (
    Component,
    ComponentState,
    DevStack,
    ProcessComponent,
    StackContext,
    StackError,
)
from pipeline.devstack_demo import missing_events_report
from pipeline.devstack_probe import GroupView, judge
from pipeline.devstack_targets import DEV_TARGETS
from pipeline.topics import SYNC_TARGETS


class Recording(Component):
    """A component that records start/stop calls in a shared journal."""

    def __init__(self, name: str, journal: list[str], *, fail: bool = False, required: bool = True):
        super().__init__()
        self.name = name
        self.required = required
        self._journal = journal
        self._fail = fail

    def start(self, ctx: StackContext) -> None:
        self._journal.append(f"start {self.name}")
        if self._fail:
            raise RuntimeError(f"{self.name} cannot bind\nsecond line")

    def stop(self) -> None:
        self._journal.append(f"stop {self.name}")


def test_starts_in_order_and_stops_in_reverse(tmp_path: Path) -> None:
    journal: list[str] = []
    stack = DevStack([Recording(n, journal) for n in ("a", "b", "c")], tmp_path / "logs")
    with stack.running():
        assert [c.state for c in stack.components] == [ComponentState.RUNNING] * 3
    assert journal == ["start a", "start b", "start c", "stop c", "stop b", "stop a"]
    assert all(c.state is ComponentState.STOPPED for c in stack.components)
    assert (tmp_path / "logs").is_dir()


def test_required_failure_stops_the_start_and_names_the_component(tmp_path: Path) -> None:
    journal: list[str] = []
    stack = DevStack(
        [Recording("a", journal), Recording("b", journal, fail=True), Recording("c", journal)],
        tmp_path,
    )
    with pytest.raises(StackError, match=r"^b failed to start: b cannot bind$"):
        stack.start()
    stack.stop()
    assert journal == ["start a", "start b", "stop b", "stop a"]
    assert stack.components[1].state is ComponentState.FAILED
    assert stack.components[2].state is ComponentState.PENDING


def test_optional_failure_is_shown_and_the_rest_starts(tmp_path: Path) -> None:
    journal: list[str] = []
    stack = DevStack(
        [Recording("a", journal, fail=True, required=False), Recording("b", journal)], tmp_path
    )
    stack.start()
    assert [c.state for c in stack.components] == [ComponentState.FAILED, ComponentState.RUNNING]
    assert [c.name for c in stack.poll()] == ["a"]
    stack.stop()
    assert stack.components[0].state is ComponentState.FAILED  # stays visible after stop


def test_process_component_reports_early_exit_with_code(tmp_path: Path) -> None:
    proc = ProcessComponent(
        "crasher", [sys.executable, "-c", "import sys; print('boom'); sys.exit(3)"], settle_s=5
    )
    stack = DevStack([proc], tmp_path)
    stack.components[0].required = True
    with pytest.raises(
        StackError, match=r"crasher failed to start: crasher exited with code 3 during start: boom"
    ):
        stack.start()
    stack.stop()
    assert "boom" in (tmp_path / "crasher.log").read_text()


def test_process_component_notices_a_later_death_and_stops_children(tmp_path: Path) -> None:
    marker = tmp_path / "go"
    script = (
        "import pathlib, time\n"
        f"p = pathlib.Path({str(marker)!r})\n"
        "while not p.exists(): time.sleep(0.02)\n"
    )
    dying = ProcessComponent("dying", [sys.executable, "-c", script], settle_s=0.2)
    sleeper = ProcessComponent(
        "sleeper", [sys.executable, "-c", "import time; time.sleep(60)"], settle_s=0.2
    )
    stack = DevStack([dying, sleeper], tmp_path)
    stack.start()
    sleeper_pid = sleeper.pid
    assert stack.poll() == []
    marker.touch()
    deadline = time.monotonic() + 10
    while not stack.poll() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert stack.poll() == [dying]
    assert dying.detail == "exited with code 0"
    stack.stop()
    assert sleeper.state is ComponentState.STOPPED and sleeper.pid is None
    with pytest.raises(ProcessLookupError):
        os.kill(sleeper_pid or 0, 0)  # reaped, so the pid is gone


def test_subprocesses_get_the_stack_addresses(tmp_path: Path) -> None:
    ctx = StackContext(
        log_dir=tmp_path,
        state_dir=tmp_path,
        bootstrap_servers="127.0.0.1:1",
        schema_registry_url="u",
    )
    env = ctx.subprocess_env({"EXTRA": "1"})
    assert env["VOICEBUS_BOOTSTRAP_SERVERS"] == "127.0.0.1:1"
    assert env["VOICEBUS_SCHEMA_REGISTRY_URL"] == "u"
    assert env["VOICEBUS_PROFILE"] == "dev"
    assert env["EXTRA"] == "1"


def test_probe_verdicts() -> None:
    assert judge(GroupView("STABLE", ("10.0.0.5",)), "g", "10.0.0.5") is None
    assert "not a member" in (judge(GroupView("STABLE", ("10.0.0.6",)), "g", "10.0.0.5") or "")
    assert judge(GroupView("STABLE", ()), "g", "10.0.0.5") is None  # broker without member list
    reason = judge(GroupView("EMPTY", ()), "g", None)
    assert reason is not None and "EMPTY" in reason


def test_missing_events_report_names_count_and_an_example() -> None:
    assert missing_events_report({"a", "b"}, {"a", "b", "c"}, 0) is None
    report = missing_events_report({"a", "b", "c"}, {"a"}, 2)
    assert report is not None
    assert "2 of 3" in report and "event_id b" in report and "2 records" in report


def test_dev_targets_are_catalogue_targets() -> None:
    assert DEV_TARGETS
    for target in DEV_TARGETS:
        assert target.name in SYNC_TARGETS
        assert target.sandbox_module == f"connectors.{target.name}.sandbox"


def test_cli_has_dev_up_and_demo() -> None:
    from pipeline.devstack_plan import cli_commands

    assert {"dev", "demo"} <= cli_commands()


def test_demo_routes_add_a_rule_only_for_unrouted_targets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import yaml

    from pipeline.devstack_plan import DEMO_EVENT_TYPES, demo_routes

    base = tmp_path / "routes.yaml"
    base.write_text(
        "version: 1\nrules:\n"
        "  - name: to-slack\n    when: {event_type: [call_summary]}\n"
        "    then: [{target: slack, operation: post_summary}]\n"
    )
    monkeypatch.setenv("VOICEBUS_ROUTES_FILE", str(base))
    out = demo_routes(tmp_path / "state", {"slack": "notify", "webhook": "notify"})
    doc = yaml.safe_load(out.read_text())
    names = [r["name"] for r in doc["rules"]]
    assert names == ["to-slack", "demo-webhook"]
    added = doc["rules"][1]
    assert added["when"]["event_type"] == DEMO_EVENT_TYPES
    assert added["then"] == [{"target": "webhook", "operation": "notify"}]
    assert "demo-webhook" not in base.read_text()  # the project's rules stay untouched


def test_demo_routes_from_the_project_rules_pass_the_routing_loader(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pipeline.devstack_plan import demo_routes
    from pipeline.processors.routing.loader import load_rules
    from tests.unit.deploy.conftest import ROOT

    monkeypatch.setenv("VOICEBUS_ROUTES_FILE", str(ROOT / "config" / "routes.yaml"))
    loaded = load_rules(demo_routes(tmp_path, {"webhook": "notify", "hubspot": "log_call"}))
    targets = {action.target for rule in loaded.rules.rules for action in rule.then}
    assert {"webhook", "hubspot"} <= targets


def test_demo_rule_sends_only_the_event_types_a_target_asks_for(tmp_path: Path) -> None:
    from pipeline.devstack_plan import demo_routes
    from pipeline.processors.routing import load_rules

    out = demo_routes(
        tmp_path,
        {"teams": "post_summary", "webhook": "notify"},
        {"teams": {"event_type": ["call_summary"], "customer_matched": True}},
    )
    rules = {r.name: r for r in load_rules(out).rules.rules}
    assert rules["demo-teams"].when.event_type == ["call_summary"]
    assert rules["demo-teams"].when.customer_matched is True
    assert rules["demo-webhook"].when.event_type == ["call_started", "call_ended", "call_summary"]
