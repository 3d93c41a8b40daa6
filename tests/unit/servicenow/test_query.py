"""Encoded query building (client) and parsing (sandbox) agree: a value is always one literal."""

from __future__ import annotations

import pytest

from connectors.servicenow import query as q
from connectors.servicenow.sandbox_query import Condition, QueryError, parse, split_terms

SAFE_BUT_TRICKY = [
    "plain@example.com",
    "a=b!=c>=d LIKE e",
    "ORcaller_id=123",
    "x NQsys_idISNOTEMPTY ORDERBYname",
    "+1 (415) 555-0123",
]
CARETS = [
    "a^b",
    "^",
    "^^",
    "x^",
    "^ORemail=victim@example.com",
    "x^NQsys_idISNOTEMPTY",
    "x^ORDERBYname",
    "^^^OR^",
]
CONTROLS = ["a\nb", "a\rb", "a\tb", "a\x00b", "a\x1bb", "a\x85b", "a\u2028b"]


@pytest.mark.parametrize("value", SAFE_BUT_TRICKY)
def test_operator_text_in_a_value_parses_back_to_exactly_one_literal(value: str) -> None:
    text = q.all_of(q.any_of([q.eq("email", value), q.eq("phone", value)]), q.eq("active", "true"))
    parsed = parse(text)
    assert parsed.order == []
    assert parsed.groups == [
        [
            [Condition("email", "=", value), Condition("phone", "=", value)],
            [Condition("active", "=", "true")],
        ]
    ]


@pytest.mark.parametrize("value", CARETS)
def test_values_with_a_caret_are_never_put_into_a_query(value: str) -> None:
    for build in (lambda: q.eq("email", value), lambda: q.op("meta", "LIKE", value)):
        with pytest.raises(q.UnsafeQueryValue) as info:
            build()
        assert info.value.reason == "caret"
        assert "'^'" in str(info.value)


@pytest.mark.parametrize("value", CONTROLS)
def test_values_with_control_characters_are_refused(value: str) -> None:
    with pytest.raises(q.UnsafeQueryValue) as info:
        q.eq("email", value)
    assert info.value.reason == "control_character"
    assert value not in str(info.value)


def test_sandbox_reads_queries_pessimistically_so_a_doubled_caret_would_inject() -> None:
    # ServiceNow documents no caret escape: the sandbox splits at every '^' ...
    assert split_terms("a=1^^2^b=3") == ["a=1", "", "2", "b=3"]
    # ... so escaping '^' as '^^' would NOT have protected the lookup: hence values are refused
    assert parse("email=x^^ORemail=victim").conditions() == [
        Condition("email", "=", "x"),
        Condition("email", "=", "victim"),
    ]
    assert len(parse("email=x^ORemail=victim").conditions()) == 2


@pytest.mark.parametrize("value", ["javascript:gs.getUser()", " JavaScript:x"])
def test_script_values_are_refused(value: str) -> None:
    with pytest.raises(q.UnsafeQueryValue) as info:
        q.eq("email", value)
    assert info.value.reason == "script"
    assert value.strip() not in str(info.value)


@pytest.mark.parametrize("name", ["Email", "email=x", "a b", "", "1x"])
def test_field_names_are_checked(name: str) -> None:
    with pytest.raises(q.UnsafeQueryValue):
        q.eq(name, "v")


def test_parser_handles_or_nq_order_and_dates() -> None:
    parsed = parse(
        "state=6^ORstate=7^sys_updated_on>=2026-11-24 21:00:00^NQnumber=INC1"
        "^ORDERBYDESCsys_updated_on"
    )
    rows = [
        {"state": "6", "sys_updated_on": "2026-11-24 21:00:00", "number": "INC2"},
        {"state": "7", "sys_updated_on": "2026-11-24 22:00:00", "number": "INC3"},
        {"state": "6", "sys_updated_on": "2026-11-24 20:59:59", "number": "INC4"},
        {"state": "1", "sys_updated_on": "2026-11-24 20:00:00", "number": "INC1"},
    ]
    assert [r["number"] for r in parsed.apply(rows)] == ["INC3", "INC2", "INC1"]
    with pytest.raises(QueryError):
        parse("=novalue")
    assert parse("metaLIKEvoicebus-call-1").conditions() == [
        Condition("meta", "LIKE", "voicebus-call-1")
    ]
