"""State of one simulated Salesforce org for ``sandbox.py``: records, sessions, grants.

Thread-safe (the sandbox serves from its own thread while tests read and mutate).  Record ids
are real 18-character Salesforce ids (key prefix + 12 characters + the 3-character
case-safety checksum); timestamps use Salesforce's ``2024-05-01T12:00:00.000+0000`` format.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

KEY_PREFIXES = {
    "Account": "001",
    "Contact": "003",
    "Lead": "00Q",
    "Opportunity": "006",
    "Task": "00T",
}
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_CHECKSUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"

#: writable fields per object (standard ones we use + the voicebus custom fields)
FIELDS: dict[str, set[str]] = {
    "Task": {
        "Subject", "Status", "Priority", "TaskSubtype", "Type", "CallType",
        "CallDurationInSeconds", "CallDisposition", "CallObject", "Description", "WhoId",
        "WhatId", "ActivityDate", "OwnerId", "Voicebus_Call_Id__c",
        "Voicebus_Action_Item_Id__c",
    },
    "Contact": {
        "FirstName", "LastName", "Phone", "MobilePhone", "Email", "AccountId", "Description",
        "OwnerId", "Voicebus_Sentiment__c", "Voicebus_Intents__c",
    },
    "Lead": {
        "FirstName", "LastName", "Company", "Phone", "MobilePhone", "Email", "LeadSource",
        "Status", "Description", "OwnerId", "Voicebus_Phone__c", "Voicebus_Sentiment__c",
        "Voicebus_Intents__c",
    },
    "Opportunity": {"Name", "StageName", "CloseDate", "AccountId", "Amount", "Description"},
    "Account": {"Name", "Phone", "Description"},
}  # fmt: skip
SYSTEM_FIELDS = {"Id", "CreatedDate", "LastModifiedDate", "SystemModstamp"}
REQUIRED: dict[str, tuple[str, ...]] = {
    "Contact": ("LastName",),
    "Lead": ("LastName", "Company"),
    "Opportunity": ("Name", "StageName", "CloseDate"),
    "Account": ("Name",),
}
EXTERNAL_IDS: dict[str, set[str]] = {
    "Task": {"Voicebus_Call_Id__c", "Voicebus_Action_Item_Id__c"},
    "Lead": {"Voicebus_Phone__c"},
}
PICKLISTS: dict[tuple[str, str], set[str]] = {
    ("Task", "CallType"): {"Inbound", "Outbound", "Internal"},
    ("Task", "TaskSubtype"): {"Task", "Email", "ListEmail", "Cadence", "Call", "LinkedIn"},
    ("Task", "Status"): {
        "Not Started",
        "In Progress",
        "Completed",
        "Waiting on someone else",
        "Deferred",
    },
    ("Task", "Priority"): {"High", "Normal", "Low"},
}
REFERENCES: dict[tuple[str, str], tuple[str, ...]] = {
    ("Task", "WhoId"): ("Contact", "Lead"),
    ("Task", "WhatId"): ("Opportunity", "Account"),
    ("Contact", "AccountId"): ("Account",),
    ("Opportunity", "AccountId"): ("Account",),
}


def sf_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + (
        f"{moment.microsecond // 1000:03d}+0000"
    )


def parse_sf_time(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%f%z")


def checksum(id15: str) -> str:
    out = ""
    for chunk in range(3):
        bits = 0
        for i, char in enumerate(id15[chunk * 5 : chunk * 5 + 5]):
            if "A" <= char <= "Z":
                bits |= 1 << i
        out += _CHECKSUM[bits]
    return out


def valid_id(value: str) -> bool:
    if len(value) not in (15, 18) or not value.isalnum():
        return False
    return len(value) == 15 or checksum(value[:15]) == value[15:]


class RecordError(Exception):
    """A record-level failure with Salesforce's code and fields."""

    def __init__(self, status: int, code: str, message: str, fields: Iterable[str] = ()):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.fields = list(fields)

    def body(self) -> dict[str, Any]:
        return {"message": self.message, "errorCode": self.code, "fields": self.fields}


