"""Conflict resolution: per-target, per-field rules (``rules``), the sink's conflict handler
(``handler.RuleBasedConflictHandler``), conflict records on ``sync.conflicts`` (``store``) and a
person's decision (``decide``).  CLI: ``pipeline.cli.conflicts_cmd``."""

from pipeline.conflicts.handler import (
    FORCE,
    RECORD_REF,
    RESOLVED_FIELDS,
    ConflictPublisher,
    RuleBasedConflictHandler,
)
from pipeline.conflicts.rules import ConflictRules, ConflictRulesError, Rule
from pipeline.conflicts.setup import conflict_handler_for, load_conflict_rules
from pipeline.conflicts.store import (
    CONFLICTS_TOPIC,
    ConflictRecord,
    KafkaConflictPublisher,
    read_conflicts,
)

__all__ = [
    "CONFLICTS_TOPIC",
    "FORCE",
    "RECORD_REF",
    "RESOLVED_FIELDS",
    "ConflictPublisher",
    "ConflictRecord",
    "ConflictRules",
    "ConflictRulesError",
    "KafkaConflictPublisher",
    "Rule",
    "RuleBasedConflictHandler",
    "conflict_handler_for",
    "load_conflict_rules",
    "read_conflicts",
]
