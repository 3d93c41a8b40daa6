"""State of the HubSpot sandbox: CRM objects, unique properties, associations, tokens and
rate-limit windows.  Thread-safe: tests read it while the server thread writes."""

from __future__ import annotations

import itertools
import secrets
import threading
import time
from collections import deque
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

TYPE_ALIASES = {
    "contacts": "contacts", "contact": "contacts", "0-1": "contacts",
    "calls": "calls", "call": "calls", "0-48": "calls",
    "tasks": "tasks", "task": "tasks", "0-27": "tasks",
    "deals": "deals", "deal": "deals", "0-3": "deals",
    "notes": "notes", "0-46": "notes",
}  # fmt: skip
COMMON = {"hs_object_id", "hubspot_owner_id", "hs_createdate", "hs_lastmodifieddate"}
DEFAULT_PROPERTIES: dict[str, set[str]] = {
    "contacts": {"email", "firstname", "lastname", "phone", "mobilephone", "company",
                 "lifecyclestage", "createdate", "lastmodifieddate"},
    "calls": {"hs_timestamp", "hs_call_title", "hs_call_body", "hs_call_duration",
              "hs_call_direction", "hs_call_disposition", "hs_call_from_number",
              "hs_call_to_number", "hs_call_recording_url", "hs_call_status",
              "hs_call_callee_object_id", "hs_call_callee_object_type"},
    "tasks": {"hs_timestamp", "hs_task_subject", "hs_task_body", "hs_task_status",
              "hs_task_priority", "hs_task_type"},
    "deals": {"dealname", "dealstage", "pipeline", "amount", "closedate", "createdate"},
    "notes": {"hs_timestamp", "hs_note_body"},
}  # fmt: skip
ENUMS: dict[tuple[str, str], set[str]] = {
    ("calls", "hs_call_direction"): {"INBOUND", "OUTBOUND"},
    ("calls", "hs_call_status"): {"BUSY", "CALLING_CRM_USER", "CANCELED", "COMPLETED",
                                  "CONNECTING", "FAILED", "IN_PROGRESS", "MISSED",
                                  "NO_ANSWER", "QUEUED", "RINGING"},
    ("tasks", "hs_task_status"): {"NOT_STARTED", "IN_PROGRESS", "WAITING", "COMPLETED",
                                  "DEFERRED"},
    ("tasks", "hs_task_priority"): {"NONE", "LOW", "MEDIUM", "HIGH"},
    ("tasks", "hs_task_type"): {"CALL", "EMAIL", "TODO", "LINKED_IN"},
    ("deals", "dealstage"): {"appointmentscheduled", "qualifiedtobuy", "presentationscheduled",
                             "decisionmakerboughtin", "contractsent", "closedwon", "closedlost"},
}  # fmt: skip
#: HubSpot-defined default association type ids, (from, to) -> id
ASSOCIATION_TYPES = {
    ("calls", "contacts"): 194, ("contacts", "calls"): 193,
    ("calls", "deals"): 206, ("deals", "calls"): 205,
    ("tasks", "contacts"): 204, ("contacts", "tasks"): 203,
    ("tasks", "deals"): 216, ("deals", "tasks"): 215,
    ("notes", "contacts"): 202, ("deals", "contacts"): 3, ("contacts", "deals"): 4,
}  # fmt: skip
TYPE_BY_ASSOCIATION = {type_id: pair for pair, type_id in ASSOCIATION_TYPES.items()}


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class HubSpotStore:
    def __init__(
        self,
        custom_properties: Mapping[str, Iterable[str]] | None = None,
        unique_properties: Mapping[str, Iterable[str]] | None = None,
    ) -> None:
        self.lock = threading.RLock()
        self._ids = itertools.count(10_001)
        self.objects: dict[str, dict[str, dict[str, Any]]] = {t: {} for t in DEFAULT_PROPERTIES}
        self.properties = {t: set(p) | COMMON for t, p in DEFAULT_PROPERTIES.items()}
        for object_type, names in (custom_properties or {}).items():
            self.properties[object_type].update(names)
        self.unique = {t: set(names) for t, names in (unique_properties or {}).items()}
        for object_type, names in self.unique.items():
            self.properties[object_type].update(names)
        self.associations: set[tuple[str, str, str, str, int]] = set()
        self.failing: dict[tuple[str, str], tuple[int, str]] = {}

    # ---- objects -----------------------------------------------------------------------
    def create(
        self, object_type: str, properties: Mapping[str, str], *, at: str | None = None
    ) -> dict[str, Any]:
        """``at`` backdates the record (tests seed records that existed before a call)."""
        with self.lock:
            object_id = str(next(self._ids))
            stamp = at or now_iso()
            props = {
                **{k: str(v) for k, v in properties.items()},
                "hs_object_id": object_id,
                "hs_createdate": stamp,
                "hs_lastmodifieddate": stamp,
            }
            if object_type == "contacts":
                props.update(createdate=stamp, lastmodifieddate=stamp)
            record = {
                "id": object_id,
                "properties": props,
                "createdAt": stamp,
                "updatedAt": stamp,
                "archived": False,
            }
            self.objects[object_type][object_id] = record
            return record

    def update(self, object_type: str, object_id: str, properties: Mapping[str, str]) -> dict:
        with self.lock:
            record = self.objects[object_type][object_id]
            stamp = now_iso()
            record["properties"].update({k: str(v) for k, v in properties.items()})
            record["properties"]["hs_lastmodifieddate"] = stamp
            if object_type == "contacts":  # contacts' documented modified-date property
                record["properties"]["lastmodifieddate"] = stamp
            record["updatedAt"] = stamp
            return record

    def get(self, object_type: str, object_id: str) -> dict[str, Any] | None:
        with self.lock:
            return self.objects.get(object_type, {}).get(str(object_id))

    def delete(self, object_type: str, object_id: str) -> bool:
        with self.lock:
            gone = self.objects[object_type].pop(str(object_id), None) is not None
            self.associations = {
                a for a in self.associations
                if not ((a[0] == object_type and a[1] == object_id)
                        or (a[2] == object_type and a[3] == object_id))
            }  # fmt: skip
            return gone

    def find(self, object_type: str, prop: str, value: str) -> list[dict[str, Any]]:
        with self.lock:
            return [r for r in self.objects[object_type].values()
                    if r["properties"].get(prop) == value]  # fmt: skip

    def all(self, object_type: str) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.objects[object_type].values())

    def property_problems(self, object_type: str, properties: Mapping[str, Any]) -> list[dict]:
        """HubSpot's per-property validation: unknown property, value not an option."""
        problems = []
        for name, value in properties.items():
            if name not in self.properties[object_type]:
                problems.append(
                    {
                        "message": f'Property "{name}" does not exist',
                        "code": "PROPERTY_DOESNT_EXIST",
                        "context": {"propertyName": [name]},
                    }
                )
                continue
            options = ENUMS.get((object_type, name))
            if options is not None and value not in options:
                problems.append(
                    {
                        "message": f"{value!r} was not one of the allowed options",
                        "code": "INVALID_OPTION",
                        "context": {"propertyName": [name]},
                    }
                )
            if name == "hs_timestamp" and not _is_time(str(value)):
                problems.append(
                    {
                        "message": "hs_timestamp is not a valid date-time",
                        "code": "INVALID_DATE",
                        "context": {"propertyName": [name]},
                    }
                )
        return problems

    # ---- associations ------------------------------------------------------------------
    def associate(self, from_type: str, from_id: str, to_type: str, to_id: str) -> int | None:
        """The association type id, or None when either side does not exist."""
        with self.lock:
            type_id = ASSOCIATION_TYPES.get((from_type, to_type))
            if type_id is None or self.get(from_type, from_id) is None:
                return None
            if self.get(to_type, to_id) is None:
                return None
            self.associations.add((from_type, from_id, to_type, to_id, type_id))
            inverse = ASSOCIATION_TYPES.get((to_type, from_type))
            if inverse is not None:
                self.associations.add((to_type, to_id, from_type, from_id, inverse))
            return type_id

    def associated(self, from_type: str, from_id: str, to_type: str) -> list[str]:
        with self.lock:
            return sorted(
                {
                    a[3]
                    for a in self.associations
                    if a[0] == from_type and a[1] == str(from_id) and a[2] == to_type
                }
            )

    # ---- search ------------------------------------------------------------------------
    def search(self, object_type: str, groups: list[dict[str, Any]]) -> list[dict[str, Any]]:
        with self.lock:
            records = sorted(self.objects[object_type].values(), key=lambda r: int(r["id"]))
            if not groups:
                return records
            return [
                r
                for r in records
                if any(all(_matches(r, f) for f in g.get("filters", [])) for g in groups)
            ]


