"""The routing rules file as pydantic models: what a rules YAML may say, validated strictly.

Typos must fail loudly at load time (an unknown target, event type, condition or sentiment would
otherwise silently route nothing), so every model forbids extra keys and every enumerated value
is checked against the known vocabulary with a message that lists the accepted values.
"""

from __future__ import annotations

import difflib
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from pipeline.processors.redaction import RedactionPolicy
from pipeline.topics import SYNC_TARGETS

# One list of targets for the whole pipeline (topic catalogue, sinks, rules).
KNOWN_TARGETS: tuple[str, ...] = SYNC_TARGETS
EVENT_TYPES: tuple[str, ...] = (
    "call_started",
    "transcript_segment",
    "call_ended",
    "call_summary",
    "recording_available",
)
DIRECTIONS: tuple[str, ...] = ("INBOUND", "OUTBOUND")
SENTIMENTS: tuple[str, ...] = ("POSITIVE", "NEUTRAL", "NEGATIVE", "MIXED")


class TargetClass(StrEnum):
    """Kinds of target that share a redaction need (who will read the data)."""

    CHAT = "chat"
    EMAIL = "email"
    CRM = "crm"
    HELPDESK = "helpdesk"
    WEBHOOK = "webhook"


DEFAULT_TARGET_CLASSES: dict[str, TargetClass] = {
    "slack": TargetClass.CHAT,
    "teams": TargetClass.CHAT,
    "gmail": TargetClass.EMAIL,
    "outlook": TargetClass.EMAIL,
    "salesforce": TargetClass.CRM,
    "hubspot": TargetClass.CRM,
    "zendesk": TargetClass.HELPDESK,
    "servicenow": TargetClass.HELPDESK,
    "webhook": TargetClass.WEBHOOK,
}
# Chat, email and webhooks reach people or systems outside the system of record: mask PII.
# CRMs and help desks are the system of record for customer data: keep it.
DEFAULT_CLASS_POLICIES: dict[TargetClass, RedactionPolicy] = {
    TargetClass.CHAT: RedactionPolicy.STANDARD,
    TargetClass.EMAIL: RedactionPolicy.STANDARD,
    TargetClass.WEBHOOK: RedactionPolicy.STANDARD,
    TargetClass.CRM: RedactionPolicy.NONE,
    TargetClass.HELPDESK: RedactionPolicy.NONE,
}


def _as_list(value: Any) -> Any:
    """Let ``event_type: call_summary`` mean ``[call_summary]`` (a common hand-written form)."""
    if value is None or isinstance(value, list | tuple):
        return value
    return [value]


def _unknown(value: str, known: tuple[str, ...], what: str) -> ValueError:
    close = difflib.get_close_matches(value, known, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return ValueError(f"unknown {what} {value!r}; {hint}use one of: {', '.join(known)}")


def _check_vocabulary(values: list[str], known: tuple[str, ...], what: str) -> list[str]:
    for value in values:
        if value not in known:
            raise _unknown(value, known, what)
    return values


def check_target(target: str) -> str:
    if target not in KNOWN_TARGETS:
        raise _unknown(target, KNOWN_TARGETS, "target")
    return target


_Strict = ConfigDict(extra="forbid", frozen=True)


class Conditions(BaseModel):
    """``when:`` of a rule.  Conditions are AND-ed; the values of a list condition are OR-ed.
    An empty ``when`` matches every event."""

    model_config = _Strict

    event_type: list[str] | None = None
    tenant: list[str] | None = None
    source: list[str] | None = None
    queue: list[str] | None = None
    direction: list[str] | None = None
    sentiment: list[str] | None = None
    intents_any: list[str] | None = None
    intents_all: list[str] | None = None
    customer_matched: bool | None = Field(default=None, strict=True)
    customer_ambiguous: bool | None = Field(default=None, strict=True)
    min_duration_s: int | None = Field(default=None, ge=0)
    max_duration_s: int | None = Field(default=None, ge=0)

    @field_validator(
        "event_type",
        "tenant",
        "source",
        "queue",
        "direction",
        "sentiment",
        "intents_any",
        "intents_all",
        mode="before",
    )
    @classmethod
    def _wrap_scalar(cls, value: Any) -> Any:
        return _as_list(value)

    @field_validator(
        "event_type",
        "tenant",
        "source",
        "queue",
        "direction",
        "sentiment",
        "intents_any",
        "intents_all",
    )
    @classmethod
    def _not_empty(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and not value:
            raise ValueError("an empty list matches nothing; remove the condition or add values")
        return value

    @field_validator("event_type")
    @classmethod
    def _known_event_types(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else _check_vocabulary(value, EVENT_TYPES, "event type")

    @field_validator("direction")
    @classmethod
    def _known_directions(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        return _check_vocabulary([v.upper() for v in value], DIRECTIONS, "direction")

    @field_validator("sentiment")
    @classmethod
    def _known_sentiments(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        return _check_vocabulary([v.upper() for v in value], SENTIMENTS, "sentiment")

    @model_validator(mode="after")
    def _duration_range(self) -> Conditions:
        low, high = self.min_duration_s, self.max_duration_s
        if low is not None and high is not None and low > high:
            raise ValueError(f"min_duration_s ({low}) is greater than max_duration_s ({high})")
        return self


class Action(BaseModel):
    """One item of ``then:``: send the event to ``sync.<target>`` for ``operation``."""

    model_config = _Strict

    target: str
    operation: str = Field(min_length=1, pattern=r"^[a-z][a-z0-9_]*$")
    hints: dict[str, Any] = Field(default_factory=dict)
    redaction: RedactionPolicy | None = None

    @field_validator("hints", mode="before")
    @classmethod
    def _blank_hints(cls, value: Any) -> Any:
        return {} if value is None else value

    @field_validator("target")
    @classmethod
    def _known_target(cls, value: str) -> str:
        return check_target(value)


class Rule(BaseModel):
    model_config = _Strict

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
    description: str | None = None
    when: Conditions = Field(default_factory=Conditions)
    then: list[Action] = Field(min_length=1)
    stop: bool = False
    enabled: bool = True

    @field_validator("when", mode="before")
    @classmethod
    def _blank_when_matches_all(cls, value: Any) -> Any:
        return {} if value is None else value

    @field_validator("then", mode="before")
    @classmethod
    def _single_action(cls, value: Any) -> Any:
        return [value] if isinstance(value, dict) else value


class RedactionSettings(BaseModel):
    """``redaction:`` section: override target -> class and class -> policy maps."""

    model_config = _Strict

    target_classes: dict[str, TargetClass] = Field(default_factory=dict)
    policies: dict[TargetClass, RedactionPolicy] = Field(default_factory=dict)

    @field_validator("target_classes")
    @classmethod
    def _known_targets(cls, value: dict[str, TargetClass]) -> dict[str, TargetClass]:
        for target in value:
            check_target(target)
        return value

    def class_of(self, target: str) -> TargetClass:
        # A target added to the catalogue without a class is treated as a webhook: masked.
        default = DEFAULT_TARGET_CLASSES.get(target, TargetClass.WEBHOOK)
        return self.target_classes.get(target, default)

    def policy_for(self, target: str) -> RedactionPolicy:
        target_class = self.class_of(target)
        return self.policies.get(target_class, DEFAULT_CLASS_POLICIES[target_class])


class RulesFile(BaseModel):
    """The whole rules document."""

    model_config = _Strict

    version: Literal[1]
    redaction: RedactionSettings = Field(default_factory=RedactionSettings)
    rules: list[Rule] = Field(default_factory=list)
