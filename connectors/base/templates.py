"""E-mail / calendar text templates kept in files, checked when a connector is built.

A template named ``call-follow-up`` is up to three files in the template directory
(``config/templates/`` by default):

- ``call-follow-up.subject.txt``  one line, the subject;
- ``call-follow-up.body.txt``     the plain-text body;
- ``call-follow-up.body.html``    optional HTML alternative (values are HTML-escaped).

Placeholders use stdlib ``string.Template`` syntax: ``${summary}`` or ``$summary``; ``$$`` is
a literal dollar.  Only the names in ``PLACEHOLDERS`` exist.  An unknown placeholder or a bad
``$`` fails at start-up (``load_templates`` is called from the connector's constructor) with
``TemplateError`` naming the file and the line, so a typo never surfaces as a failed send at
3 a.m.  Rendering itself cannot fail: every placeholder always has a value (maybe empty).
"""

from __future__ import annotations

import html
import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

#: placeholder -> what it holds (the README lists these for template authors)
PLACEHOLDERS: Mapping[str, str] = {
    "customer_name": "matched contact's name (or 'there' when unknown)",
    "customer_email": "matched contact's e-mail address",
    "company": "matched contact's account/company",
    "agent": "agent who handled the call",
    "call_id": "the call's id",
    "call_date": "call start, 'YYYY-MM-DD HH:MM UTC'",
    "duration": "call length, e.g. '4 min 12 s'",
    "summary": "the call summary text",
    "action_items": "action items, one '- ...' line each",
    "sentiment": "overall sentiment (POSITIVE, NEUTRAL, NEGATIVE, MIXED)",
    "recording_link": "link to the recording (empty when none)",
    "transcript_link": "link to the transcript (empty when none)",
    "sender_name": "configured sender display name",
    "item_description": "the action item (meeting templates)",
    "item_due": "the action item's due date (meeting templates)",
    "item_owner": "the action item's owner (meeting templates)",
}

#: the templates the mail connectors load by default (follow-up e-mail, meeting text)
DEFAULT_NAMES = ("call-follow-up", "meeting")

SUBJECT_SUFFIX = ".subject.txt"
BODY_SUFFIX = ".body.txt"
HTML_SUFFIX = ".body.html"


class TemplateError(ValueError):
    """A template file is missing or invalid; the message names the file and the line."""


@dataclass(frozen=True)
class MessageTemplate:
    name: str
    subject: string.Template
    body: string.Template
    html_body: string.Template | None = None

    def render(self, values: Mapping[str, str]) -> RenderedMessage:
        full = {name: values.get(name, "") for name in PLACEHOLDERS}
        subject = " ".join(self.subject.substitute(full).split())  # one line, no CR/LF
        html_text = None
        if self.html_body is not None:
            escaped = {k: html.escape(v).replace("\n", "<br>\n") for k, v in full.items()}
            html_text = self.html_body.substitute(escaped)
        return RenderedMessage(subject, self.body.substitute(full), html_text)


@dataclass(frozen=True)
class RenderedMessage:
    subject: str
    text: str
    html: str | None = None


def _line_of(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def check_template(path: Path, text: str, known: Iterable[str] = PLACEHOLDERS) -> string.Template:
    """The compiled template, or ``TemplateError`` at the first bad placeholder."""
    allowed = set(known)
    template = string.Template(text)
    for match in template.pattern.finditer(text):
        name = match.group("named") or match.group("braced")
        line = _line_of(text, match.start())
        if match.group("invalid") is not None:
            raise TemplateError(
                f"{path}:{line}: invalid '$' placeholder syntax; write ${{name}} for a value "
                "or $$ for a literal dollar sign"
            )
        if name is not None and name not in allowed:
            raise TemplateError(
                f"{path}:{line}: unknown placeholder ${{{name}}}; known placeholders: "
                + ", ".join(sorted(allowed))
            )
    return template


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise TemplateError(f"{path}: template file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise TemplateError(f"{path}: cannot read template ({type(exc).__name__})") from None


def load_template(directory: Path, name: str) -> MessageTemplate:
    """Load and check one template (subject + body, optional HTML body)."""
    if not name or "/" in name or name.startswith("."):
        raise TemplateError(f"template name {name!r} is not a plain file name")
    subject_path = directory / f"{name}{SUBJECT_SUFFIX}"
    body_path = directory / f"{name}{BODY_SUFFIX}"
    html_path = directory / f"{name}{HTML_SUFFIX}"
    subject_text = _read(subject_path).strip()
    if "\n" in subject_text:
        raise TemplateError(
            f"{subject_path}:{_line_of(subject_text, subject_text.index(chr(10)) + 1)}: the "
            "subject template must be a single line"
        )
    subject = check_template(subject_path, subject_text)
    body = check_template(body_path, _read(body_path))
    html_body = check_template(html_path, _read(html_path)) if html_path.exists() else None
    return MessageTemplate(name, subject, body, html_body)


def load_templates(directory: Path, names: Iterable[str]) -> dict[str, MessageTemplate]:
    """Every named template, checked now (connector construction)."""
    if not directory.is_dir():
        raise TemplateError(f"{directory}: template directory not found")
    return {name: load_template(directory, name) for name in dict.fromkeys(names)}
