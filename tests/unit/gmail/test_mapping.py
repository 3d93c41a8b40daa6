"""Gmail mapping: MIME, recipients, calendar ids, operations; bad templates at start-up."""

from __future__ import annotations

import base64
import email
import email.policy
import re
from pathlib import Path

import pytest

from connectors.base.connector import SyncRecord
from connectors.base.errors import DataError
from connectors.base.templates import TemplateError
from connectors.gmail.mapping import INSERT_EVENT, SEND, calendar_event_id
from connectors.gmail.sink import GmailConnector
from tests.integration.gmail.conftest import follow_up_record, gmail_settings


@pytest.fixture
def connector() -> GmailConnector:
    return GmailConnector(gmail_settings("http://gmail.invalid"))


def parse(raw: str) -> email.message.EmailMessage:
    data = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))
    message = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(message, email.message.EmailMessage)
    return message


def test_follow_up_is_one_mime_message_with_transcript(connector: GmailConnector) -> None:
    record = follow_up_record()
    [operation] = connector.map_record(record)
    assert operation.kind == SEND
    assert operation.idempotency_key == f"{record.event['event_id']}:follow_up"
    message = parse(operation.payload["raw"])
    assert message["To"].addresses[0].addr_spec == "ada@example.com"
    assert message["From"].addresses[0].addr_spec == "care@example.com"
    assert re.fullmatch(r"<[0-9a-f]{32}@voicebus\.local>", message["Message-ID"])
    plain = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert record.event["payload"]["summary"] in plain.get_content()
    assert html is not None and "Hi Ada Lovelace" in html.get_content()
    [attachment] = message.iter_attachments()
    assert attachment.get_filename() == f"transcript-{record.event['call_id']}.txt"
    assert "CUSTOMER: I would like a quote, please." in attachment.get_content()
    # mapping is deterministic: a replay maps to the very same message
    assert connector.map_record(record)[0].payload == operation.payload


def test_missing_email_is_a_data_error_naming_the_field(connector: GmailConnector) -> None:
    with pytest.raises(DataError, match=r"customer\.match\.email"):
        connector.map_record(follow_up_record(email=None))
    with pytest.raises(DataError, match="not a valid e-mail"):
        connector.map_record(follow_up_record(email="not-an-address"))


def test_meetings_get_stable_valid_calendar_ids(connector: GmailConnector) -> None:
    record = follow_up_record(meetings=2)
    operations = connector.map_record(record)
    assert [o.kind for o in operations] == [SEND, INSERT_EVENT, INSERT_EVENT]
    ids = [o.payload["event"]["id"] for o in operations[1:]]
    for event_id in ids:
        assert re.fullmatch(r"[a-v0-9]{5,1024}", event_id)
    assert ids[0] != ids[1]
    assert ids[0] == calendar_event_id(record.event["event_id"], 1)  # item index 1 (0 = task)
    event = operations[1].payload["event"]
    assert event["start"] == {"dateTime": "2026-12-01T10:00:00+01:00", "timeZone": "Europe/Berlin"}
    assert {a["email"] for a in event["attendees"]} == {"ada@example.com", "owner@example.com"}


def test_thread_reply_sets_thread_id_and_headers(connector: GmailConnector) -> None:
    base = follow_up_record()
    record = SyncRecord(
        key=base.key,
        event=base.event,
        operation="send_follow_up",
        hints={**base.hints, "thread_id": "18c0abc", "in_reply_to": "<orig@mail.example>"},
    )
    [operation] = connector.map_record(record)
    assert operation.payload["threadId"] == "18c0abc"
    message = parse(operation.payload["raw"])
    assert message["In-Reply-To"] == "<orig@mail.example>"
    assert message["References"] == "<orig@mail.example>"
    assert message["Subject"].startswith("Re: ")


def test_unknown_operation_and_template_hint_are_data_errors(connector: GmailConnector) -> None:
    base = follow_up_record()
    with pytest.raises(DataError, match="unknown operation 'post_summary'"):
        connector.map_record(SyncRecord(key="k", event=base.event, operation="post_summary"))
    with pytest.raises(DataError, match="'nope', which is not loaded"):
        connector.map_record(
            SyncRecord(key="k", event=base.event, operation=None, hints={"template": "nope"})
        )


def test_bad_template_fails_connector_construction(tmp_path: Path) -> None:
    (tmp_path / "call-follow-up.subject.txt").write_text("Hi ${customer_name}")
    (tmp_path / "call-follow-up.body.txt").write_text("Hello\n\n${summery}\n")
    (tmp_path / "meeting.subject.txt").write_text("x")
    (tmp_path / "meeting.body.txt").write_text("y")
    with pytest.raises(TemplateError, match=r"call-follow-up\.body\.txt:3: unknown placeholder"):
        GmailConnector(gmail_settings("http://gmail.invalid", template_dir=tmp_path))
