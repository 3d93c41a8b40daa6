"""State of the Graph sandbox (``connectors.outlook.sandbox``): the mailbox's folders (Sent
Items, Drafts, Inbox), upload sessions and calendar events.

Every message gets an ``internetMessageId``: the client's when it set one (Graph lets a client
choose it on create, and change it while the message is a draft), else one the sandbox
makes up, as Exchange does.  ``find`` answers the ``$filter=internetMessageId eq '...'`` query
per folder.  ``lose_responses`` makes the next sends happen but answer 500, the way a crash or
a lost connection after Exchange accepted the message looks to the client.
"""

from __future__ import annotations

import base64
import email.policy
import itertools
import secrets
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.headerregistry import Address
from email.message import EmailMessage
from typing import Any

SENT_ITEMS = "sentitems"
DRAFTS = "drafts"
INBOX = "inbox"
FOLDERS = (SENT_ITEMS, DRAFTS, INBOX)
NOT_FOUND = (404, "ErrorItemNotFound", "The specified object was not found.")
#: properties a PATCH may change only while the message is a draft
DRAFT_ONLY = frozenset({"body", "internetMessageId", "subject", "toRecipients"})


@dataclass
class SentMail:
    id: str
    user: str
    message: dict[str, Any]
    conversation_id: str
    #: attachments added after creation (POST .../attachments or an upload session)
    added_attachments: list[tuple[str, str, bytes]] = field(default_factory=list)
    #: a copy kept in Sent Items (``saveToSentItems``; drafts always keep theirs)
    saved: bool = True

    def attachments(self) -> list[tuple[str, str, bytes]]:
        inline = [
            (
                str(a["name"]),
                str(a.get("contentType") or "application/octet-stream"),
                base64.b64decode(str(a["contentBytes"])),
            )
            for a in self.message.get("attachments") or []
        ]
        return inline + self.added_attachments

    def mime(self) -> EmailMessage:
        """The message as Exchange would put it on the wire (for tests to parse)."""
        mime = EmailMessage(policy=email.policy.default)
        mime["From"] = self.user
        mime["To"] = ", ".join(
            str(Address(r["emailAddress"].get("name", ""), addr_spec=r["emailAddress"]["address"]))
            for r in self.message.get("toRecipients") or []
        )
        mime["Subject"] = str(self.message.get("subject") or "")
        mime["Message-ID"] = str(self.message.get("internetMessageId") or "")
        for header in self.message.get("internetMessageHeaders") or []:
            mime[str(header["name"])] = str(header["value"])
        body = self.message.get("body") or {"contentType": "Text", "content": ""}
        subtype = "html" if str(body["contentType"]).lower() == "html" else "plain"
        mime.set_content(str(body["content"]), subtype=subtype)
        for name, content_type, data in self.attachments():
            maintype, _, sub = content_type.partition("/")
            mime.add_attachment(
                data, maintype=maintype, subtype=sub or "octet-stream", filename=name
            )
        return mime

    def resource(self, folder: str) -> dict[str, Any]:
        """The Graph ``message`` resource (without attachments) as GET returns it."""
        return {
            **{k: v for k, v in self.message.items() if k != "attachments"},
            "id": self.id,
            "isDraft": folder == DRAFTS,
            "conversationId": self.conversation_id,
            "parentFolderId": folder,
            "hasAttachments": bool(self.attachments()),
        }

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "conversationId": self.conversation_id,
            "message": self.message,
            "mime": self.mime().as_string(),
        }


@dataclass
class UploadSession:
    id: str
    draft_id: str
    name: str
    content_type: str
    size: int
    data: bytearray = field(default_factory=bytearray)
    expires: str = field(
        default_factory=lambda: (datetime.now(UTC) + timedelta(minutes=15)).isoformat()
    )


