"""Invalid rules files fail with the file, line, field and a way to fix it."""

from __future__ import annotations

import textwrap

import pytest

from pipeline.processors.routing import RulesError, load_rules, parse_rules

VALID_HEAD = "version: 1\nrules:\n"


def error_of(text: str) -> RulesError:
    with pytest.raises(RulesError) as caught:
        parse_rules(textwrap.dedent(text), "routes.yaml")
    return caught.value


@pytest.mark.parametrize(
    ("text", "line", "field", "message_part"),
    [
        (
            """\
            version: 1
            rules:
              - name: ok
                then: [{target: slack, operation: post_summary}]
              - name: bad-target
                when: {event_type: [call_summary]}
                then:
                  - target: zendsk
                    operation: open_ticket
            """,
            8,
            "rules[1] 'bad-target' then[0].target",
            "unknown target 'zendsk'",
        ),
        (
            """\
            version: 1
            rules:
              - name: typo
                when:
                  event_type: [call_summary]
                  sentimnet: [NEGATIVE]
                then: [{target: slack, operation: post_summary}]
            """,
            6,
            "rules[0] 'typo' when.sentimnet",
            "unknown field 'sentimnet'",
        ),
        (
            """\
            version: 1
            rules:
              - name: s
                when: {sentiment: [ANGRY]}
                then: [{target: slack, operation: post_summary}]
            """,
            4,
            "when.sentiment",
            "unknown sentiment 'ANGRY'",
        ),
        (
            """\
            version: 1
            rules:
              - name: e
                when:
                  event_type: [call_sumary]
                then: [{target: slack, operation: post_summary}]
            """,
            5,
            "when.event_type",
            "unknown event type 'call_sumary'",
        ),
        (
            """\
            version: 1
            rules:
              - name: no-actions
                when: {event_type: [call_ended]}
            """,
            3,
            "rules[0] 'no-actions' then",
            "required field 'then' is missing",
        ),
        (
            """\
            version: 1
            rules:
              - name: empty-actions
                then: []
            """,
            4,
            "then",
            "at least 1 item",
        ),
        (
            """\
            version: 1
            rules:
              - name: dup
                then: [{target: slack, operation: post_summary}]
              - name: dup
                then: [{target: teams, operation: post_summary}]
            """,
            5,
            "rules[1] 'dup' name",
            "duplicate rule name 'dup'",
        ),
        (
            """\
            version: 1
            rules:
              - name: k
                then: [{target: slack, operation: post_summary}]
                then: [{target: teams, operation: post_summary}]
            """,
            5,
            "rules[0].then",
            "duplicate key 'then'",
        ),
        (
            """\
            version: 2
            rules: []
            """,
            1,
            "version",
            "1",
        ),
        (
            """\
            version: 1
            rules:
              - name: range
                when: {min_duration_s: 60, max_duration_s: 10}
                then: [{target: slack, operation: post_summary}]
            """,
            4,
            "when",
            "min_duration_s (60) is greater than max_duration_s (10)",
        ),
        (
            """\
            version: 1
            rules:
              - name: pol
                then:
                  - {target: slack, operation: post_summary, redaction: paranoid}
            """,
            5,
            "then[0].redaction",
            "'none', 'standard' or 'strict'",
        ),
        (
            """\
            version: 1
            redaction:
              policies:
                sms: strict
            rules: []
            """,
            4,
            "redaction.policies.sms",
            "chat",
        ),
        (
            """\
            version: 1
            redaction:
              target_classes: {fax: crm}
            rules: []
            """,
            3,
            "redaction.target_classes",
            "unknown target 'fax'",
        ),
        (
            """\
            version: 1
            rules:
              - name: b
                when: {customer_matched: "yes"}
                then: [{target: slack, operation: post_summary}]
            """,
            4,
            "when.customer_matched",
            "valid boolean",
        ),
        (
            """\
            version: 1
            rules:
              - name: off
                then: [{target: slack, operation: post_summary}]
            """,
            3,
            "rules[0].name",
            "quote the value",
        ),
        (
            """\
            version: 1
            rules:
              - name: op
                then: [{target: slack, operation: "Post Summary"}]
            """,
            4,
            "then[0].operation",
            "pattern",
        ),
    ],
)
def test_invalid_rules_name_line_and_field(text, line, field, message_part):
    error = error_of(text)

    assert len(error.issues) >= 1
    issue = error.issues[0]
    assert issue.line == line, str(error)
    assert field in issue.field, str(error)
    assert message_part in issue.message, str(error)
    assert f"routes.yaml:{line}: " in str(error)


