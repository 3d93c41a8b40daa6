"""The topic catalogue (declarative part; apply_topics runs against a broker in integration)."""

from __future__ import annotations

from pipeline.config import Settings
from pipeline.topics import SYNC_TARGETS, catalogue


def test_catalogue_names_every_topic_once() -> None:
    specs = catalogue()
    names = [s.name for s in specs]
    assert len(names) == len(set(names))
    expected = {
        "voice.call-events",
        "voice.call-events.enriched",
        "voice.call-events.dlq",
        "crm.contacts",
        "business.events",
        "sync.conflicts",
        "_voicebus.sync-ledger",
        "_voicebus.barriers",
        "_voicebus.dlq-floors",
        "_voicebus.replay-tasks",
        "_voicebus.control",
    }
    for target in SYNC_TARGETS:
        expected |= {f"sync.{target}", f"sync.{target}.retry", f"sync.{target}.dlq"}
    assert set(names) == expected
    assert len(SYNC_TARGETS) == 9


def test_compacted_and_deleting_topics_have_explicit_configs() -> None:
    by_name = {s.name: s for s in catalogue()}
    for name in ("crm.contacts", "_voicebus.sync-ledger"):
        assert by_name[name].config == {"cleanup.policy": "compact", "retention.ms": "-1"}
    for spec in by_name.values():
        assert spec.partitions >= 1
        assert set(spec.config) == {"cleanup.policy", "retention.ms"}
        if spec.cleanup_policy == "delete":
            assert int(spec.config["retention.ms"]) >= 24 * 3600 * 1000


def test_targets_and_replication_factor_are_configurable() -> None:
    specs = catalogue(["slack"], replication_factor=3)
    assert {s.replication_factor for s in specs} == {3}
    sync = sorted(s.name for s in specs if s.name.startswith("sync."))
    assert sync == ["sync.conflicts", "sync.slack", "sync.slack.dlq", "sync.slack.retry"]
    assert [s.name for s in catalogue(Settings())] == [s.name for s in catalogue()]
    assert {s.replication_factor for s in catalogue()} == {1}
