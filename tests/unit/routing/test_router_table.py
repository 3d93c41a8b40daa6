"""Acceptance: the shipped 4-rule file sends each event to exactly the expected targets."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.processors.routing import Router, load_rules
from tests.unit.routing.factories import make_event

REPO = Path(__file__).resolve().parents[3]
RULE_FILES = [REPO / "config" / "routes.yaml", REPO / "config" / "routes.example.yaml"]

SLACK = ("slack", "post_summary")
ZENDESK = ("zendesk", "open_ticket")
SALESFORCE = ("salesforce", "log_call")
GMAIL = ("gmail", "send_follow_up")

CASES = [
    (
        "negative complaint summary",
        make_event("call_summary", payload={"sentiment": "NEGATIVE", "intents": ["complaint"]}),
        [SLACK, ZENDESK, SALESFORCE],
    ),
    (
        "negative summary without complaint",
        make_event("call_summary", payload={"sentiment": "NEGATIVE", "intents": ["billing"]}),
        [SLACK, SALESFORCE],
    ),
    (
        "neutral complaint, intent in other case",
        make_event("call_summary", payload={"sentiment": "NEUTRAL", "intents": ["Complaint"]}),
        [ZENDESK, SALESFORCE],
    ),
    (
        "positive follow-up, known customer",
        make_event("call_summary", payload={"sentiment": "POSITIVE", "intents": ["follow_up"]}),
        [SALESFORCE, GMAIL],
    ),
    (
        "positive follow-up, unknown caller",
        make_event(
            "call_summary",
            payload={"sentiment": "POSITIVE", "intents": ["follow_up"]},
            matched=False,
        ),
        [SALESFORCE],
    ),
    (
        "sentiment only on the call aggregate",
        make_event("call_summary", payload={"sentiment": None}, call={"sentiment": "NEGATIVE"}),
        [SLACK, SALESFORCE],
    ),
    (
        "intent only on the call aggregate",
        make_event("call_summary", call={"intents": ["callback_request"]}),
        [SALESFORCE, GMAIL],
    ),
    (
        "call ended with a negative aggregate: slack wants summaries only",
        make_event("call_ended", call={"sentiment": "NEGATIVE", "intents": ["complaint"]}),
        [SALESFORCE],
    ),
    ("call started", make_event("call_started"), []),
    ("transcript segment", make_event("transcript_segment"), []),
    ("recording available", make_event("recording_available"), []),
]


@pytest.mark.parametrize("rules_file", RULE_FILES, ids=lambda p: p.name)
@pytest.mark.parametrize(("event", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_each_event_reaches_exactly_the_expected_targets(rules_file, event, expected):
    router = Router(load_rules(rules_file))

    decisions = router.route(event)

    assert [(d.target, d.operation) for d in decisions] == expected


def test_decisions_carry_rule_topic_hints_and_default_redaction():
    router = Router.from_file(RULE_FILES[0])
    event = make_event(
        "call_summary", payload={"sentiment": "NEGATIVE", "intents": ["complaint", "follow_up"]}
    )

    by_target = {d.target: d for d in router.route(event)}

    assert set(by_target) == {"slack", "zendesk", "salesforce", "gmail"}
    assert by_target["slack"].rule == "slack-negative-summary"
    assert by_target["slack"].topic == "sync.slack"
    assert by_target["slack"].hints == {"channel": "#support"}
    assert by_target["gmail"].hints == {"template": "call-follow-up"}
    assert {t: d.redaction for t, d in by_target.items()} == {
        "slack": "standard",
        "gmail": "standard",
        "zendesk": "none",
        "salesforce": "none",
    }
