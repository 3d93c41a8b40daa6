"""A local ServiceNow instance for tests and the demo (aiohttp, on ``connectors.base.sandbox``).

Serves what voicebus uses: the Table API (``/api/now/table/<table>[/<sys_id>]``: GET with
``sysparm_query`` / ``_limit`` / ``_offset`` / ``_fields`` / ``_display_value``, POST, PATCH,
PUT) on in-memory ``incident``, ``sc_request``, ``kb_knowledge`` and ``sys_user`` tables
(``sandbox_store``), encoded queries (``sandbox_query``), and ``/oauth_token.do`` (password,
client_credentials and refresh_token grants; tokens expire).  Every API request needs basic
auth or a bearer token (401 in ServiceNow's shape otherwise) and is validated against the Table
API spec (``sandbox_spec``; 400 in ServiceNow's shape on mismatch).  429s carry ``Retry-After``
and ``X-RateLimit-Limit/-Remaining/-Reset`` (epoch).  Mutations (``/_sandbox/mutate/<name>``):
``add_user``, ``touch`` (a person edits a record behind our back), ``set_state`` (resolve or
close an incident), ``advance_clock``, ``deny`` (ACL: refuse a table to the integration user),
``expire_tokens``; ``GET /_sandbox/records/<table>`` lists a table with its work notes.

Run standalone: ``python -m connectors.servicenow.sandbox --port 8098 --user voicebus:secret``.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import json
import secrets
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from connectors.base.sandbox import ADMIN_PREFIX, install_controls, run_main
from connectors.servicenow.sandbox_query import QueryError
from connectors.servicenow.sandbox_query import parse as parse_query
from connectors.servicenow.sandbox_spec import SpecValidator
from connectors.servicenow.sandbox_store import STATE_NAMES, TABLES, TableStore

RATE_LIMIT_PER_HOUR = 5000


def sn_error(status: int, message: str, detail: str = "", headers: Any = None) -> web.Response:
    """ServiceNow's error body: ``{"error": {"message", "detail"}, "status": "failure"}``."""
    return web.json_response(
        {"error": {"message": message, "detail": detail}, "status": "failure"},
        status=status,
        headers=headers,
    )


def injected_error(status: int, retry_after: float | None) -> web.Response:
    if status == 429:
        wait = retry_after if retry_after is not None else 1.0
        headers = {
            "Retry-After": f"{wait:g}",
            "X-RateLimit-Limit": str(RATE_LIMIT_PER_HOUR),
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": str(int(time.time() + wait)),
        }
        return sn_error(429, "Too Many Requests", "Rate limit exceeded for this user", headers)
    if status == 401:
        return sn_error(401, "User Not Authenticated", "Required to provide Auth information")
    if status == 403:
        return sn_error(403, "User Not Authorized", "ACL restricts the operation")
    extra = {"Retry-After": f"{retry_after:g}"} if retry_after is not None else None
    return sn_error(status, f"sandbox injected HTTP {status}", "", extra)


