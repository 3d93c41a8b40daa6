"""CRM directory entries on the compacted topic ``crm.contacts``
(``schemas/crm/contact.avsc``)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any, ClassVar

from pydantic import AfterValidator, Field

from pipeline.events.base import AvroRecord, E164Number, NonEmptyStr, RecordType, UtcMillis

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _require_email(value: str | None) -> str | None:
    if value is not None and not _EMAIL.match(value):
        raise ValueError("must be an email address like name@example.com")
    return value


class Contact(AvroRecord):
    """Customer directory entry on the compacted topic ``crm.contacts``; key
    ``'<crm>:<record_id>'``, a tombstone (null value) deletes it."""

    avro_name: ClassVar[str] = "io.voicebus.crm.Contact"

    crm: NonEmptyStr = Field(description="salesforce | hubspot | zendesk | servicenow | ...")
    record_id: NonEmptyStr
    record_type: RecordType
    tenant_id: NonEmptyStr
    name: str
    account: str | None = None
    owner: str | None = None
    phone_numbers: list[E164Number] = Field(default_factory=list)
    email: Annotated[str | None, AfterValidator(_require_email)] = None
    updated_at: UtcMillis

    @property
    def key(self) -> str:
        """The Kafka key on ``crm.contacts``."""
        return contact_key(self.crm, self.record_id)

    @classmethod
    def from_avro(cls, record: Mapping[str, Any]) -> Contact:
        return cls.model_validate(dict(record))


def contact_key(crm: str, record_id: str) -> str:
    """``'<crm>:<record_id>'``, the key of a contact on ``crm.contacts``."""
    return f"{crm}:{record_id}"
