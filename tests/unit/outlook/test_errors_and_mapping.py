"""Graph error bodies -> error classes; Outlook mapping (inline vs upload session, reply,
events with transactionId); bad templates at start-up."""

from __future__ import annotations

import base64
from pathlib import Path

import httpx
import pytest

from connectors.base.connector import SyncRecord
from connectors.base.errors import (
    AuthError,
    DataError,
    PermanentError,
    RetryableError,
    ThrottledError,
)
from connectors.base.templates import TemplateError
from connectors.outlook.errors import classify_response
from connectors.outlook.mapping import (
    CREATE_EVENT,
    REPLY,
    SEND_LARGE,
    SEND_MAIL,
    transaction_id,
)
from connectors.outlook.sink import OutlookConnector
from tests.integration.gmail.conftest import follow_up_record
from tests.integration.outlook.conftest import outlook_settings


def graph(status: int, code: str, headers=None) -> httpx.Response:
    body = {"error": {"code": code, "message": "bad ada@example.com", "innerError": {}}}
    return httpx.Response(status, json=body, headers=headers or {})


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        (graph(429, "TooManyRequests", {"Retry-After": "3"}), ThrottledError),
        (graph(503, "ServiceNotAvailable", {"Retry-After": "4"}), ThrottledError),
        (graph(503, "ServiceNotAvailable"), RetryableError),
        (graph(500, "generalException"), RetryableError),
        (graph(401, "InvalidAuthenticationToken"), AuthError),
        (graph(400, "ErrorInvalidRecipients"), DataError),
        (graph(400, "BadRequest"), PermanentError),
        (graph(403, "ErrorAccessDenied"), PermanentError),
        (graph(404, "ErrorItemNotFound"), PermanentError),
    ],
)
def test_classification(response: httpx.Response, expected: type) -> None:
    error = classify_response(response, "sendMail")
    assert type(error) is expected
    assert "ada@example.com" not in error.message
    if isinstance(error, ThrottledError):
        assert error.retry_after == float(response.headers["Retry-After"])


@pytest.fixture
def connector() -> OutlookConnector:
    return OutlookConnector(outlook_settings("http://graph.invalid"))


def test_follow_up_goes_inline_with_transcript(connector: OutlookConnector) -> None:
    record = follow_up_record(meetings=1)
    mail, event = connector.map_record(record)
    assert mail.kind == SEND_MAIL and event.kind == CREATE_EVENT
    message = mail.payload["body"]["message"]
    assert mail.payload["body"]["saveToSentItems"] is True
    assert message["toRecipients"] == [
        {"emailAddress": {"address": "ada@example.com", "name": "Ada Lovelace"}}
    ]
    [attachment] = message["attachments"]
    assert attachment["@odata.type"] == "#microsoft.graph.fileAttachment"
    assert attachment["name"] == f"transcript-{record.event['call_id']}.txt"
    assert b"CUSTOMER: I would like a quote" in base64.b64decode(attachment["contentBytes"])
    assert event.payload["event"]["transactionId"] == transaction_id(record.event["event_id"], 1)
    assert event.payload["event"]["start"] == {
        "dateTime": "2026-12-01T10:00:00",
        "timeZone": "Europe/Berlin",
    }


def test_large_attachments_use_an_upload_session() -> None:
    connector = OutlookConnector(
        outlook_settings("http://graph.invalid", upload_session_threshold_bytes=50)
    )
    [operation] = connector.map_record(follow_up_record())
    assert operation.kind == SEND_LARGE
    assert "attachments" not in operation.payload["message"]
    assert len(operation.payload["attachments"]) == 1


def test_reply_hint_sends_a_reply(connector: OutlookConnector) -> None:
    base = follow_up_record()
    record = SyncRecord(
        key=base.key,
        event=base.event,
        operation="send_follow_up",
        hints={**base.hints, "reply_to_message_id": "AAMkInbox1"},
    )
    [operation] = connector.map_record(record)
    assert operation.kind == REPLY
    assert operation.payload["message_id"] == "AAMkInbox1"


def test_missing_email_is_a_data_error(connector: OutlookConnector) -> None:
    with pytest.raises(DataError, match=r"customer\.match\.email"):
        connector.map_record(follow_up_record(email=None))


def test_bad_template_fails_connector_construction(tmp_path: Path) -> None:
    (tmp_path / "call-follow-up.subject.txt").write_text("Hi")
    (tmp_path / "call-follow-up.body.txt").write_text("Hello")
    (tmp_path / "meeting.subject.txt").write_text("${item_description} at $time")
    (tmp_path / "meeting.body.txt").write_text("y")
    with pytest.raises(
        TemplateError, match=r"meeting\.subject\.txt:1: unknown placeholder \$\{time\}"
    ):
        OutlookConnector(outlook_settings("http://graph.invalid", template_dir=tmp_path))
