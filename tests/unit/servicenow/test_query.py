"""Encoded query building (client) and parsing (sandbox) agree: a value is always one literal."""

from __future__ import annotations

import pytest

from connectors.servicenow import query as q
from connectors.servicenow.sandbox_query import Condition, QueryError, parse, split_terms

NASTY = [
    "plain@example.com",
    "a^b",
    "^",
    "^^",
    "x^",
    "^ORemail=victim@example.com",
    "x^NQsys_idISNOTEMPTY",
    "x^ORDERBYname",
    "a=b!=c>=d LIKE e",
    "ORcaller_id=123",
    "^^^OR^",
    "+1 (415) 555-0123",
]


@pytest.mark.parametrize("value", NASTY)
def test_escaped_value_parses_back_to_exactly_one_literal_condition(value: str) -> None:
    text = q.all_of(q.any_of([q.eq("email", value), q.eq("phone", value)]), q.eq("active", "true"))
    parsed = parse(text)
    assert parsed.order == []
    assert parsed.groups == [
        [
            [Condition("email", "=", value), Condition("phone", "=", value)],
            [Condition("active", "=", "true")],
        ]
    ]


def test_unescaped_caret_would_inject_which_is_why_we_escape() -> None:
    parsed = parse("email=x^ORemail=victim")
    assert len(parsed.conditions()) == 2


def test_split_terms_reads_double_caret_as_literal() -> None:
    assert split_terms("a=1^^2^b=3") == ["a=1^2", "b=3"]


@pytest.mark.parametrize("value", ["javascript:gs.getUser()", " JavaScript:x", "a\nb"])
def test_script_and_multiline_values_are_refused(value: str) -> None:
    with pytest.raises(q.UnsafeQueryValue) as info:
        q.eq("email", value)
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
