"""File templates: checked at connector construction, errors name file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors.base.templates import DEFAULT_NAMES, TemplateError, load_template, load_templates
from connectors.gmail.config import DEFAULT_TEMPLATE_DIR


def write(tmp_path: Path, name: str, subject: str, body: str, html: str | None = None) -> None:
    (tmp_path / f"{name}.subject.txt").write_text(subject)
    (tmp_path / f"{name}.body.txt").write_text(body)
    if html is not None:
        (tmp_path / f"{name}.body.html").write_text(html)


def test_shipped_templates_load_and_render() -> None:
    templates = load_templates(DEFAULT_TEMPLATE_DIR, DEFAULT_NAMES)
    rendered = templates["call-follow-up"].render(
        {"customer_name": "Ada", "summary": "We talked <pricing>.", "call_date": "2026-11-24"}
    )
    assert rendered.subject == "Follow-up on our call (2026-11-24)"
    assert "Hi Ada," in rendered.text and "We talked <pricing>." in rendered.text
    assert rendered.html is not None and "We talked &lt;pricing&gt;." in rendered.html


def test_unknown_placeholder_names_file_and_line(tmp_path: Path) -> None:
    write(tmp_path, "t", "Hello ${customer_name}", "line one\nline two\nDear ${custmer_name}\n")
    with pytest.raises(TemplateError) as info:
        load_template(tmp_path, "t")
    message = str(info.value)
    assert f"{tmp_path / 't.body.txt'}:3:" in message
    assert "${custmer_name}" in message and "customer_name" in message


def test_bad_dollar_syntax_names_file_and_line(tmp_path: Path) -> None:
    write(tmp_path, "t", "Hello", "ok\ncosts $5 today\n")
    with pytest.raises(TemplateError, match=r"t\.body\.txt:2: invalid '\$'"):
        load_template(tmp_path, "t")


def test_bad_html_template_is_checked_too(tmp_path: Path) -> None:
    write(tmp_path, "t", "Hello", "ok", html="<p>\n${summary}\n${nope}</p>")
    with pytest.raises(TemplateError, match=r"t\.body\.html:3: unknown placeholder \$\{nope\}"):
        load_template(tmp_path, "t")


def test_missing_file_and_multi_line_subject(tmp_path: Path) -> None:
    with pytest.raises(TemplateError, match=r"missing\.subject\.txt: template file not found"):
        load_template(tmp_path, "missing")
    write(tmp_path, "t", "line one\nline two", "body")
    with pytest.raises(TemplateError, match=r"t\.subject\.txt:2: the subject template must be"):
        load_template(tmp_path, "t")


def test_dollar_escape_and_values_cannot_inject_headers(tmp_path: Path) -> None:
    write(tmp_path, "t", "Re: ${summary}", "Price: $$5 ${summary}")
    rendered = load_template(tmp_path, "t").render({"summary": "a\r\nBcc: evil@example.com"})
    assert "\n" not in rendered.subject and "\r" not in rendered.subject
    assert rendered.text.startswith("Price: $5 ")
