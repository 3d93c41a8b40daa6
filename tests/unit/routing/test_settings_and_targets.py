"""Routing settings from the environment and the target vocabulary."""

from __future__ import annotations

from pathlib import Path

from pipeline.processors.routing import (
    DEFAULT_TARGET_CLASSES,
    KNOWN_TARGETS,
    RouterHolder,
    RoutingSettings,
)
from pipeline.processors.routing.model import RedactionSettings, TargetClass
from pipeline.topics import SYNC_TARGETS


def test_defaults():
    routing = RoutingSettings()
    assert routing.routes_file == Path("config/routes.yaml")
    assert routing.control_topic == "_voicebus.control"
    assert routing.routes_poll_interval_s > 0


def test_environment_overrides(monkeypatch, tmp_path):
    rules = tmp_path / "r.yaml"
    rules.write_text("version: 1\nrules: []\n")
    monkeypatch.setenv("VOICEBUS_ROUTES_FILE", str(rules))
    monkeypatch.setenv("VOICEBUS_ROUTES_POLL_INTERVAL_S", "0.5")
    monkeypatch.setenv("VOICEBUS_CONTROL_TOPIC", "_ops.control")

    routing = RoutingSettings()

    assert routing.routes_file == rules
    assert routing.routes_poll_interval_s == 0.5
    assert routing.control_topic == "_ops.control"
    assert RouterHolder.from_settings().path == rules


def test_rules_accept_exactly_the_catalogue_targets_and_each_has_a_class():
    assert KNOWN_TARGETS == SYNC_TARGETS
    assert set(DEFAULT_TARGET_CLASSES) == set(KNOWN_TARGETS)


def test_a_target_without_a_class_is_masked_like_a_webhook():
    assert RedactionSettings().class_of("calendar") is TargetClass.WEBHOOK
    assert RedactionSettings().policy_for("calendar").value == "standard"
