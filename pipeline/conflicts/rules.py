"""Conflict rules: what to do, per target and field, when the target holds newer data.

``conflicts.yaml``::

    default: manual              # targets/fields not listed below
    targets:
      salesforce:
        default: latest_wins     # this target's fields not listed
        Description: merge       # field -> rule
        Phone: target_wins
      zendesk:
        fields:                  # the explicit form is accepted too
          subject: voice_wins

Rules:

- ``target_wins``: keep the target's value.
- ``voice_wins``: write the event's value.
- ``latest_wins``: the event's value if the event happened after the target's last change
  (``occurred_at`` vs ``target_modified_at``), else the target's; manual when either time is
  unknown.
- ``merge``: text -> the target's text, a blank line, then the event's (once; a text already
  contained in the other is not repeated); lists -> the target's items then the event's new
  ones; objects -> the target's keys updated with the event's.  Values that cannot be merged
  (numbers, mixed types) fall to manual.
- ``manual``: park the conflict in ``sync.conflicts`` for a person (``voicebus conflicts``).
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator


class Rule(StrEnum):
    TARGET_WINS = "target_wins"
    VOICE_WINS = "voice_wins"
    LATEST_WINS = "latest_wins"
    MERGE = "merge"
    MANUAL = "manual"


class ConflictRulesError(ValueError):
    """``conflicts.yaml`` cannot be used (the message names the file and the entry)."""


class TargetRules(BaseModel):
    model_config = ConfigDict(extra="forbid")

    default: Rule | None = None
    fields: dict[str, Rule] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _flat_form(cls, data: Any) -> Any:
        """Accept ``{default: r, Field: r, ...}`` as well as ``{default, fields: {...}}``."""
        if not isinstance(data, dict):
            return data
        fields = dict(data.get("fields") or {})
        for name, value in data.items():
            if name not in ("default", "fields"):
                fields[name] = value
        return {"default": data.get("default"), "fields": fields}


class ConflictRules(BaseModel):
    model_config = ConfigDict(extra="forbid")

    default: Rule = Rule.MANUAL
    targets: dict[str, TargetRules] = Field(default_factory=dict)

    def rule_for(self, target: str, field: str) -> Rule:
        target_rules = self.targets.get(target)
        if target_rules is None:
            return self.default
        if field in target_rules.fields:
            return target_rules.fields[field]
        return target_rules.default or self.default

    @classmethod
    def from_yaml(cls, text: str, *, source: str = "conflicts.yaml") -> ConflictRules:
        try:
            data = yaml.safe_load(text) or {}
        except yaml.YAMLError as exc:
            raise ConflictRulesError(f"{source} is not valid YAML: {exc}") from None
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
            )
            choices = ", ".join(r.value for r in Rule)
            raise ConflictRulesError(f"{source}: {problems} (rules are: {choices})") from None

    @classmethod
    def load(cls, path: Path | str) -> ConflictRules:
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConflictRulesError(f"cannot read conflict rules {path}: {exc.strerror}") from None
        return cls.from_yaml(text, source=str(path))
