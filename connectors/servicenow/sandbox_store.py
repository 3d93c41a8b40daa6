"""In-memory tables of the ServiceNow sandbox (thread-safe: tests read while the server
thread writes).  Records look like the Table API's: 32-hex ``sys_id``, ``number`` (INC0010001,
REQ0010001, KB0010001), ``sys_created_on`` / ``sys_updated_on`` as ``YYYY-MM-DD HH:MM:SS`` UTC,
``sys_created_by`` / ``sys_updated_by``, ``sys_mod_count``; incident ``state`` codes 1 New,
2 In Progress, 6 Resolved, 7 Closed with ``resolved_at`` / ``closed_at``.  Journal fields
(``work_notes``, ``comments``) are appended to a journal and read back empty, as the Table
API does."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

TABLES = ("incident", "sc_request", "kb_knowledge", "sys_user")
NUMBER_PREFIX = {"incident": "INC", "sc_request": "REQ", "kb_knowledge": "KB"}
JOURNAL_FIELDS = ("work_notes", "comments")
STATE_NAMES = {"1": "New", "2": "In Progress", "3": "On Hold", "6": "Resolved", "7": "Closed"}


def glide(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


class TableStore:
    def __init__(self, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.clock = clock
        self.offset = timedelta(0)  # tests move the sandbox's time forward
        self._lock = threading.RLock()
        self.tables: dict[str, dict[str, dict[str, Any]]] = {t: {} for t in TABLES}
        self.journal: dict[str, list[tuple[str, str, str]]] = {}  # sys_id -> (field, by, text)
        self._numbers = dict.fromkeys(NUMBER_PREFIX, 10000)

    def now(self) -> datetime:
        return self.clock() + self.offset

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.offset += timedelta(seconds=seconds)

    # ---- writes ----------------------------------------------------------------------------
    def insert(self, table: str, fields: dict[str, Any], user: str) -> dict[str, Any]:
        with self._lock:
            now = glide(self.now())
            record: dict[str, Any] = {
                "sys_id": uuid.uuid4().hex,
                "sys_created_on": now,
                "sys_created_by": user,
                "sys_updated_on": now,
                "sys_updated_by": user,
                "sys_mod_count": "0",
                "sys_class_name": table,
            }
            if table in NUMBER_PREFIX:
                self._numbers[table] += 1
                record["number"] = f"{NUMBER_PREFIX[table]}{self._numbers[table]:07d}"
            if table == "incident":
                record.update(state="1", opened_at=now, resolved_at="", closed_at="")
            if table == "kb_knowledge":
                record["workflow_state"] = "draft"
            self._write(record, fields, user, now)
            self.tables[table][record["sys_id"]] = record
            return dict(record)

    def update(
        self, table: str, sys_id: str, fields: dict[str, Any], user: str
    ) -> dict[str, Any] | None:
        with self._lock:
            record = self.tables[table].get(sys_id)
            if record is None:
                return None
            now = glide(self.now())
            before = record.get("state")
            self._write(record, fields, user, now)
            record["sys_updated_on"] = now
            record["sys_updated_by"] = user
            record["sys_mod_count"] = str(int(record["sys_mod_count"]) + 1)
            if table == "incident" and record.get("state") != before:
                if record["state"] == "6":
                    record["resolved_at"] = now
                if record["state"] == "7":
                    record["closed_at"] = now
                    record["resolved_at"] = record.get("resolved_at") or now
            return dict(record)

    def _write(self, record: dict[str, Any], fields: dict[str, Any], user: str, now: str) -> None:
        for name, value in fields.items():
            if name.startswith("sys_"):
                continue  # system fields are read-only through the API
            if name in JOURNAL_FIELDS:
                if value:
                    self.journal.setdefault(record["sys_id"], []).append((name, user, str(value)))
                continue
            record[name] = "" if value is None else str(value)

    # ---- reads ----------------------------------------------------------------------------
    def rows(self, table: str) -> list[dict[str, Any]]:
        with self._lock:
            out = []
            for record in self.tables[table].values():
                row = dict(record)
                for name in JOURNAL_FIELDS if table != "sys_user" else ():
                    row[name] = ""
                out.append(row)
            return out

    def get(self, table: str, sys_id: str) -> dict[str, Any] | None:
        with self._lock:
            record = self.tables[table].get(sys_id)
            return dict(record) if record is not None else None

    def notes(self, sys_id: str, field: str = "work_notes") -> list[str]:
        with self._lock:
            return [text for name, _, text in self.journal.get(sys_id, []) if name == field]

    def find(self, table: str, **equals: str) -> list[dict[str, Any]]:
        with self._lock:
            return [
                dict(r)
                for r in self.tables[table].values()
                if all(r.get(k) == v for k, v in equals.items())
            ]
