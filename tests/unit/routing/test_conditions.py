"""Each condition, stop, per-action and per-class redaction, and the decision object."""

from __future__ import annotations

import json

import pytest

from pipeline import headers
from pipeline.processors.routing import Router
from tests.unit.routing.factories import make_event


def router_for(when: str, *, extra: str = "", action: str = "{target: webhook, operation: post}"):
    return Router.from_yaml(
        f"version: 1\n{extra}rules:\n  - name: r\n    when: {when}\n    then: [{action}]\n"
    )


def fires(router: Router, event) -> bool:
    return bool(router.route(event))


@pytest.mark.parametrize(
    ("when", "event", "expected"),
    [
        ("{tenant: [acme, globex]}", make_event("call_started", tenant_id="globex"), True),
        ("{tenant: [acme]}", make_event("call_started", tenant_id="initech"), False),
        ("{source: twilio}", make_event("call_started", source="twilio"), True),
        ("{source: [genesys]}", make_event("call_started", source="twilio"), False),
        ("{queue: [support]}", make_event("call_started", payload={"queue": "support"}), True),
        ("{queue: [sales]}", make_event("call_started", payload={"queue": "support"}), False),
        # queue known only from the call aggregate (call_ended has no queue of its own)
        ("{queue: [sales]}", make_event("call_ended", call={"queue": "sales"}), True),
        (
            "{direction: [outbound]}",
            make_event("call_started", payload={"direction": "OUTBOUND"}),
            True,
        ),
        ("{direction: [OUTBOUND]}", make_event("call_started"), False),
        ("{direction: [OUTBOUND]}", make_event("call_ended", call={"direction": "OUTBOUND"}), True),
        # the event's own value wins over the aggregate
        (
            "{sentiment: [NEGATIVE]}",
            make_event(
                "call_summary", payload={"sentiment": "POSITIVE"}, call={"sentiment": "NEGATIVE"}
            ),
            False,
        ),
        (
            "{sentiment: [mixed, negative]}",
            make_event("call_summary", payload={"sentiment": "MIXED"}),
            True,
        ),
        ("{sentiment: [NEGATIVE]}", make_event("call_ended"), False),
        (
            "{intents_any: [refund, complaint]}",
            make_event("call_summary", payload={"intents": ["complaint"]}),
            True,
        ),
        (
            "{intents_any: [refund]}",
            make_event("call_summary", payload={"intents": ["complaint"]}),
            False,
        ),
        (
            "{intents_all: [refund, complaint]}",
            make_event(
                "call_summary", payload={"intents": ["complaint"]}, call={"intents": ["refund"]}
            ),
            True,
        ),
        (
            "{intents_all: [refund, complaint]}",
            make_event("call_summary", payload={"intents": ["complaint"]}),
            False,
        ),
        ("{customer_matched: true}", make_event("call_ended", matched=True), True),
        ("{customer_matched: true}", make_event("call_ended", matched=False), False),
        ("{customer_matched: false}", make_event("call_ended", matched=False), True),
        (
            "{customer_ambiguous: true}",
            make_event(
                "call_ended",
                customer={
                    "matched": False,
                    "ambiguous": True,
                    "match": None,
                    "candidates": [{}, {}],
                },
            ),
            True,
        ),
        ("{customer_ambiguous: true}", make_event("call_ended"), False),
        # an event without any customer block counts as unmatched, not ambiguous
        (
            "{customer_matched: false, customer_ambiguous: false}",
            {"event_type": "call_ended", "payload": {}},
            True,
        ),
        ("{min_duration_s: 60}", make_event("call_ended", payload={"duration_s": 60}), True),
        ("{min_duration_s: 61}", make_event("call_ended", payload={"duration_s": 60}), False),
        ("{max_duration_s: 10}", make_event("call_ended", payload={"duration_s": 11}), False),
        (
            "{min_duration_s: 5, max_duration_s: 10}",
            make_event("call_summary", call={"duration_s": 7}),
            True,
        ),
        # duration unknown: a duration condition cannot hold
        ("{max_duration_s: 10}", make_event("call_started"), False),
        # AND across conditions
        (
            "{event_type: [call_summary], tenant: [acme]}",
            make_event("call_summary", tenant_id="globex"),
            False,
        ),
        ("{}", make_event("transcript_segment"), True),
    ],
)
def test_condition(when, event, expected):
    assert fires(router_for(when), event) is expected


