"""redact_event on whole enriched events, and the routing acceptance case."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from pipeline.processors.redaction import redact_event, redact_value
from pipeline.processors.routing import Router
from tests.unit.routing.factories import make_event

REPO = Path(__file__).resolve().parents[3]

CARD_AND_EMAIL = "Sure, my card is 4111 1111 1111 1111 and my email is jane.roe@example.com."


def summary_event():
    return make_event(
        "call_summary",
        payload={
            "summary": "Caller jane.roe@example.com disputes a charge on 4111-1111-1111-1111.",
            "sentiment": "NEGATIVE",
            "intents": ["complaint"],
            "action_items": [
                {
                    "description": "Call back on +1 415 555 0123",
                    "owner": "agent@acme.com",
                    "due_date": 20000,
                    "kind": "task",
                }
            ],
        },
        call={"sentiment": "NEGATIVE"},
    )


def test_transcript_with_card_and_email_is_masked_for_chat_and_intact_for_crm():
    router = Router.from_file(REPO / "config" / "routes.yaml")
    segment = make_event("transcript_segment", payload={"text": CARD_AND_EMAIL})
    summary = make_event(
        "call_summary", payload={"summary": CARD_AND_EMAIL, "sentiment": "NEGATIVE"}
    )

    by_target = {d.target: d for d in router.route(summary)}
    slack_copy = redact_event(summary, by_target["slack"].redaction)
    salesforce_copy = redact_event(summary, by_target["salesforce"].redaction)

    assert slack_copy["payload"]["summary"] == (
        "Sure, my card is [CARD ****1111] and my email is [EMAIL]."
    )
    assert salesforce_copy["payload"]["summary"] == CARD_AND_EMAIL
    # the same policies on a transcript segment
    assert redact_event(segment, by_target["slack"].redaction)["payload"]["text"] == (
        "Sure, my card is [CARD ****1111] and my email is [EMAIL]."
    )
    assert redact_event(segment, by_target["salesforce"].redaction)["payload"]["text"] == (
        CARD_AND_EMAIL
    )


@pytest.mark.parametrize("policy", ["none", "standard", "strict"])
def test_input_is_never_mutated_and_a_new_dict_is_returned(policy):
    event = summary_event()
    before = copy.deepcopy(event)

    out = redact_event(event, policy)

    assert event == before
    assert out is not event


def test_none_returns_an_equal_event():
    event = summary_event()
    assert redact_event(event, "none") == event


def test_standard_masks_free_text_but_keeps_structure_customer_and_numbers():
    event = summary_event()

    out = redact_event(event, "standard")

    payload = out["payload"]
    assert payload["summary"] == "Caller [EMAIL] disputes a charge on [CARD ****1111]."
    assert payload["action_items"][0]["description"] == "Call back on [PHONE ***23]"
    assert payload["action_items"][0]["owner"] == "[EMAIL]"
    assert payload["action_items"][0]["due_date"] == 20000
    assert payload["sentiment"] == "NEGATIVE" and payload["intents"] == ["complaint"]
    # envelope, customer block and the call's numbers are untouched by standard
    for key in ("event_id", "event_type", "occurred_at", "tenant_id", "call_id", "customer"):
        assert out[key] == event[key]
    assert out["call"]["from_number"] == "+14155550123"
    assert out["call"]["talk_time_ms"] == event["call"]["talk_time_ms"]


def test_standard_keeps_call_started_numbers_and_strict_masks_them():
    event = make_event("call_started")

    standard = redact_event(event, "standard")
    strict = redact_event(event, "strict")

    assert standard["payload"]["from_number"] == "+14155550123"
    assert strict["payload"]["from_number"] == "[PHONE ***23]"
    assert strict["payload"]["to_number"] == "[PHONE ***99]"
    assert strict["call"]["from_number"] == "[PHONE ***23]"
    assert strict["payload"]["direction"] == "INBOUND"


def test_strict_masks_the_customer_name_and_email_including_candidates():
    event = make_event(
        "call_ended",
        customer={
            "matched": False,
            "ambiguous": True,
            "match": None,
            "candidates": [
                {"crm": "hubspot", "record_id": "1", "name": "Jane Roe", "email": "j@x.com"},
                {"crm": "hubspot", "record_id": "2", "name": "Jan Roe", "email": None},
            ],
        },
    )
    matched = make_event("call_ended")

    out = redact_event(event, "strict")
    out_matched = redact_event(matched, "strict")

    assert [c["name"] for c in out["customer"]["candidates"]] == ["[NAME]", "[NAME]"]
    assert [c["email"] for c in out["customer"]["candidates"]] == ["[EMAIL]", None]
    assert out["customer"]["candidates"][0]["record_id"] == "1"
    assert out_matched["customer"]["match"]["name"] == "[NAME]"
    assert out_matched["customer"]["match"]["email"] == "[EMAIL]"
    assert out_matched["customer"]["match"]["record_id"] == "003xx000004TmiQ"
    assert matched["customer"]["match"]["name"] == "Jane Roe"  # input untouched


def test_unknown_free_text_fields_are_masked_by_default():
    event = make_event("call_summary")
    event["insights"] = {"notes": ["reach me at 415-555-0123"]}

    assert redact_event(event, "standard")["insights"] == {"notes": ["reach me at [PHONE ***23]"]}


def test_redact_value_masks_strings_in_hints():
    hints = {"channel": "#support", "note": "caller jane@x.org"}

    assert redact_value(hints, "standard") == {"channel": "#support", "note": "caller [EMAIL]"}
    assert redact_value(hints, "none") is hints


def test_unknown_policy_is_rejected():
    with pytest.raises(ValueError, match="use one of: none, standard, strict"):
        redact_event(summary_event(), "chat")


def test_strict_masks_the_looked_up_number_and_business_item_attributes():
    event = make_event("call_ended")
    event["customer"]["lookup_number"] = "+14155550123"
    event["customer"]["open_deal"] = {
        "event_id": "e-1",
        "event_type": "deal.updated",
        "occurred_at": 0,
        "attributes": {"title": "Renewal", "contact": "jane.roe@example.com"},
    }
    event["customer"]["open_ticket"] = None

    strict = redact_event(event, "strict")
    standard = redact_event(event, "standard")

    assert strict["customer"]["lookup_number"] == "[PHONE ***23]"
    assert strict["customer"]["open_deal"]["attributes"] == {
        "title": "Renewal",
        "contact": "[EMAIL]",
    }
    assert strict["customer"]["open_ticket"] is None
    assert standard["customer"] == event["customer"]


def test_fastavro_named_union_payload_keeps_its_tuple_shape():
    event = make_event("transcript_segment", payload={"text": "mail me at jane@x.org"})
    event["payload"] = ("io.voicebus.voice.TranscriptSegment", event["payload"])

    out = redact_event(event, "standard")

    assert out["payload"][0] == "io.voicebus.voice.TranscriptSegment"
    assert out["payload"][1]["text"] == "mail me at [EMAIL]"


TRANSCRIPT = {
    "segments": [
        {"speaker": "AGENT", "start_ms": 0, "text": "How can I help?"},
        {"speaker": "CUSTOMER", "start_ms": 2500, "text": CARD_AND_EMAIL},
        {"speaker": "CUSTOMER", "start_ms": 9000, "text": "Call me on +1 415 555 0123."},
    ],
    "truncated": True,
}


def test_call_transcript_is_masked_for_email_and_chat_and_intact_for_crm():
    router = Router.from_file(REPO / "config" / "routes.yaml")
    summary = make_event(
        "call_summary",
        payload={"summary": "Wants a quote", "sentiment": "NEGATIVE", "intents": ["follow_up"]},
    )
    summary["transcript"] = copy.deepcopy(TRANSCRIPT)
    before = copy.deepcopy(summary)

    by_target = {d.target: d for d in router.route(summary)}
    assert {"gmail", "slack", "salesforce"} <= set(by_target)
    masked = [
        {"speaker": "AGENT", "start_ms": 0, "text": "How can I help?"},
        {
            "speaker": "CUSTOMER",
            "start_ms": 2500,
            "text": "Sure, my card is [CARD ****1111] and my email is [EMAIL].",
        },
        {"speaker": "CUSTOMER", "start_ms": 9000, "text": "Call me on [PHONE ***23]."},
    ]
    for target in ("gmail", "slack"):  # email and chat classes: standard
        copy_for_target = redact_event(summary, by_target[target].redaction)
        assert copy_for_target["transcript"] == {"segments": masked, "truncated": True}
    assert redact_event(summary, by_target["salesforce"].redaction)["transcript"] == TRANSCRIPT
    assert redact_event(summary, "strict")["transcript"]["segments"] == masked
    assert summary == before  # the enriched record itself is never changed


def test_records_without_a_transcript_pass_redaction_unchanged():
    ended = make_event("call_ended")
    ended["transcript"] = None
    assert redact_event(ended, "standard")["transcript"] is None
