"""A local HubSpot: the CRM v3 object, v4 association and OAuth endpoints voicebus uses,
with HubSpot's auth, error bodies, rate-limit headers and 429s.

- Objects (contacts, calls, tasks, deals, notes) with numeric string ids, createdAt/updatedAt;
  unique properties (``voicebus_call_id`` on calls, ``voicebus_task_id`` on tasks by
  default) enforced on upsert (update instead of a copy) and create (409 CONFLICT).
- Every request is checked against HubSpot's published OpenAPI specs (path, method, body:
  ``sandbox_spec``) and its properties against the portal's property list and options;
  mismatches answer 400 VALIDATION_ERROR like HubSpot.
- Auth: private-app tokens, OAuth refresh-token grant (``/oauth/v1/token``) with expiring
  access tokens and rotating refresh tokens; anything else is 401 INVALID_AUTHENTICATION.
- Rate limits: ``X-HubSpot-RateLimit-*`` headers on every response; over a window -> 429
  ``{"errorType": "RATE_LIMIT", "policyName": ...}``; search has its own per-second limit.
- Shared knobs (``/_sandbox/``: fail, throttle, latency, counts per path) plus mutations:
  ``add_object``, ``set_property``, ``delete_object``, ``fail_inputs`` (207 errors for given
  ids), ``set_limits``, ``expire_tokens``, ``revoke_tokens``.

Run standalone: ``python -m connectors.hubspot.sandbox --port 8098 --token pat-local``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from connectors.base.sandbox import ADMIN_PREFIX, install_controls, run_main
from connectors.hubspot.sandbox_handlers import (
    HubSpotSandbox,
    hubspot_error,
    injected_error,
    object_type_of,
    rate_limit_response,
)
from connectors.hubspot.sandbox_spec import SpecValidator
from connectors.hubspot.sandbox_store import HubSpotStore, RateLimiter, TokenStore

TOKEN_PATHS = ("/oauth/v1/token", "/oauth/v3/token")
NOT_FOUND = "Object not found. objectId are usually numeric."


@dataclass
class HubSpotState:
    store: HubSpotStore
    tokens: TokenStore
    limits: RateLimiter
    spec: SpecValidator


STATE: web.AppKey[HubSpotState] = web.AppKey("hubspot_state", HubSpotState)

_V3 = r"^/crm/v3/objects/(?P<type>[^/]+)"
ROUTES: list[tuple[str, re.Pattern[str], str]] = [
    ("POST", re.compile(_V3 + r"/batch/upsert$"), "upsert"),
    ("POST", re.compile(_V3 + r"/batch/create$"), "create_batch"),
    ("POST", re.compile(_V3 + r"/batch/update$"), "update_batch"),
    ("POST", re.compile(_V3 + r"/search$"), "search"),
    ("POST", re.compile(_V3 + r"$"), "create_one"),
    ("GET", re.compile(_V3 + r"/(?P<id>[^/]+)$"), "get_one"),
    ("PATCH", re.compile(_V3 + r"/(?P<id>[^/]+)$"), "patch_one"),
    ("DELETE", re.compile(_V3 + r"/(?P<id>[^/]+)$"), "delete_one"),
    (
        "POST",
        re.compile(
            r"^/crm/v4/associations/(?P<type>[^/]+)/(?P<to>[^/]+)"
            r"/batch/associate/default$"
        ),
        "associate_batch",
    ),
    (
        "PUT",
        re.compile(
            r"^/crm/v4/objects/(?P<type>[^/]+)/(?P<id>[^/]+)/associations/default"
            r"/(?P<to>[^/]+)/(?P<to_id>[^/]+)$"
        ),
        "associate_one",
    ),
    (
        "GET",
        re.compile(
            r"^/crm/v4/objects/(?P<type>[^/]+)/(?P<id>[^/]+)/associations"
            r"/(?P<to>[^/]+)$"
        ),
        "list_associations",
    ),
]


def spec_path(path: str) -> str:
    """The path as the published specs spell it (deals as 0-3, OAuth v3)."""
    if path in TOKEN_PATHS:
        return "/oauth/v3/token"
    return re.sub(r"^/crm/v3/objects/deals(?=/|$)", "/crm/v3/objects/0-3", path)


def make_app(
    *,
    private_tokens: Sequence[str] = ("pat-sandbox",),
    oauth_clients: Mapping[str, tuple[str, str]] | None = None,
    access_ttl_s: float = 1800.0,
    rotate_refresh_tokens: bool = True,
    secondly: int | None = None,
    ten_secondly: int | None = 190,
    daily: int | None = 500_000,
    search_per_s: int | None = 4,
    call_id_property: str = "voicebus_call_id",
    task_id_property: str = "voicebus_task_id",
    contact_properties: Sequence[str] = (
        "voicebus_last_call_sentiment",
        "voicebus_last_call_intents",
    ),
    spec_dir: Path | None = None,
) -> web.Application:
    """``oauth_clients``: client_id -> (client_secret, initial refresh token)."""
    store = HubSpotStore(
        custom_properties={"contacts": contact_properties},
        unique_properties={"calls": [call_id_property], "tasks": [task_id_property]},
    )
    tokens = TokenStore(private_tokens, access_ttl_s, rotate_refresh_tokens)
    for client_id, (secret, refresh) in (oauth_clients or {}).items():
        tokens.add_client(client_id, secret, refresh)
    limits = RateLimiter(secondly, ten_secondly, daily, search_per_s)
    state = HubSpotState(store, tokens, limits, SpecValidator(spec_dir))
    handlers = HubSpotSandbox(store, tokens)
    app = web.Application()
    app[STATE] = state
    controls = install_controls(app, injected_error)
    _register_mutations(controls, state)

    async def add_headers(request: web.Request, response: web.StreamResponse) -> None:
        if not request.path.startswith(ADMIN_PREFIX):
            for name, value in limits.headers().items():
                response.headers.setdefault(name, value)

    app.on_response_prepare.append(add_headers)

    async def serve(request: web.Request) -> web.StreamResponse:
        return await _serve(request, state, handlers)

    async def objects(request: web.Request) -> web.Response:
        """``GET /_sandbox/objects/<type>[?property=..&value=..]``: records with their
        associations (``associations: {to_type: [ids]}``), for tests and the demo."""
        object_type = object_type_of(request.match_info["type"])
        if object_type is None:
            raise web.HTTPNotFound(text="unknown object type")
        prop, value = request.query.get("property"), request.query.get("value")
        records = store.find(object_type, prop, value or "") if prop else store.all(object_type)
        out = [
            {
                **r,
                "associations": {
                    t: store.associated(object_type, r["id"], t)
                    for t in ("contacts", "deals", "calls", "tasks")
                },
            }
            for r in records
        ]
        return web.json_response({"results": out, "rate_limited": dict(limits.rejected)})

    app.router.add_get(ADMIN_PREFIX + "objects/{type}", objects)

    app.router.add_route("*", "/{tail:.*}", serve)
    return app


async def _serve(
    request: web.Request, state: HubSpotState, handlers: HubSpotSandbox
) -> web.StreamResponse:
    path, method = request.path, request.method
    if path in TOKEN_PATHS and method == "POST":
        form = {k: str(v) for k, v in (await request.post()).items()}
        route = state.spec.route("POST", spec_path(path)) if state.spec.enabled else None
        problems = state.spec.body_errors(route, form) if route is not None else []
        if problems:
            return hubspot_error(400, "; ".join(problems), "VALIDATION_ERROR")
        status, grant = state.tokens.grant(form)
        return web.json_response(grant, status=status)
    auth = request.headers.get("Authorization", "")
    token = auth[7:].strip() if auth.lower().startswith("bearer ") else None
    if (refused := state.tokens.check(token)) is not None:
        return hubspot_error(401, refused[1], refused[0])
    if (policy := state.limits.admit(search=path.endswith("/search"))) is not None:
        return rate_limit_response(policy)
    body: Any = None
    if method in ("POST", "PUT", "PATCH") and request.can_read_body:
        try:
            body = json.loads(await request.read())
        except ValueError:
            return hubspot_error(
                400, "Invalid input JSON: the body is not JSON", "VALIDATION_ERROR"
            )
    if state.spec.enabled:
        route = state.spec.route(method, spec_path(path))
        if route is None:
            return hubspot_error(404, f"No route for {method} {path}", "OBJECT_NOT_FOUND")
        if route.body_pointer is not None and body is None:
            return hubspot_error(400, "Invalid input JSON: a body is required", "VALIDATION_ERROR")
        if problems := state.spec.body_errors(route, body):
            return hubspot_error(
                400,
                "Invalid input JSON: " + "; ".join(problems),
                "VALIDATION_ERROR",
                context={"schemaErrors": problems},
            )
    for route_method, pattern, name in ROUTES:
        match = pattern.match(path) if route_method == method else None
        if match is None:
            continue
        params = match.groupdict()
        object_type = object_type_of(params["type"])
        if object_type is None:
            return hubspot_error(
                400, f"Unable to infer object type from: {params['type']}", "VALIDATION_ERROR"
            )
        return await _dispatch(name, request, handlers, object_type, params, body)
    return hubspot_error(404, f"No route for {method} {path}", "OBJECT_NOT_FOUND")


async def _dispatch(
    name: str,
    request: web.Request,
    h: HubSpotSandbox,
    object_type: str,
    params: dict[str, str],
    body: Any,
) -> web.StreamResponse:
    store = h.store
    if name in ("upsert", "create_batch", "update_batch", "search"):
        handler = getattr(h, name)
        response: web.StreamResponse = await handler(request, object_type, body or {})
        return response
    if name == "create_one":
        return await h.create_batch(request, object_type, {"inputs": [body]})
    if name in ("associate_batch", "associate_one", "list_associations"):
        to_type = object_type_of(params["to"])
        if to_type is None:
            return hubspot_error(
                400, f"Unable to infer object type from: {params['to']}", "VALIDATION_ERROR"
            )
        if name == "associate_batch":
            return await h.associate_batch(request, object_type, to_type, body or {})
        if name == "associate_one":
            one = {"inputs": [{"from": {"id": params["id"]}, "to": {"id": params["to_id"]}}]}
            return await h.associate_batch(request, object_type, to_type, one)
        ids = store.associated(object_type, params["id"], to_type)
        return web.json_response(
            {"results": [{"toObjectId": int(i), "associationTypes": []} for i in ids]}
        )
    record = store.get(object_type, params["id"])
    if record is None:
        return hubspot_error(404, NOT_FOUND, "OBJECT_NOT_FOUND")
    if name == "delete_one":
        store.delete(object_type, params["id"])
        return web.Response(status=204)
    if name == "patch_one":
        props = (body or {}).get("properties") or {}
        problems = store.property_problems(object_type, props)
        if problems:
            return hubspot_error(
                400,
                f"Property values were not valid: {problems}",
                "VALIDATION_ERROR",
                errors=problems,
            )
        record = store.update(object_type, params["id"], props)
    return web.json_response(
        {k: record[k] for k in ("id", "properties", "createdAt", "updatedAt", "archived")}
    )


def _register_mutations(controls: Any, state: HubSpotState) -> None:
    store = state.store

    def add_object(object_type: str, properties: dict[str, str], at: str | None = None) -> str:
        kind = object_type_of(object_type) or object_type
        return str(store.create(kind, properties, at=at)["id"])

    def set_property(object_type: str, object_id: str, name: str, value: str) -> str:
        """A person's edit "behind our back": bumps the modified dates; answers the new one."""
        kind = object_type_of(object_type) or object_type
        return str(store.update(kind, str(object_id), {name: value})["updatedAt"])

    def delete_object(object_type: str, object_id: str) -> bool:
        return store.delete(object_type_of(object_type) or object_type, str(object_id))

    def fail_inputs(
        object_type: str, keys: list[str], status: int = 400, category: str = "VALIDATION_ERROR"
    ) -> None:
        with store.lock:
            for key in keys:
                store.failing[(object_type_of(object_type) or object_type, str(key))] = (
                    status,
                    category,
                )

    def set_limits(
        secondly: int | None = None,
        ten_secondly: int | None = 190,
        daily: int | None = 500_000,
        search_per_s: int | None = 4,
    ) -> None:
        state.limits.configure(secondly, ten_secondly, daily, search_per_s)

    controls.register_mutation("add_object", add_object)
    controls.register_mutation("set_property", set_property)
    controls.register_mutation("delete_object", delete_object)
    controls.register_mutation("fail_inputs", fail_inputs)
    controls.register_mutation("set_limits", set_limits)
    controls.register_mutation("expire_tokens", state.tokens.expire_access_tokens)
    controls.register_mutation("revoke_tokens", state.tokens.revoke_refresh_tokens)


def state_of(app: web.Application) -> HubSpotState:
    return app[STATE]


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--token", action="append", default=[], help="private-app token")
    parser.add_argument("--secondly", type=int, default=None, help="requests/s before 429")


def _app_from_args(args: argparse.Namespace) -> web.Application:
    tokens = list(args.token) or [
        t for t in [os.environ.get("VOICEBUS_HUBSPOT_ACCESS_TOKEN", "")] if t
    ]
    if not tokens:
        raise SystemExit("give --token pat-... or set VOICEBUS_HUBSPOT_ACCESS_TOKEN")
    return make_app(private_tokens=tokens, secondly=args.secondly)


def main(argv: Sequence[str] | None = None) -> None:
    run_main(
        _app_from_args,
        description="voicebus HubSpot sandbox",
        argv=argv,
        add_arguments=_add_arguments,
    )


if __name__ == "__main__":
    main()