@dataclass
class GraphState:
    tokens: set[str] = field(default_factory=set)
    drafts: dict[str, SentMail] = field(default_factory=dict)
    inbox: dict[str, SentMail] = field(default_factory=dict)
    sessions: dict[str, UploadSession] = field(default_factory=dict)
    events: dict[str, dict[str, Any]] = field(default_factory=dict)
    by_transaction: dict[str, str] = field(default_factory=dict)
    messages: list[SentMail] = field(default_factory=list)
    #: operation -> how many more calls take effect but answer 500 (``lose_next_responses``)
    lose_responses: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def new_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):06d}{secrets.token_hex(4)}"

    def _stamped(self, message: dict[str, Any]) -> dict[str, Any]:
        stamped = dict(message)
        stamped.setdefault("internetMessageId", f"<{self.new_id('sbx')}@sandbox.outlook.local>")
        return stamped

    def lose_next_responses(self, count: int = 1, operation: str = "send") -> int:
        """The next ``count`` calls of ``operation`` (``send``: sendMail or a draft's send;
        ``createReply``) take effect but answer 500."""
        with self.lock:
            self.lose_responses[operation] = count
        return count

    def response_lost(self, operation: str = "send") -> bool:
        """True (once per count) when the call that just took effect must answer 500."""
        with self.lock:
            left = self.lose_responses.get(operation, 0)
            self.lose_responses[operation] = max(0, left - 1)
            return left > 0

    def send(
        self,
        user: str,
        message: dict[str, Any],
        conversation: str | None = None,
        *,
        saved: bool = True,
    ) -> SentMail:
        with self.lock:
            mail_id = self.new_id("AAMk")
            mail = SentMail(
                mail_id, user, self._stamped(message), conversation or mail_id, saved=saved
            )
            self.messages.append(mail)
            return mail

    def draft(
        self, user: str, message: dict[str, Any], conversation: str | None = None
    ) -> SentMail:
        with self.lock:
            draft_id = self.new_id("AAMkDraft")
            draft = SentMail(draft_id, user, self._stamped(message), conversation or draft_id)
            self.drafts[draft_id] = draft
            return draft

    def create_reply(
        self, user: str, original_id: str, message: dict[str, Any], comment: str
    ) -> SentMail | None:
        """A reply draft: to the original's sender, ``RE: <subject>``, same conversation;
        ``message`` properties override those, ``comment`` becomes the body."""
        with self.lock:
            original = self.inbox.get(original_id)
        if original is None:
            return None
        reply: dict[str, Any] = {
            "subject": f"RE: {original.message['subject']}",
            "toRecipients": [original.message["from"]],
            "body": {"contentType": "Text", "content": comment},
            **message,
        }
        return self.draft(user, reply, conversation=original.conversation_id)

    def update(self, message_id: str, changes: dict[str, Any]) -> SentMail | tuple[int, str, str]:
        with self.lock:
            draft = self.drafts.get(message_id)
            if draft is None:
                if any(m.id == message_id for m in self.messages) and set(changes) & DRAFT_ONLY:
                    return (
                        400,
                        "ErrorInvalidPropertyUpdateSentMessage",
                        "Update operation is invalid for property of a sent message.",
                    )
                return NOT_FOUND
            draft.message.update(changes)
            return draft

    def add_attachment(self, draft_id: str, name: str, content_type: str, data: bytes) -> bool:
        with self.lock:
            draft = self.drafts.get(draft_id)
            if draft is None:
                return False
            draft.added_attachments.append((name, content_type, data))
            return True

    def list_attachments(self, message_id: str) -> list[dict[str, Any]] | None:
        with self.lock:
            mail = self.drafts.get(message_id) or next(
                (m for m in self.messages if m.id == message_id), None
            )
            if mail is None:
                return None
            return [
                {
                    "@odata.type": "#microsoft.graph.fileAttachment",
                    "id": f"{message_id}-att{i}",
                    "name": name,
                    "contentType": content_type,
                    "size": len(data),
                }
                for i, (name, content_type, data) in enumerate(mail.attachments())
            ]

    def find(self, folder: str | None, internet_id: str | None) -> list[dict[str, Any]]:
        """Messages of one folder (or the whole mailbox) with this internetMessageId."""
        with self.lock:
            places = {
                SENT_ITEMS: [m for m in self.messages if m.saved],
                DRAFTS: list(self.drafts.values()),
                INBOX: list(self.inbox.values()),
            }
        return [
            mail.resource(name)
            for name, mails in places.items()
            if folder in (None, name)
            for mail in mails
            if internet_id is None or mail.message.get("internetMessageId") == internet_id
        ]

    def open_session(self, draft_id: str, item: dict[str, Any]) -> UploadSession | None:
        with self.lock:
            if draft_id not in self.drafts:
                return None
            session = UploadSession(
                self.new_id("upl"),
                draft_id,
                str(item["name"]),
                str(item.get("contentType") or "application/octet-stream"),
                int(item["size"]),
            )
            self.sessions[session.id] = session
            return session

    def append_chunk(self, session: UploadSession, data: bytes) -> bool:
        with self.lock:
            session.data.extend(data)
            if len(session.data) < session.size:
                return False
            draft = self.drafts[session.draft_id]
            draft.added_attachments.append(
                (session.name, session.content_type, bytes(session.data))
            )
            del self.sessions[session.id]
            return True

    def send_draft(self, draft_id: str) -> tuple[int, str, str] | None:
        with self.lock:
            draft = self.drafts.pop(draft_id, None)
            if draft is None:
                return NOT_FOUND
            if not draft.message.get("toRecipients"):
                self.drafts[draft_id] = draft
                return 400, "ErrorInvalidRecipients", "At least one recipient is not valid."
            self.messages.append(draft)
            return None

    def receive(self, subject: str = "Question", sender: str = "ada@example.com") -> str:
        with self.lock:
            message_id = self.new_id("AAMkInbox")
            message = {"subject": subject, "from": {"emailAddress": {"address": sender}}}
            self.inbox[message_id] = SentMail(
                message_id, sender, self._stamped(message), message_id
            )
            return message_id

    def reply(self, user: str, message_id: str, body: dict[str, Any]) -> bool:
        """``POST .../reply``: createReply + send in one call."""
        message = dict(body.get("message") or {})
        comment = str(body.get("comment") or "")
        draft = self.create_reply(user, message_id, message, comment)
        if draft is None:
            return False
        return self.send_draft(draft.id) is None

    def add_event(self, user: str, event: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            transaction = event.get("transactionId")
            if transaction and transaction in self.by_transaction:
                return self.events[self.by_transaction[transaction]]
            event_id = self.new_id("AAMkEvt")
            stored = {**event, "id": event_id, "organizer": {"emailAddress": {"address": user}}}
            self.events[event_id] = stored
            if transaction:
                self.by_transaction[str(transaction)] = event_id
            return stored

    def sent(self) -> list[SentMail]:
        with self.lock:
            return list(self.messages)

    def calendar_events(self) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.events.values())