def _matches(record: Mapping[str, Any], flt: Mapping[str, Any]) -> bool:
    name = flt.get("propertyName")
    value = record["properties"].get(name) if name != "id" else record["id"]
    operator = flt.get("operator")
    if operator == "EQ":
        return value is not None and str(value) == str(flt.get("value"))
    if operator == "NEQ":
        return value is None or str(value) != str(flt.get("value"))
    if operator == "IN":
        return value is not None and str(value) in [str(v) for v in flt.get("values") or []]
    if operator == "NOT_IN":
        return value is None or str(value) not in [str(v) for v in flt.get("values") or []]
    if operator == "HAS_PROPERTY":
        return value not in (None, "")
    if operator == "NOT_HAS_PROPERTY":
        return value in (None, "")
    return False


def _is_time(value: str) -> bool:
    if value.isdigit():
        return True
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


class TokenStore:
    """Private-app tokens, OAuth clients, expiring access tokens and (rotating) refresh
    tokens."""

    def __init__(
        self,
        private_tokens: Iterable[str] = (),
        access_ttl_s: float = 1800.0,
        rotate_refresh_tokens: bool = True,
    ) -> None:
        self.lock = threading.Lock()
        self.private_tokens = set(private_tokens)
        self.clients: dict[str, str] = {}
        self.refresh_tokens: dict[str, str] = {}
        self.access_tokens: dict[str, float] = {}
        self.access_ttl_s = access_ttl_s
        self.rotate = rotate_refresh_tokens
        self.grants = 0

    def add_client(self, client_id: str, client_secret: str, refresh_token: str) -> None:
        with self.lock:
            self.clients[client_id] = client_secret
            self.refresh_tokens[refresh_token] = client_id

    def check(self, token: str | None) -> tuple[str, str] | None:
        """None when the token is good, else (category, message)."""
        if not token:
            return (
                "INVALID_AUTHENTICATION",
                "Authentication credentials not found. This API "
                "supports OAuth 2.0 authentication and you can find more details at "
                "https://developers.hubspot.com/docs/methods/auth/oauth-overview",
            )
        with self.lock:
            if token in self.private_tokens:
                return None
            expires = self.access_tokens.get(token)
        if expires is None:
            return (
                "INVALID_AUTHENTICATION",
                "Authentication credentials not found. This API "
                "supports OAuth 2.0 authentication and you can find more details at "
                "https://developers.hubspot.com/docs/methods/auth/oauth-overview",
            )
        ago = time.time() - expires
        if ago >= 0:
            return (
                "EXPIRED_AUTHENTICATION",
                f"The OAuth token used to make this call expired {int(ago)} second(s) ago.",
            )
        return None

    def grant(self, form: Mapping[str, str]) -> tuple[int, dict[str, Any]]:
        with self.lock:
            client_id = form.get("client_id", "")
            if form.get("grant_type") != "refresh_token":
                return 400, {
                    "status": "unsupported_grant_type",
                    "message": "grant_type must be refresh_token",
                }
            if self.clients.get(client_id) != form.get("client_secret"):
                return 400, {"status": "BAD_CLIENT_ID", "message": "missing or unknown client id"}
            refresh = form.get("refresh_token", "")
            if self.refresh_tokens.get(refresh) != client_id:
                return 400, {
                    "status": "BAD_REFRESH_TOKEN",
                    "message": "missing or unknown refresh token",
                }
            if self.rotate:
                del self.refresh_tokens[refresh]
                refresh = secrets.token_hex(16)
                self.refresh_tokens[refresh] = client_id
            access = "sandbox-access-" + secrets.token_hex(16)
            self.access_tokens[access] = time.time() + self.access_ttl_s
            self.grants += 1
            return 200, {
                "token_type": "bearer",
                "access_token": access,
                "refresh_token": refresh,
                "expires_in": int(self.access_ttl_s),
            }

    def expire_access_tokens(self) -> None:
        with self.lock:
            self.access_tokens = dict.fromkeys(self.access_tokens, time.time() - 1)

    def revoke_refresh_tokens(self) -> None:
        with self.lock:
            self.refresh_tokens.clear()


