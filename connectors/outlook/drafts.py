"""Sending an Outlook e-mail through a draft, safely redeliverable.

Replies (``createReply``) and e-mails whose attachments are too big for ``sendMail`` go out in
several Graph calls: create the draft, PATCH it, add the attachments (a POST below 3 MB, an
upload session above), ``POST /messages/{id}/send``.  A redelivery (a retry after an error,
a replay, a restart after a crash) can find that work half done, or done with the answer lost.
The sync ledger cannot tell (it is written only after the send answered), so the mailbox is
the record:

- every e-mail carries a client-chosen ``internetMessageId``, derived from the operation's
  idempotency key (``internet_message_id``).  Graph lets a client set it when a message is
  created and change it while the message is a draft; a reply draft gets it in the
  ``createReply`` call itself, so the draft is findable from its first moment;
- before anything else: ``GET /users/{id}/messages?$filter=internetMessageId eq '<id>'``
  (the whole mailbox: Drafts and Sent Items, also a sent copy someone moved or deleted):

  * a copy that is not a draft -> the e-mail went out; nothing is sent again;
  * a draft -> that draft is finished: PATCHed again (same content), only the attachments it
    lacks (by name; an interrupted upload session leaves none) are added, then sent.  No
    second draft, so crashes do not pile drafts up;
  * nothing -> a new draft.

What remains: Exchange sends asynchronously, so for a moment (seconds) after ``send`` was
accepted the message may still be listed as a draft, or not yet be in Sent Items.  Only a
redelivery that lands inside that moment can act on a stale view; the runtime's retry
backoff makes that unlikely, not impossible.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from connectors.outlook.client import GraphClient

#: message properties a draft is PATCHed with (custom internetMessageHeaders can only be set
#: when a message is created)
DRAFT_FIELDS = ("subject", "body", "toRecipients", "ccRecipients", "bccRecipients")


def internet_message_id(idempotency_key: str, domain: str) -> str:
    """A stable RFC 5322 message id for an operation: the same on every redelivery, distinct
    from the Gmail connector's for the same event (``outlook:`` prefix)."""
    digest = hashlib.sha256(f"outlook:{idempotency_key}".encode()).hexdigest()[:32]
    return f"<{digest}@{domain}>"


@dataclass(frozen=True)
class DraftSend:
    """What happened: the Graph id of the message (draft id, or the sent copy's) and whether
    it had already been sent / a draft was resumed."""

    message_id: str
    already_sent: bool = False
    resumed_draft: bool = False


def already_sent(found: Sequence[Mapping[str, Any]]) -> str | None:
    return next((str(m["id"]) for m in found if m.get("isDraft") is False and "id" in m), None)


async def send_via_draft(
    client: GraphClient,
    *,
    internet_id: str,
    message: Mapping[str, Any],
    attachments: Sequence[Mapping[str, Any]],
    reply_to: str | None = None,
) -> DraftSend:
    """Send ``message`` (+ ``attachments``) as a draft, or as a reply to ``reply_to`` (a Graph
    message id), at most once per ``internet_id`` (see the module doc)."""
    found = await client.find_messages(internet_id)
    sent = already_sent(found)
    if sent is not None:
        return DraftSend(sent, already_sent=True)
    changes = {k: message[k] for k in DRAFT_FIELDS if k in message}
    draft_id = next((str(m["id"]) for m in found if m.get("isDraft") and "id" in m), None)
    resumed = draft_id is not None
    present: set[str] = set()
    if draft_id is not None:
        await client.update_message(draft_id, changes)
        present = await client.attachment_names(draft_id)
    elif reply_to is not None:
        draft_id = await client.create_reply(reply_to, {"internetMessageId": internet_id})
        await client.update_message(draft_id, changes)
    else:
        draft = {k: v for k, v in message.items() if k != "attachments"}
        draft_id = await client.create_draft({**draft, "internetMessageId": internet_id})
    for attachment in attachments:
        if str(attachment["name"]) not in present:
            await client.attach(draft_id, attachment)
    await client.send_draft(draft_id)
    return DraftSend(draft_id, resumed_draft=resumed)