@dataclass
class Instance:
    """The sandbox's state besides the tables: credentials, tokens, ACL denials."""

    store: TableStore
    users: dict[str, str]  # user name -> password
    clients: dict[str, tuple[str, str | None]]  # client id -> (secret, run-as user)
    token_ttl_s: int = 1800
    validator: SpecValidator = field(default_factory=SpecValidator)
    tokens: dict[str, tuple[str, float]] = field(default_factory=dict)  # access -> (user, exp)
    refresh_tokens: dict[str, tuple[str, str]] = field(default_factory=dict)  # -> (user, client)
    denied: set[tuple[str, str]] = field(default_factory=set)  # (user, table)
    token_grants: list[str] = field(default_factory=list)
    queries: list[tuple[str, str]] = field(default_factory=list)  # (table, sysparm_query)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def issue(self, user: str, client_id: str, with_refresh: bool) -> dict[str, Any]:
        access = secrets.token_urlsafe(24)
        with self.lock:
            self.tokens[access] = (user, time.time() + self.token_ttl_s)
            body: dict[str, Any] = {
                "access_token": access,
                "scope": "useraccount",
                "token_type": "Bearer",
                "expires_in": self.token_ttl_s,
            }
            if with_refresh:
                refresh = secrets.token_urlsafe(24)
                self.refresh_tokens[refresh] = (user, client_id)
                body["refresh_token"] = refresh
        return body

    def expire_tokens(self) -> None:
        with self.lock:
            self.tokens = {k: (u, 0.0) for k, (u, _) in self.tokens.items()}

    def user_of(self, request: web.Request) -> str | None:
        header = request.headers.get("Authorization", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "basic":
            try:
                name, _, password = base64.b64decode(value).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                return None
            ok = name in self.users and secrets.compare_digest(self.users[name], password)
            return name if ok else None
        if scheme.lower() == "bearer":
            with self.lock:
                entry = self.tokens.get(value)
            if entry is not None and entry[1] > time.time():
                return entry[0]
        return None


INSTANCE: web.AppKey[Instance] = web.AppKey("voicebus_servicenow_instance", Instance)


def _oauth_error(code: str, description: str, status: int = 401) -> web.Response:
    return web.json_response({"error": code, "error_description": description}, status=status)


async def oauth_token(request: web.Request) -> web.Response:
    inst = request.app[INSTANCE]
    form = await request.post()
    grant = str(form.get("grant_type", ""))
    client_id, client_secret = str(form.get("client_id", "")), str(form.get("client_secret", ""))
    client = inst.clients.get(client_id)
    if client is None or not secrets.compare_digest(client[0], client_secret):
        return _oauth_error("invalid_client", "access_denied")
    inst.token_grants.append(grant)
    if grant == "password":
        user, password = str(form.get("username", "")), str(form.get("password", ""))
        if user not in inst.users or not secrets.compare_digest(inst.users[user], password):
            return _oauth_error("invalid_grant", "access_denied")
        return web.json_response(inst.issue(user, client_id, with_refresh=True))
    if grant == "client_credentials":
        if client[1] is None:
            return _oauth_error("unauthorized_client", "client credentials not enabled", 400)
        return web.json_response(inst.issue(client[1], client_id, with_refresh=False))
    if grant == "refresh_token":
        with inst.lock:
            entry = inst.refresh_tokens.get(str(form.get("refresh_token", "")))
        if entry is None or entry[1] != client_id:
            return _oauth_error("invalid_grant", "access_denied")
        return web.json_response(inst.issue(entry[0], client_id, with_refresh=False))
    return _oauth_error("unsupported_grant_type", "unsupported grant", 400)


def _shape(record: dict[str, Any], fields: list[str], display: str) -> dict[str, Any]:
    out = {k: record.get(k, "") for k in fields} if fields else dict(record)
    if display in ("true", "all") and "state" in out:
        name = STATE_NAMES.get(str(out["state"]), str(out["state"]))
        out["state"] = name if display == "true" else {"value": out["state"], "display_value": name}
    return out


async def table_api(request: web.Request) -> web.Response:
    inst = request.app[INSTANCE]
    user = inst.user_of(request)
    if user is None:
        return sn_error(401, "User Not Authenticated", "Required to provide Auth information")
    body: Any = None
    if request.method in ("POST", "PUT", "PATCH"):
        try:
            body = json.loads(await request.read() or b"null")
        except ValueError:
            return sn_error(400, "Exception while reading request", "The payload is not JSON")
    problem = inst.validator.check(request.method, request.path, dict(request.query), body)
    if problem is not None:
        return sn_error(400, "Invalid request", problem)
    table = request.match_info["table"]
    if table not in TABLES:
        return sn_error(400, f"Invalid table {table}", "")
    if (user, table) in inst.denied:
        return sn_error(403, "User Not Authorized", "ACL restricts the operation")
    sys_id = request.match_info.get("sys_id")
    fields = [f for f in request.query.get("sysparm_fields", "").split(",") if f]
    display = request.query.get("sysparm_display_value", "false")
    store = inst.store
    if request.method == "GET" and sys_id is None:
        raw_query = request.query.get("sysparm_query", "")
        inst.queries.append((table, raw_query))
        try:
            query = parse_query(raw_query)
        except QueryError as exc:
            return sn_error(400, "Invalid query", str(exc))
        rows = query.apply(store.rows(table))
        offset = int(request.query.get("sysparm_offset", "0"))
        limit = int(request.query.get("sysparm_limit", "10000"))
        page = [_shape(dict(r), fields, display) for r in rows[offset : offset + limit]]
        return web.json_response({"result": page}, headers={"X-Total-Count": str(len(rows))})
    if request.method == "POST" and sys_id is None:
        created = store.insert(table, dict(body), user)
        return web.json_response({"result": _shape(created, fields, display)}, status=201)
    if sys_id is None:
        return sn_error(405, "Method not Supported", "")
    if request.method == "GET":
        record = store.get(table, sys_id)
    elif request.method in ("PATCH", "PUT"):
        record = store.update(table, sys_id, dict(body), user)
    else:
        return sn_error(405, "Method not Supported", "")
    if record is None:
        return sn_error(
            404, "No Record found", "Record doesn't exist or ACL restricts the record retrieval"
        )
    return web.json_response({"result": _shape(record, fields, display)})


def make_app(
    *,
    users: dict[str, str] | None = None,
    clients: dict[str, tuple[str, str | None]] | None = None,
    token_ttl_s: int = 1800,
    validator: SpecValidator | None = None,
) -> web.Application:
    """``users``: name -> password (basic auth / password grant); ``clients``: OAuth client
    id -> (secret, user client-credential tokens run as, or None)."""
    inst = Instance(
        store=TableStore(),
        users=dict(users or {}),
        clients=dict(clients or {}),
        token_ttl_s=token_ttl_s,
        validator=validator or SpecValidator(),
    )
    app = web.Application()
    app[INSTANCE] = inst
    controls = install_controls(app, injected_error)
    store = inst.store

    def add_user(email: str = "", phone: str = "", name: str = "", mobile_phone: str = "") -> str:
        return str(
            store.insert(
                "sys_user",
                {"email": email, "phone": phone, "mobile_phone": mobile_phone, "name": name},
                "admin",
            )["sys_id"]
        )

    def touch(
        table: str, sys_id: str, fields: dict[str, Any] | None = None, user: str = "jane.agent"
    ) -> dict[str, Any] | None:
        return store.update(table, sys_id, dict(fields or {}), user)

    def set_state(sys_id: str, state: str, user: str = "jane.agent") -> dict[str, Any] | None:
        extra = {"close_code": "Solved (Permanently)", "close_notes": "Fixed"}
        return store.update("incident", sys_id, {"state": str(state), **extra}, user)

    def deny(table: str, user: str) -> None:
        inst.denied.add((user, table))

    controls.register_mutation("add_user", add_user)
    controls.register_mutation("touch", touch)
    controls.register_mutation("set_state", set_state)
    controls.register_mutation("advance_clock", lambda seconds: store.advance(float(seconds)))
    controls.register_mutation("deny", deny)
    controls.register_mutation("expire_tokens", inst.expire_tokens)

    app.router.add_post("/oauth_token.do", oauth_token)
    app.router.add_route("*", "/api/now/table/{table}", table_api)
    app.router.add_route("*", "/api/now/table/{table}/{sys_id}", table_api)

    async def records(request: web.Request) -> web.Response:
        table = request.match_info["table"]
        if table not in TABLES:
            raise web.HTTPNotFound(text=f"no table {table}")
        rows = store.rows(table)
        for row in rows:
            if table != "sys_user":
                row["work_notes"] = store.notes(row["sys_id"])
        return web.json_response({"result": rows})

    app.router.add_get(ADMIN_PREFIX + "records/{table}", records)

    async def unknown(_request: web.Request) -> web.Response:
        return sn_error(400, "Requested URI does not represent any resource", "")

    app.router.add_route("*", "/api/{tail:.*}", unknown)
    return app


def instance_of(app: web.Application) -> Instance:
    return app[INSTANCE]


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--user", action="append", default=[], help="name:password")
    parser.add_argument("--client", action="append", default=[], help="id:secret[:run_as]")


def _app_from_args(args: argparse.Namespace) -> web.Application:
    users = dict(u.split(":", 1) for u in args.user) or {"voicebus": "voicebus"}
    clients: dict[str, tuple[str, str | None]] = {}
    for spec in args.client:
        parts = spec.split(":")
        clients[parts[0]] = (parts[1], parts[2] if len(parts) > 2 else None)
    return make_app(users=users, clients=clients)


def main(argv: Sequence[str] | None = None) -> None:
    run_main(
        _app_from_args,
        description="voicebus ServiceNow sandbox",
        argv=argv,
        add_arguments=_add_arguments,
    )


if __name__ == "__main__":
    main()