class RateLimiter:
    """HubSpot's windows: per second (optional), rolling 10 s, daily; search per second."""

    def __init__(
        self,
        secondly: int | None = None,
        ten_secondly: int | None = 190,
        daily: int | None = 500_000,
        search_per_s: int | None = 4,
    ) -> None:
        self.lock = threading.Lock()
        self.configure(secondly, ten_secondly, daily, search_per_s)

    def configure(
        self,
        secondly: int | None,
        ten_secondly: int | None,
        daily: int | None,
        search_per_s: int | None,
    ) -> None:
        with self.lock:
            self.secondly, self.ten_secondly = secondly, ten_secondly
            self.daily, self.search_per_s = daily, search_per_s
            self._second: deque[float] = deque()
            self._ten: deque[float] = deque()
            self._search: deque[float] = deque()
            self.daily_used = 0
            self.rejected: dict[str, int] = {}

    def admit(self, search: bool) -> str | None:
        """Count a request; the policy it broke (and was refused for), or None."""
        now = time.monotonic()
        with self.lock:
            for window, span in ((self._second, 1.0), (self._ten, 10.0), (self._search, 1.0)):
                while window and now - window[0] >= span:
                    window.popleft()
            policy = None
            if self.daily is not None and self.daily_used >= self.daily:
                policy = "DAILY"
            elif self.secondly is not None and len(self._second) >= self.secondly:
                policy = "SECONDLY"
            elif self.ten_secondly is not None and len(self._ten) >= self.ten_secondly:
                policy = "TEN_SECONDLY_ROLLING"
            elif (
                search and self.search_per_s is not None and len(self._search) >= self.search_per_s
            ):
                policy = "SECONDLY"
            if policy is not None:
                self.rejected[policy] = self.rejected.get(policy, 0) + 1
                return policy
            self._second.append(now)
            self._ten.append(now)
            if search:
                self._search.append(now)
            self.daily_used += 1
            return None

    def headers(self) -> dict[str, str]:
        with self.lock:
            big = 1_000_000
            ten = self.ten_secondly if self.ten_secondly is not None else big
            sec = self.secondly if self.secondly is not None else big
            daily = self.daily if self.daily is not None else big * 100
            return {
                "X-HubSpot-RateLimit-Daily": str(daily),
                "X-HubSpot-RateLimit-Daily-Remaining": str(max(0, daily - self.daily_used)),
                "X-HubSpot-RateLimit-Interval-Milliseconds": "10000",
                "X-HubSpot-RateLimit-Max": str(ten),
                "X-HubSpot-RateLimit-Remaining": str(max(0, ten - len(self._ten))),
                "X-HubSpot-RateLimit-Secondly": str(sec),
                "X-HubSpot-RateLimit-Secondly-Remaining": str(max(0, sec - len(self._second))),
            }
