"""Building ServiceNow encoded queries (``sysparm_query``) from values we do not control.

In an encoded query ``^`` separates conditions (``^OR``, ``^NQ``, ``^ORDERBY`` ... follow it), so
a value holding ``^`` could end its condition and start another (``x^ORcaller_id=...``).
ServiceNow documents no escape for a caret inside a value (``^^`` is not a documented escape; an
instance may split at every ``^``), so no escaping can be relied on: a value holding ``^``, a
line break or any other control character is **never put into a query** -- ``checked_value``
raises ``UnsafeQueryValue`` and the caller decides (the caller lookup is skipped, a call id is a
data error).  There is deliberately no ``^^`` escaping left: it could only run on values we
already refuse, and would suggest a protection the platform does not promise.

The other operator characters (``=``, ``!=``, ``LIKE`` ...) are harmless inside a value: a
condition is split at its *first* operator, after the field name, which we always write
ourselves (``field_name`` refuses anything but ``[a-z0-9_.]``).  Values starting with
``javascript:`` are refused too: the platform evaluates them as script.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime

_FIELD = re.compile(r"^[a-z][a-z0-9_.]*$")


# C0/C1 control characters (line breaks, tab, NUL ...) and the Unicode line/paragraph separators
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


class UnsafeQueryValue(ValueError):
    """A value that cannot be put into an encoded query safely.  The message and ``reason``
    (a short code for structured logs) never contain the value."""

    def __init__(self, message: str, reason: str = "unsafe") -> None:
        super().__init__(message)
        self.reason = reason


def unsafe_reason(value: str) -> tuple[str, str] | None:
    """``(reason code, explanation)`` when ``value`` must not be queried, else None."""
    text = str(value)
    if "^" in text:
        return "caret", "contains '^', the encoded-query separator (ServiceNow has no escape)"
    if _CONTROL.search(text):
        return "control_character", "contains a line break or another control character"
    if text.strip().lower().startswith("javascript:"):
        return "script", "starts with 'javascript:', which the platform would run as script"
    return None


def field_name(name: str) -> str:
    if not _FIELD.match(name):
        raise UnsafeQueryValue(f"not a ServiceNow field name: {name[:40]!r}")
    return name


def checked_value(value: str) -> str:
    """``value`` unchanged when it can only be read as one literal; else ``UnsafeQueryValue``."""
    problem = unsafe_reason(value)
    if problem is not None:
        raise UnsafeQueryValue(f"the value {problem[1]}", problem[0])
    return str(value)


def eq(field: str, value: str) -> str:
    return f"{field_name(field)}={checked_value(value)}"


def op(field: str, operator: str, value: str) -> str:
    if operator not in ("=", "!=", ">", ">=", "<", "<=", "LIKE", "STARTSWITH"):
        raise UnsafeQueryValue(f"unsupported operator {operator!r}")
    return f"{field_name(field)}{operator}{checked_value(value)}"


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