def test_every_problem_is_reported_not_just_the_first():
    error = error_of(
        """\
        version: 1
        rules:
          - name: a
            then: [{target: slak, operation: post_summary}]
          - name: b
            then: [{target: temas, operation: post_summary}]
        """
    )

    assert [(i.line, i.field) for i in error.issues] == [
        (4, "rules[0] 'a' then[0].target"),
        (6, "rules[1] 'b' then[0].target"),
    ]


def test_yaml_syntax_error_names_its_line():
    error = error_of(
        """\
        version: 1
        rules:
          - name: a
            then: [{target: slack, operation: post_summary}
        """
    )

    assert error.issues[0].message.startswith("invalid YAML")
    assert error.issues[0].line in (4, 5)


@pytest.mark.parametrize(
    ("text", "message_part"),
    [("", "the file is empty"), ("- a\n- b\n", "top level must be a mapping")],
)
def test_documents_that_are_not_rules(text, message_part):
    assert message_part in str(error_of(text))


def test_missing_file_is_a_rules_error(tmp_path):
    with pytest.raises(RulesError, match="cannot read the file"):
        load_rules(tmp_path / "nope.yaml")


def test_valid_file_loads_with_content_digest(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text(
        VALID_HEAD + "  - name: a\n    then: [{target: slack, operation: post_summary}]\n"
    )

    loaded = load_rules(path)

    assert loaded.source == str(path)
    assert len(loaded.sha256) == 64
    assert [r.name for r in loaded.rules.rules] == ["a"]


def test_scalar_condition_values_mean_a_one_item_list():
    loaded = parse_rules(
        VALID_HEAD
        + "  - name: a\n    when: {event_type: call_summary, direction: inbound}\n"
        + "    then: [{target: slack, operation: post_summary}]\n"
    )

    when = loaded.rules.rules[0].when
    assert when.event_type == ["call_summary"]
    assert when.direction == ["INBOUND"]


def test_yaml_anchors_and_merge_keys_work():
    loaded = parse_rules(
        """\
version: 1
rules:
  - name: a
    when: &summary {event_type: [call_summary]}
    then: [{target: slack, operation: post_summary}]
  - name: b
    when: {<<: *summary, tenant: [acme]}
    then: [{target: teams, operation: post_summary}]
"""
    )

    assert loaded.rules.rules[1].when.event_type == ["call_summary"]
    assert loaded.rules.rules[1].when.tenant == ["acme"]


def test_blank_when_single_action_and_blank_hints_are_accepted():
    loaded = parse_rules(
        VALID_HEAD
        + "  - name: a\n    when:\n    then:\n      target: slack\n      operation: post_summary\n"
        + "      hints:\n"
    )

    rule = loaded.rules.rules[0]
    assert rule.when.event_type is None
    assert [(a.target, a.hints) for a in rule.then] == [("slack", {})]


def test_unsafe_yaml_tags_are_refused_with_their_line():
    error = error_of(
        """\
        version: 1
        rules:
          - name: a
            hints: !!python/object:os.system {}
            then: [{target: slack, operation: post_summary}]
        """
    )

    assert error.issues[0].line == 4
    assert "invalid YAML" in error.issues[0].message


def test_rules_must_be_a_list():
    error = error_of("version: 1\nrules:\n  a: 1\n")

    assert (error.issues[0].line, error.issues[0].field) == (2, "rules")
    assert "valid list" in error.issues[0].message


def test_unsafe_yaml_tags_on_scalars_are_refused_with_their_line():
    error = error_of(
        """\
        version: 1
        rules:
          - name: !!python/name:os.system
            then: [{target: slack, operation: post_summary}]
        """
    )

    assert error.issues[0].line == 3
    assert "invalid YAML" in error.issues[0].message