ValidationRule = Callable[[str, Mapping[str, Any]], RecordError | None]


@dataclass
class Credentials:
    client_id: str = "3MVG9sandbox-consumer-key"
    client_secret: str = "sandbox-consumer-secret"  # noqa: S105 - the sandbox's fake secret
    username: str = "integration@voicebus.example"
    jwt_public_key_pem: str | None = None
    refresh_tokens: set[str] = field(default_factory=set)


class SalesforceOrg:
    def __init__(
        self,
        credentials: Credentials | None = None,
        *,
        token_ttl_s: float = 7200.0,
        rotate_refresh_tokens: bool = True,
        daily_api_limit: int = 15_000,
        limit_status: int = 429,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.credentials = credentials or Credentials()
        self.token_ttl_s = token_ttl_s
        self.rotate_refresh_tokens = rotate_refresh_tokens
        self.daily_api_limit = daily_api_limit
        self.limit_status = limit_status
        self.now = now
        self.org_id = "00D5g00000SANDBX"
        self.instance_url = "http://127.0.0.1"
        self.login_url = "http://127.0.0.1"
        self.records: dict[str, dict[str, dict[str, Any]]] = {name: {} for name in FIELDS}
        self.validation_rules: list[ValidationRule] = []
        self.api_calls = 0
        self.token_requests: Counter[str] = Counter()
        self.token_failures: Counter[str] = Counter()
        self.sessions: dict[str, float] = {}
        self._counter = 0
        self.lock = threading.RLock()

    # ---- ids and time ------------------------------------------------------------------
    def new_id(self, sobject: str) -> str:
        self._counter += 1
        n, digits = self._counter, ""
        while n:
            n, r = divmod(n, 62)
            digits = _BASE62[r] + digits
        id15 = KEY_PREFIXES[sobject] + "5g" + "0000" + digits.rjust(6, "0")
        return id15 + checksum(id15)

    # ---- sessions ----------------------------------------------------------------------
    def issue_session(self) -> str:
        token = f"{self.org_id}!AQ{secrets.token_urlsafe(24)}"
        with self.lock:
            self.sessions[token] = time.time() + self.token_ttl_s
        return token

    def session_valid(self, token: str) -> bool:
        with self.lock:
            expires = self.sessions.get(token)
            return expires is not None and expires > time.time()

    def expire_tokens(self) -> int:
        """Every issued access token stops working (as if the session timeout passed)."""
        with self.lock:
            count = len(self.sessions)
            self.sessions.clear()
            return count

    def revoke_refresh_tokens(self) -> int:
        """An admin revoked the connected app's OAuth grants (refresh tokens and sessions)."""
        with self.lock:
            count = len(self.credentials.refresh_tokens)
            self.credentials.refresh_tokens.clear()
            self.sessions.clear()
            return count

    # ---- records -----------------------------------------------------------------------
    def _check_fields(self, sobject: str, fields: Mapping[str, Any], *, creating: bool) -> None:
        unknown = [f for f in fields if f not in FIELDS[sobject]]
        if unknown:
            raise RecordError(
                400,
                "INVALID_FIELD",
                f"No such column '{unknown[0]}' on sobject of type {sobject}",
                unknown,
            )
        if creating:
            missing = [f for f in REQUIRED.get(sobject, ()) if fields.get(f) in (None, "")]
            if missing:
                raise RecordError(
                    400,
                    "REQUIRED_FIELD_MISSING",
                    f"Required fields are missing: [{', '.join(missing)}]",
                    missing,
                )
        for (obj, name), allowed in PICKLISTS.items():
            if obj == sobject and name in fields and fields[name] not in allowed:
                raise RecordError(
                    400,
                    "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                    f"{name}: bad value for restricted picklist field",
                    [name],
                )
        for (obj, name), targets in REFERENCES.items():
            value = fields.get(name) if obj == sobject else None
            if value is None:
                continue
            if not isinstance(value, str) or not valid_id(value):
                raise RecordError(
                    400, "MALFORMED_ID", f"{name}: id value of incorrect type", [name]
                )
            if not any(self._find_id(t, value) for t in targets):
                raise RecordError(
                    400,
                    "FIELD_INTEGRITY_EXCEPTION",
                    f"{name}: id value of incorrect type or record does not exist",
                    [name],
                )
        for rule in self.validation_rules:
            error = rule(sobject, fields)
            if error is not None:
                raise error

    def _find_id(self, sobject: str, record_id: str) -> dict[str, Any] | None:
        table = self.records.get(sobject, {})
        return table.get(record_id) or (
            table.get(_to18(record_id)) if len(record_id) == 15 else None
        )

    def insert(
        self, sobject: str, fields: Mapping[str, Any], *, modified: datetime | None = None
    ) -> str:
        with self.lock:
            self._check_fields(sobject, fields, creating=True)
            record_id = self.new_id(sobject)
            stamp = sf_time(modified or self.now())
            self.records[sobject][record_id] = {
                **dict(fields), "Id": record_id, "CreatedDate": stamp,
                "LastModifiedDate": stamp, "SystemModstamp": stamp,
            }  # fmt: skip
            return record_id

    def update(
        self,
        sobject: str,
        record_id: str,
        fields: Mapping[str, Any],
        *,
        since: datetime | None = None,
    ) -> None:
        with self.lock:
            record = self._find_id(sobject, record_id)
            if record is None:
                raise RecordError(404, "NOT_FOUND", "The requested resource does not exist")
            if since is not None and parse_sf_time(record["LastModifiedDate"]) > since:
                raise RecordError(
                    412,
                    "PRECONDITION_FAILED",
                    "The requested resource has been modified since the specified date",
                )
            self._check_fields(sobject, fields, creating=False)
            record.update(fields)
            stamp = sf_time(self.now())
            record["LastModifiedDate"] = record["SystemModstamp"] = stamp

    def find_by(self, sobject: str, name: str, value: Any) -> list[dict[str, Any]]:
        with self.lock:
            return [dict(r) for r in self.records[sobject].values() if r.get(name) == value]

    def get(self, sobject: str, record_id: str) -> dict[str, Any] | None:
        with self.lock:
            record = self._find_id(sobject, record_id)
            return dict(record) if record is not None else None

    def all(self, sobject: str) -> list[dict[str, Any]]:
        with self.lock:
            return [dict(r) for r in self.records[sobject].values()]

    def upsert(
        self,
        sobject: str,
        name: str,
        value: str,
        fields: Mapping[str, Any],
        *,
        since: datetime | None = None,
    ) -> tuple[str, bool]:
        """(id, created).  Raises RecordError(300) listing the matches when not unique."""
        with self.lock:
            if name not in EXTERNAL_IDS.get(sobject, set()):
                raise RecordError(
                    404,
                    "NOT_FOUND",
                    f"Provided external ID field does not exist or is not accessible: {name}",
                )
            if name in fields and fields[name] != value:
                raise RecordError(
                    400, "INVALID_FIELD", f"{name} in the body differs from the URL", [name]
                )
            matches = [r for r in self.records[sobject].values() if r.get(name) == value]
            if len(matches) > 1:
                raise RecordError(300, "MULTIPLE_CHOICES", ",".join(r["Id"] for r in matches))
            if not matches:
                return self.insert(sobject, {**dict(fields), name: value}), True
            self.update(sobject, matches[0]["Id"], fields, since=since)
            return matches[0]["Id"], False

    def edit_behind_our_back(self, sobject: str, record_id: str, **fields: Any) -> str:
        """A person edits the record now: fields change and LastModifiedDate moves on."""
        self.update(sobject, record_id, fields)
        record = self.get(sobject, record_id)
        assert record is not None
        return str(record["LastModifiedDate"])

    def count_api_call(self) -> tuple[int, bool]:
        """(calls so far, over the daily limit?)."""
        with self.lock:
            self.api_calls += 1
            return self.api_calls, self.api_calls > self.daily_api_limit


def _to18(id15: str) -> str:
    return id15 + checksum(id15)