def test_stop_ends_evaluation_after_a_matching_rule_only():
    router = Router.from_yaml(
        """
version: 1
rules:
  - name: vip
    when: {tenant: [vip]}
    then: [{target: slack, operation: post_summary}]
    stop: true
  - name: everyone
    then: [{target: salesforce, operation: log_call}]
"""
    )

    assert [d.rule for d in router.route(make_event("call_ended", tenant_id="vip"))] == ["vip"]
    assert [d.rule for d in router.route(make_event("call_ended"))] == ["everyone"]
    explained = router.explain(make_event("call_ended", tenant_id="vip"))
    assert [(e.rule, e.fired) for e in explained] == [("vip", True), ("everyone", False)]
    assert "stop" in explained[1].reason


def test_disabled_rules_never_fire_and_actions_keep_their_order():
    router = Router.from_yaml(
        """
version: 1
rules:
  - name: disabled-rule
    enabled: false
    then: [{target: teams, operation: post_summary}]
  - name: two
    then:
      - {target: hubspot, operation: log_call}
      - {target: outlook, operation: send_follow_up}
"""
    )

    assert [d.target for d in router.route(make_event("call_ended"))] == ["hubspot", "outlook"]
    assert router.rule_names == ["two"]


def test_redaction_section_and_action_override_the_class_defaults():
    router = Router.from_yaml(
        """
version: 1
redaction:
  policies: {chat: strict, crm: standard}
  target_classes: {webhook: crm}
rules:
  - name: all
    then:
      - {target: slack, operation: post_summary}
      - {target: teams, operation: post_summary, redaction: none}
      - {target: webhook, operation: post}
      - {target: hubspot, operation: log_call}
      - {target: zendesk, operation: open_ticket}
      - {target: gmail, operation: send_follow_up}
"""
    )

    policies = {d.target: d.redaction for d in router.route(make_event("call_ended"))}

    assert policies == {
        "slack": "strict",
        "teams": "none",
        "webhook": "standard",  # moved to class crm, whose policy is now standard
        "hubspot": "standard",
        "zendesk": "none",
        "gmail": "standard",
    }


def test_hints_are_read_only_dicts_so_shared_decisions_cannot_be_changed():
    router = router_for(
        "{}",
        action="{target: slack, operation: post_summary, hints: {channel: '#a', tags: [x]}}",
    )
    first = router.route(make_event("call_ended"))[0]

    assert isinstance(first.hints, dict)
    with pytest.raises(TypeError, match="read-only"):
        first.hints["channel"] = "#changed"
    with pytest.raises(TypeError, match="read-only"):
        first.hints.update(channel="#changed")
    editable = dict(first.hints)
    editable["channel"] = "#changed"
    assert router.route(make_event("call_ended"))[0].hints == {"channel": "#a", "tags": ("x",)}
    assert json.loads(json.dumps(first.hints)) == {"channel": "#a", "tags": ["x"]}


def test_fastavro_named_union_payload_is_understood():
    event = make_event("call_summary", payload={"sentiment": "NEGATIVE"}, call={"sentiment": None})
    event["payload"] = ("io.voicebus.voice.CallSummary", event["payload"])

    assert fires(router_for("{sentiment: [NEGATIVE]}"), event)


def test_kafka_headers_use_the_shared_header_names():
    router = router_for(
        "{}", action="{target: slack, operation: post_summary, hints: {channel: '#s'}}"
    )
    decision = router.route(make_event("call_ended"))[0]

    found = dict(decision.kafka_headers())

    assert found[headers.OPERATION] == b"post_summary"
    assert json.loads(found[headers.HINTS]) == {"channel": "#s"}
    assert found[headers.ROUTE] == b"r"
    assert found[headers.REDACTION] == b"standard"


def test_explain_names_the_failing_condition():
    router = router_for("{event_type: [call_summary], sentiment: [NEGATIVE]}")

    (evaluation,) = router.explain(make_event("call_summary", payload={"sentiment": "POSITIVE"}))

    assert not evaluation.fired
    assert "sentiment" in evaluation.reason and "POSITIVE" in evaluation.reason


def test_targets_lists_every_reachable_target():
    router = router_for("{}", action="{target: servicenow, operation: open_incident}")
    assert router.targets == {"servicenow"}
