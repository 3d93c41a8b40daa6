"""Helpers for the registry tests: the call-event schema, a v2 of it, realistic records."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

CALL_EVENT_AVSC = Path(__file__).resolve().parents[3] / "schemas" / "voice" / "call_event.avsc"


@pytest.fixture
def call_event_v1() -> str:
    return CALL_EVENT_AVSC.read_text()


@pytest.fixture
def call_event_v2(call_event_v1: str) -> str:
    """v1 plus an optional ``csat_score`` (with default) in the CallSummary record."""
    document: dict[str, Any] = copy.deepcopy(json.loads(call_event_v1))
    payload = next(f for f in document["fields"] if f["name"] == "payload")
    summary = next(b for b in payload["type"] if b.get("name") == "CallSummary")
    summary["fields"].append(
        {"name": "csat_score", "type": ["null", "int"], "default": None, "doc": "1-5 survey"}
    )
    return json.dumps(document)
