"""Declarative routing of enriched call events to ``sync.<target>`` topics.

Rules live in a YAML file (``config/routes.yaml``; see ``config/routes.example.yaml``):
``Router.route(enriched)`` returns one ``RouteDecision`` per action of every matching rule;
``RouterHolder`` hot-reloads the file; ``watch_control_topic`` applies ``voicebus routes
reload`` commands arriving on ``_voicebus.control``.
"""

from pipeline.processors.routing.control import (
    RELOAD_COMMAND,
    ControlError,
    ControlTopicWatcher,
    ensure_control_topic,
    publish_reload,
    start_control_watcher,
    watch_control_topic,
)
from pipeline.processors.routing.holder import (
    ReloadingRouter,
    ReloadOutcome,
    ReloadStatus,
    RouterHolder,
)
from pipeline.processors.routing.loader import (
    LoadedRules,
    RuleIssue,
    RulesError,
    load_rules,
    parse_rules,
)
from pipeline.processors.routing.model import (
    DEFAULT_CLASS_POLICIES,
    DEFAULT_TARGET_CLASSES,
    KNOWN_TARGETS,
    RulesFile,
    TargetClass,
)
from pipeline.processors.routing.router import (
    SYNC_TOPIC_PREFIX,
    RouteDecision,
    Router,
    RuleEvaluation,
    sync_topic,
)
from pipeline.processors.routing.settings import CONTROL_TOPIC, RoutingSettings

__all__ = [
    "CONTROL_TOPIC",
    "DEFAULT_CLASS_POLICIES",
    "DEFAULT_TARGET_CLASSES",
    "KNOWN_TARGETS",
    "RELOAD_COMMAND",
    "SYNC_TOPIC_PREFIX",
    "ControlError",
    "ControlTopicWatcher",
    "LoadedRules",
    "ReloadOutcome",
    "ReloadStatus",
    "ReloadingRouter",
    "RouteDecision",
    "Router",
    "RouterHolder",
    "RoutingSettings",
    "RuleEvaluation",
    "RuleIssue",
    "RulesError",
    "RulesFile",
    "TargetClass",
    "ensure_control_topic",
    "load_rules",
    "parse_rules",
    "publish_reload",
    "start_control_watcher",
    "sync_topic",
    "watch_control_topic",
]
