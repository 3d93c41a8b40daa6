"""The transcript attachment of a follow-up, from the record's ``transcript`` field (what the
processors send) with the routing hint as the fallback; rendering shared by every target."""

from __future__ import annotations

import base64
import email
import email.policy
from email.message import EmailMessage

from connectors.base.connector import SyncRecord
from connectors.base.transcript import format_offset, render_segments, transcript_text
from connectors.gmail.sink import GmailConnector
from tests.integration.gmail.conftest import enriched_event, gmail_settings

CARRIED = {
    "segments": [
        {"speaker": "BOT", "start_ms": 800, "text": "Thanks for calling."},
        {"speaker": "CUSTOMER", "start_ms": 65_000, "text": "My email is [EMAIL]."},
        {"speaker": "AGENT", "start_ms": 3_725_400, "text": "Noted,\n  talk soon."},
    ],
    "truncated": False,
}
LINES = [
    "[00:00] BOT: Thanks for calling.",
    "[01:05] CUSTOMER: My email is [EMAIL].",
    "[62:05] AGENT: Noted, talk soon.",
]


def record(transcript: object, hints: dict | None = None) -> SyncRecord:
    event = enriched_event(transcript=transcript)
    return SyncRecord(
        key=event["call_id"],
        event=event,
        operation="send_follow_up",
        hints={"template": "call-follow-up", **(hints or {})},
    )


def attachment_text(rec: SyncRecord) -> str:
    [operation] = GmailConnector(gmail_settings("http://gmail.invalid")).map_record(rec)
    raw = operation.payload["raw"]
    message = email.message_from_bytes(
        base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)), policy=email.policy.default
    )
    assert isinstance(message, EmailMessage)
    [attachment] = message.iter_attachments()
    assert attachment.get_filename() == f"transcript-{rec.event['call_id']}.txt"
    assert attachment.get_content_type() == "text/plain"
    content = attachment.get_content()
    assert isinstance(content, str)
    return content


def test_offsets_are_minutes_and_seconds_from_the_call_start() -> None:
    assert [format_offset(ms) for ms in (0, 999, 65_000, 3_725_400, -5)] == [
        "00:00",
        "00:00",
        "01:05",
        "62:05",
        "00:00",
    ]


def test_the_carried_transcript_is_attached_one_line_per_segment() -> None:
    assert attachment_text(record(CARRIED)).splitlines() == LINES


def test_the_carried_transcript_wins_over_the_hint() -> None:
    hinted = [{"speaker": "AGENT", "text": "from the hint"}]
    assert attachment_text(record(CARRIED, {"transcript": hinted})).splitlines() == LINES


def test_a_truncated_transcript_says_so_in_the_attachment() -> None:
    lines = attachment_text(record({**CARRIED, "truncated": True})).splitlines()
    assert lines[:3] == LINES
    assert lines[3].startswith("[transcript truncated: only the first 3 segments")


def test_without_a_carried_transcript_the_hint_is_used() -> None:
    hinted = [{"speaker": "CUSTOMER", "text": "hint text"}]
    assert attachment_text(record(None, {"transcript": hinted})) == "CUSTOMER: hint text\n"
    assert attachment_text(record(None, {"transcript": "plain text\n"})) == "plain text\n"


def test_no_transcript_anywhere_means_no_attachment() -> None:
    rec = record(None)
    assert transcript_text(rec) is None
    assert transcript_text(record({"segments": [], "truncated": False})) is None
    [operation] = GmailConnector(gmail_settings("http://gmail.invalid")).map_record(rec)
    raw = operation.payload["raw"]
    message = email.message_from_bytes(
        base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)), policy=email.policy.default
    )
    assert isinstance(message, EmailMessage)
    assert list(message.iter_attachments()) == []


def test_render_segments_skips_non_segments() -> None:
    assert render_segments(["junk", {"text": "x", "start_ms": 1000}]) == "[00:01] UNKNOWN: x\n"
    assert render_segments([]) is None
