"""PII redaction of enriched call events before they leave for a target.

Chat rooms, mailboxes and webhooks are read by people and systems outside the system of record,
so free text (transcript segments, the call transcript that call_ended / call_summary records
carry, summaries, action items) is masked on the way there; CRMs and help desks are the system
of record and get the data as is.  Which policy applies to which
target is decided by the router (``RouteDecision.redaction``); this module only applies it.

Policies:
- ``none``: the event is returned unchanged (a new top-level dict; nested values are shared).
- ``standard``: payment cards (Luhn-checked, so order numbers stay), US SSNs, e-mail addresses
  and phone numbers are masked in every free-text string of the event outside the envelope and
  the ``customer`` block.  Masks keep a shape hint: ``[CARD ****1111]``, ``[SSN]``,
  ``[EMAIL]``, ``[PHONE ***12]``.
- ``strict``: ``standard`` plus, in the ``customer`` block, the customer's name and e-mail
  (match and candidates), the looked-up number and PII in open deal/ticket attributes, and the
  caller/callee numbers everywhere (``from_number``/``to_number``, last two digits kept).

All patterns are compiled once at import: the processors benchmark measures this path.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from pipeline.processors.enrich import ENVELOPE_FIELDS

__all__ = [
    "RedactionPolicy",
    "mask_phone_number",
    "parse_policy",
    "redact_event",
    "redact_text",
    "redact_value",
]


class RedactionPolicy(StrEnum):
    NONE = "none"
    STANDARD = "standard"
    STRICT = "strict"


def parse_policy(policy: str | RedactionPolicy) -> RedactionPolicy:
    try:
        return RedactionPolicy(policy)
    except ValueError:
        accepted = ", ".join(p.value for p in RedactionPolicy)
        raise ValueError(f"unknown redaction policy {policy!r}; use one of: {accepted}") from None


# ---- text patterns -----------------------------------------------------------------------
# Leading lookaheads / digit-first patterns below let the engine skip most positions fast.
_EMAIL = re.compile(
    r"(?=[A-Za-z0-9._%+-]+@)(?<![\w.+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"
)
# Speech-to-text often writes addresses out: "john dot smith at example dot com".
_SPOKEN_EMAIL = re.compile(
    r"\b[a-z0-9_-]+(?: dot [a-z0-9_-]+)* at [a-z0-9-]+(?: dot [a-z0-9-]+)*"
    r" dot (?:com|net|org|io|co|us|uk|de|fr|edu|gov|info|biz)\b",
    re.IGNORECASE,
)
# A run of 13+ digits where single spaces or dashes may separate digits; cards are searched
# inside it at separator boundaries so a card next to other numbers is still found.
_DIGIT_RUN = re.compile(r"\d(?<!\d\d)(?:[ \-]?\d){12,}(?!\d)")
_DIGIT_GROUP = re.compile(r"\d+")
# Area 000/666/9xx, group 00 and serial 0000 are never issued: skipping them avoids false hits.
_SSN = re.compile(
    r"(?=\d)(?<![\d\-])(?!000|666|9\d\d)\d{3}([- ])(?!00)\d{2}\1(?!0000)\d{4}(?![\d\-])"
)
_SSN_SPOKEN = re.compile(
    r"(?i)\b(ssn|social security(?: number)?|social)\b(\D{0,20}?)"
    r"(?<!\d)(?!000|666|9\d\d)\d{3}(?!00)\d{2}(?!0000)\d{4}(?!\d)"
)
_PHONE = re.compile(
    r"(?=[+(\d])(?:"
    + "|".join(
        (
            # E.164 / international: "+1 (415) 555-0123", "+44 20 7946 0958", "+14155550123"
            r"(?<![\w+])\+(?:\d[ .\-()]{0,2}){7,14}\d(?!\d)",
            # North American: "(415) 555-0123", "415-555-0123", "415.555.0123", "1 415 555 0123"
            r"(?<![\w(])(?:1[ .\-]?)?(?:\(\d{3}\)[ .\-]?|\d{3}[ .\-]?)\d{3}[ .\-]?\d{4}(?!\d)",
            # National with trunk prefix 0: "020 7946 0958", "07700 900123", "030-1234-5678"
            r"(?<![\w])0\d{1,4}[ .\-]\d{3,4}[ .\-]?\d{3,4}(?!\d)",
        )
    )
    + ")"
)
# Every card, SSN and phone pattern needs 7+ digits close together: one search rules them all
# out for most text (times, amounts, short order numbers).
_MAYBE_NUMBER = re.compile(r"\d(?:[ ().\-]{0,3}\d){6}").search


def _luhn_ok(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if index % 2:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def _is_card(digits: str) -> bool:
    return 13 <= len(digits) <= 19 and _luhn_ok(digits)


def _card_mask(digits: str) -> str:
    return f"[CARD ****{digits[-4:]}]"


def _card_shaped(groups: list[str]) -> bool:
    """Groups as printed on cards: 4-4-4-4(-3), Amex 4-6-5, or one unbroken block."""
    sizes = [len(g) for g in groups]
    if len(sizes) == 1 or sizes == [4, 6, 5]:
        return True
    return all(size == 4 for size in sizes[:-1]) and 1 <= sizes[-1] <= 4


def _mask_cards_in_run(match: re.Match[str]) -> str:
    run = match.group(0)
    spans = [(g.start(), g.end()) for g in _DIGIT_GROUP.finditer(run)]
    groups = [run[s:e] for s, e in spans]
    whole = "".join(groups)
    if _is_card(whole):
        return _card_mask(whole)
    if len(groups) == 1:
        return run  # one unseparated block that is not a card: an id or order number
    # Other numbers may share the run ("call 555 123 4567 4111 1111 1111 1111"): look for
    # card windows at group boundaries, best first (card-shaped grouping, then longest).
    windows: list[tuple[bool, int, int, int]] = []
    for start in range(len(groups)):
        digits = ""
        for end in range(start, len(groups)):
            digits += groups[end]
            if len(digits) > 19:
                break
            if _is_card(digits):
                windows.append((_card_shaped(groups[start : end + 1]), len(digits), start, end))
    if not windows:
        return run
    chosen: list[tuple[int, int]] = []
    for _shaped, _length, start, end in sorted(windows, reverse=True):
        if all(end < s or start > e for s, e in chosen):
            chosen.append((start, end))
    out: list[str] = []
    written = 0
    for start, end in sorted(chosen):
        out.append(run[written : spans[start][0]])
        out.append(_card_mask("".join(groups[start : end + 1])))
        written = spans[end][1]
    out.append(run[written:])
    return "".join(out)


def _mask_phone(match: re.Match[str]) -> str:
    return mask_phone_number(match.group(0))


def _mask_spoken_ssn(match: re.Match[str]) -> str:
    return f"{match.group(1)}{match.group(2)}[SSN]"


def mask_phone_number(number: str) -> str:
    """``"+14155550123"`` -> ``"[PHONE ***23]"``: enough to tell two numbers apart."""
    digits = "".join(ch for ch in number if ch.isdigit())
    return f"[PHONE ***{digits[-2:]}]" if digits else "[PHONE]"


def redact_text(text: str, policy: str | RedactionPolicy = RedactionPolicy.STANDARD) -> str:
    """Mask cards, SSNs, e-mails and phone numbers in one free-text string."""
    if parse_policy(policy) is RedactionPolicy.NONE:
        return text
    return _mask_text(text)


def _mask_text(text: str) -> str:
    if "@" in text:
        text = _EMAIL.sub("[EMAIL]", text)
    if " dot " in text or " DOT " in text or " Dot " in text:
        text = _SPOKEN_EMAIL.sub("[EMAIL]", text)
    if _MAYBE_NUMBER(text) is None:
        return text
    text = _DIGIT_RUN.sub(_mask_cards_in_run, text)
    text = _SSN.sub("[SSN]", text)
    lowered = text.lower()
    if "ssn" in lowered or "social" in lowered:
        text = _SSN_SPOKEN.sub(_mask_spoken_ssn, text)
    return _PHONE.sub(_mask_phone, text)


# ---- event walking -----------------------------------------------------------------------
# Envelope fields identify the event; the customer block is structured CRM data handled by the
# strict policy only.  Everything else is scanned, so a new free-text field is masked by default.
_UNSCANNED_TOP_LEVEL = (frozenset(ENVELOPE_FIELDS) - {"payload"}) | {"customer"}
# Structured values whose meaning masking would break (numbers are handled by ``strict``).
_STRUCTURED_KEYS = frozenset(
    {
        "from_number",
        "to_number",
        "url",
        "checksum",
        "format",
        "language",
        "direction",
        "speaker",
        "sentiment",
        "disposition",
        "hangup_cause",
        "kind",
        "due_date",
        "record_id",
        "record_type",
        "crm",
    }
)
_NUMBER_KEYS = frozenset({"from_number", "to_number"})


def _mask_tree(value: Any, strict: bool) -> Any:
    if isinstance(value, str):
        return _mask_text(value)
    if isinstance(value, Mapping):
        out: dict[Any, Any] = {}
        for key, item in value.items():
            if key in _STRUCTURED_KEYS:
                if strict and key in _NUMBER_KEYS and isinstance(item, str) and item:
                    out[key] = mask_phone_number(item)
                else:
                    out[key] = item
            else:
                out[key] = _mask_tree(item, strict)
        return out
    if isinstance(value, list):
        return [_mask_tree(item, strict) for item in value]
    if isinstance(value, tuple):  # e.g. fastavro's (record_name, record) union form
        return tuple(_mask_tree(item, strict) for item in value)
    return value


def _mask_person(person: Any) -> Any:
    if not isinstance(person, Mapping):
        return person
    out = dict(person)
    if out.get("name"):
        out["name"] = "[NAME]"
    if out.get("email"):
        out["email"] = "[EMAIL]"
    return out


def _mask_business_item(item: Any) -> Any:
    if not isinstance(item, Mapping) or not isinstance(item.get("attributes"), Mapping):
        return item
    return {**item, "attributes": _mask_tree(item["attributes"], strict=True)}


def _mask_customer(customer: Any) -> Any:
    if not isinstance(customer, Mapping):
        return customer
    out = dict(customer)
    if "match" in out:
        out["match"] = _mask_person(out["match"])
    candidates = out.get("candidates")
    if isinstance(candidates, list | tuple):
        out["candidates"] = [_mask_person(c) for c in candidates]
    if isinstance(out.get("lookup_number"), str) and out["lookup_number"]:
        out["lookup_number"] = mask_phone_number(out["lookup_number"])
    for key in ("open_deal", "open_ticket"):
        if key in out:
            out[key] = _mask_business_item(out[key])
    return out


def redact_event(enriched: Mapping[str, Any], policy: str | RedactionPolicy) -> dict[str, Any]:
    """A copy of ``enriched`` with ``policy`` applied; the input is never mutated.

    Masked parts are new objects; unchanged nested values are shared with the input (treat the
    result as read-only or copy it before editing in place)."""
    chosen = parse_policy(policy)
    if chosen is RedactionPolicy.NONE:
        return dict(enriched)
    strict = chosen is RedactionPolicy.STRICT
    out: dict[str, Any] = {}
    for key, value in enriched.items():
        if key not in _UNSCANNED_TOP_LEVEL:
            out[key] = _mask_tree(value, strict)
        elif key == "customer" and strict:
            out[key] = _mask_customer(value)
        else:
            out[key] = value
    return out


def redact_value(value: Any, policy: str | RedactionPolicy) -> Any:
    """Apply ``policy`` to any JSON-like value meant for humans (e.g. rule hints rendered from
    event data): strings are masked, containers are copied with their strings masked."""
    chosen = parse_policy(policy)
    if chosen is RedactionPolicy.NONE:
        return value
    return _mask_tree(value, chosen is RedactionPolicy.STRICT)
