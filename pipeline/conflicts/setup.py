"""Wiring for the sink: where the conflict rules come from and the handler a sink uses.

Rules file: ``$VOICEBUS_CONFLICTS_FILE`` if set, else ``./conflicts.yaml`` if present, else
the built-in default (every field ``manual``: nothing is overwritten without a person).
``conflicts.example.yaml`` beside this module shows the format.
"""

from __future__ import annotations

import os
from pathlib import Path

from pipeline.config import Settings
from pipeline.conflicts.handler import RuleBasedConflictHandler
from pipeline.conflicts.rules import ConflictRules
from pipeline.conflicts.store import KafkaConflictPublisher

RULES_ENV = "VOICEBUS_CONFLICTS_FILE"
DEFAULT_RULES_FILE = "conflicts.yaml"
EXAMPLE_RULES_FILE = Path(__file__).with_name("conflicts.example.yaml")


def load_conflict_rules(path: str | Path | None = None) -> ConflictRules:
    """Rules from ``path``, the environment, ``./conflicts.yaml`` or the default; a file
    that is named but missing or invalid raises ``ConflictRulesError``."""
    chosen = path or os.environ.get(RULES_ENV)
    if chosen:
        return ConflictRules.load(chosen)
    if Path(DEFAULT_RULES_FILE).is_file():
        return ConflictRules.load(DEFAULT_RULES_FILE)
    return ConflictRules()


def conflict_handler_for(
    settings: Settings, target: str, rules: ConflictRules | None = None
) -> RuleBasedConflictHandler:
    """The handler to pass to ``Deliverer(conflict_handler=...)`` for ``target``."""
    return RuleBasedConflictHandler(
        rules if rules is not None else load_conflict_rules(),
        KafkaConflictPublisher(settings),
        target=target,
    )
