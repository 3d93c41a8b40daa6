"""Masking in free text: many things that must be masked, and many that must stay."""

from __future__ import annotations

import pytest

from pipeline.processors.redaction import mask_phone_number, redact_text

MASKED = [
    # payment cards (Luhn-valid), with and without separators
    ("my card is 4111 1111 1111 1111 thanks", "my card is [CARD ****1111] thanks"),
    ("4111-1111-1111-1111", "[CARD ****1111]"),
    ("4111111111111111", "[CARD ****1111]"),
    ("mastercard 5500 0000 0000 0004.", "mastercard [CARD ****0004]."),
    ("amex 3782 822463 10005 ok", "amex [CARD ****0005] ok"),
    ("amex 378282246310005", "amex [CARD ****0005]"),
    ("discover 6011111111111117", "discover [CARD ****1117]"),
    ("visa13 4222222222222", "visa13 [CARD ****2222]"),
    ("19 digits 6304000000000000000 end", "19 digits [CARD ****0000] end"),
    ("card4111111111111111", "card[CARD ****1111]"),
    ("4 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1", "[CARD ****1111]"),
    ("4111 1111 1111 1111 exp 12/27", "[CARD ****1111] exp 12/27"),
    # a card next to other numbers in the same run of digits
    ("4111 1111 1111 1111 12", "[CARD ****1111] 12"),
    ("555 123 4567 4111 1111 1111 1111", "[PHONE ***67] [CARD ****1111]"),
    ("4111 1111 1111 1111 5500 0000 0000 0004", "[CARD ****1111] [CARD ****0004]"),
    # US social security numbers
    ("ssn 123-45-6789", "ssn [SSN]"),
    ("SSN: 123 45 6789.", "SSN: [SSN]."),
    ("my social is 123456789", "my social is [SSN]"),
    ("Social Security number 078051120", "Social Security number [SSN]"),
    # e-mail addresses
    ("mail john.doe@example.com now", "mail [EMAIL] now"),
    ("JOHN.DOE+billing@Example.co.uk", "[EMAIL]"),
    ("<a_b-c%d@sub.domain.io>", "<[EMAIL]>"),
    ("john dot smith at example dot com", "[EMAIL]"),
    ("write to jane at acme dot co dot uk please", "write to [EMAIL] please"),
    ("4155550123@txt.att.net", "[EMAIL]"),
    # phone numbers: E.164 and national formats
    ("call +14155550123", "call [PHONE ***23]"),
    ("call +1 (415) 555-0123 today", "call [PHONE ***23] today"),
    ("+44 20 7946 0958", "[PHONE ***58]"),
    ("+49 30 12345678", "[PHONE ***78]"),
    ("(415) 555-0123", "[PHONE ***23]"),
    ("415-555-0123", "[PHONE ***23]"),
    ("415.555.0123", "[PHONE ***23]"),
    ("415 555 0123", "[PHONE ***23]"),
    ("1-800-555-0199", "[PHONE ***99]"),
    ("at 4155550123.", "at [PHONE ***23]."),
    ("uk 020 7946 0958", "uk [PHONE ***58]"),
    ("mobile 07700 900123", "mobile [PHONE ***23]"),
    # several kinds in one string
    (
        "I'm jane@x.org, 415-555-0123, card 4111111111111111, ssn 123-45-6789",
        "I'm [EMAIL], [PHONE ***23], card [CARD ****1111], ssn [SSN]",
    ),
]

UNCHANGED = [
    "order 4111111111111112",  # Luhn-invalid 16 digits
    "1234-5678-9012-3456",  # Luhn-invalid, card-shaped
    "1234 5678 9012 3456",
    "tracking 1Z999AA10123456784",
    "ref 12345678901234567890123",  # too long for a card
    "order 12345678",
    "zip 94107 and 10001",
    "date 2024-01-15 at 10:30",
    "on 12/25/2024",
    "total $1,234.56",
    "version 1.2.3",
    "ip 192.168.1.10",
    "000-12-3456",  # never-issued SSN area
    "666-12-3456",
    "900-12-3456",
    "123-00-4567",  # never-issued group
    "123-45-0000",  # never-issued serial
    "call me at noon",  # the word 'at' is not an e-mail
    "meet at the office dot",
    "user@localhost",  # no domain suffix
    "the @ sign",
    "room 555",
    "ext 1234",
    "Hello, I have a question about my bill.",
    "",
]


@pytest.mark.parametrize(("text", "expected"), MASKED)
def test_masked(text, expected):
    assert redact_text(text) == expected


@pytest.mark.parametrize("text", UNCHANGED)
def test_unchanged(text):
    assert redact_text(text) == text


@pytest.mark.parametrize("text", [t for t, _ in MASKED])
def test_policy_none_keeps_text(text):
    assert redact_text(text, "none") == text


def test_masking_is_idempotent():
    once = redact_text(" ".join(t for t, _ in MASKED))
    assert redact_text(once) == once


def test_unknown_policy_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown redaction policy 'paranoid'"):
        redact_text("x", "paranoid")


@pytest.mark.parametrize(
    ("number", "expected"),
    [("+14155550123", "[PHONE ***23]"), ("(020) 7946-0958", "[PHONE ***58]"), ("n/a", "[PHONE]")],
)
def test_mask_phone_number(number, expected):
    assert mask_phone_number(number) == expected
