"""Building ServiceNow encoded queries (``sysparm_query``) from values we do not control.

In an encoded query ``^`` separates conditions (``^OR``, ``^NQ``, ``^ORDERBY`` ... follow it), so
a value holding ``^`` could end its condition and start another (``x^ORcaller_id=...``).  Every
value goes through ``escape_value``: ``^`` is doubled (``^^``), which the parser reads back as
one literal caret inside the value.  The other operator characters (``=``, ``!=``, ``LIKE`` ...)
are harmless inside a value: a condition is split at its *first* operator, after the field
name, which we always write ourselves (``field_name`` refuses anything but ``[a-z0-9_.]``).
Values starting with ``javascript:`` are refused: the platform evaluates them as script.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime

_FIELD = re.compile(r"^[a-z][a-z0-9_.]*$")


class UnsafeQueryValue(ValueError):
    """A value that cannot be put into an encoded query safely (message names no value)."""


def field_name(name: str) -> str:
    if not _FIELD.match(name):
        raise UnsafeQueryValue(f"not a ServiceNow field name: {name[:40]!r}")
    return name


def escape_value(value: str) -> str:
    text = str(value)
    if text.strip().lower().startswith("javascript:"):
        raise UnsafeQueryValue("a value starting with 'javascript:' would run as script")
    if "\n" in text or "\r" in text:
        raise UnsafeQueryValue("a value with a line break cannot be queried")
    return text.replace("^", "^^")


def eq(field: str, value: str) -> str:
    return f"{field_name(field)}={escape_value(value)}"


def op(field: str, operator: str, value: str) -> str:
    if operator not in ("=", "!=", ">", ">=", "<", "<=", "LIKE", "STARTSWITH"):
        raise UnsafeQueryValue(f"unsupported operator {operator!r}")
    return f"{field_name(field)}{operator}{escape_value(value)}"


def any_of(conditions: Sequence[str]) -> str:
    """``a^ORb^ORc``: true when any condition holds."""
    return "^OR".join(conditions)


def all_of(*conditions: str) -> str:
    return "^".join(c for c in conditions if c)


def order_by(field: str, *, descending: bool = False) -> str:
    return ("ORDERBYDESC" if descending else "ORDERBY") + field_name(field)


def glide_time(moment: datetime) -> str:
    """ServiceNow's ``YYYY-MM-DD HH:MM:SS`` (UTC, as the Table API reads/writes it)."""
    when = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def parse_glide_time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
    except ValueError:
        return None
