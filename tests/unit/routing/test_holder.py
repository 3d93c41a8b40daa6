"""Hot reload from the rules file: valid changes apply, invalid ones are rejected and logged."""

from __future__ import annotations

import logging
import time

import pytest

from pipeline.processors.routing import ReloadStatus, RouterHolder, RulesError
from tests.unit.routing.factories import make_event

SLACK_RULES = """\
version: 1
rules:
  - name: to-slack
    then: [{target: slack, operation: post_summary}]
"""
TEAMS_RULES = SLACK_RULES.replace("to-slack", "to-teams").replace("slack", "teams")
BROKEN_RULES = """\
version: 1
rules:
  - name: broken
    then: [{target: telegram, operation: post_summary}]
"""


@pytest.fixture
def rules_file(tmp_path):
    path = tmp_path / "routes.yaml"
    path.write_text(SLACK_RULES)
    return path


def targets(holder: RouterHolder) -> list[str]:
    return [d.target for d in holder.route(make_event("call_ended"))]


def test_file_change_applies_new_rules_without_restart(rules_file):
    holder = RouterHolder(rules_file)
    assert targets(holder) == ["slack"]
    assert holder.poll_once() is None  # nothing changed yet

    rules_file.write_text(TEAMS_RULES)
    outcome = holder.poll_once()

    assert outcome is not None and outcome.status is ReloadStatus.APPLIED
    assert holder.generation == 2
    assert targets(holder) == ["teams"]


def test_invalid_new_file_is_rejected_logged_once_and_old_rules_stay(rules_file, caplog):
    holder = RouterHolder(rules_file)
    rules_file.write_text(BROKEN_RULES)

    with caplog.at_level(logging.ERROR, logger="voicebus.routing"):
        outcome = holder.poll_once()
        again = holder.poll_once()

    assert outcome is not None and outcome.status is ReloadStatus.REJECTED
    assert "routes.yaml:4" in (outcome.error or "")
    assert "unknown target 'telegram'" in caplog.text
    assert f"{rules_file}:4: rules[0] 'broken' then[0].target" in caplog.text
    assert again is None  # the same broken content is not re-reported every poll
    assert len([r for r in caplog.records if "rejected" in r.getMessage()]) == 1
    assert holder.generation == 1
    assert targets(holder) == ["slack"]

    rules_file.write_text(TEAMS_RULES)
    fixed = holder.poll_once()
    assert fixed is not None and fixed.status is ReloadStatus.APPLIED
    assert targets(holder) == ["teams"]


def test_reload_on_demand_reports_unchanged_and_rejections(rules_file):
    holder = RouterHolder(rules_file)
    assert holder.reload().status is ReloadStatus.UNCHANGED

    rules_file.write_text(BROKEN_RULES)
    assert holder.reload().status is ReloadStatus.REJECTED
    assert holder.reload().status is ReloadStatus.REJECTED  # explicit requests always answer

    rules_file.unlink()
    missing = holder.reload()
    assert missing.status is ReloadStatus.REJECTED
    assert "cannot read the file" in (missing.error or "")
    assert targets(holder) == ["slack"]


def test_invalid_initial_file_refuses_to_start(tmp_path):
    path = tmp_path / "routes.yaml"
    path.write_text(BROKEN_RULES)
    with pytest.raises(RulesError, match="telegram"):
        RouterHolder(path)


def test_background_polling_picks_up_a_change(rules_file):
    holder = RouterHolder(rules_file)
    holder.start_polling(interval_s=0.02)
    try:
        rules_file.write_text(TEAMS_RULES)
        deadline = time.monotonic() + 10
        while holder.generation == 1 and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        holder.stop()

    assert holder.generation == 2
    assert targets(holder) == ["teams"]


def test_same_size_rewrite_is_detected(rules_file):
    """Content, not mtime or size, decides: two quick same-length edits are both seen."""
    holder = RouterHolder(rules_file)
    same_length = SLACK_RULES.replace("to-slack", "to-slacK")
    assert len(same_length) == len(SLACK_RULES)

    rules_file.write_text(same_length)

    assert holder.poll_once() is not None
    assert holder.router.rule_names == ["to-slacK"]
