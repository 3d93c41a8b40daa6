"""A Zendesk Support sandbox: the /api/v2 ticket, user, search and job endpoints voicebus
uses, with Zendesk's auth, error bodies, Idempotency-Key, safe_update, async jobs and
rate-limit headers.

- Auth: API token (basic ``{email}/token:{token}``) or OAuth bearer; anything else ->
  401 ``{"error": "Couldn't authenticate you"}``.
- Every request is checked against the published spec (``sandbox_spec``): unknown
  path/method -> 404/405 ``InvalidEndpoint``; body schema mismatch -> 400 ``InvalidValue``
  (and recorded in ``violations`` so tests can fail on it).
- ``POST /tickets`` with ``Idempotency-Key``: same key + same body -> the same answer and
  ``x-idempotency-lookup: hit``; same key + other body -> 400 ``IdempotentRequestError``.
- ``safe_update`` + ``updated_stamp`` older than the ticket's ``updated_at`` -> 409
  ``UpdateConflict``.
- ``create_many`` / ``update_many`` -> ``job_status`` (queued) completing after
  ``job_delay_s``, per-item results ``{index, id, success, error, details}``.
- ``X-Rate-Limit``/``X-Rate-Limit-Remaining`` and ``ratelimit-*`` headers on every answer; over
  ``rate_per_minute`` -> 429 + ``Retry-After``.
- Mutations (``controls.mutate`` / ``POST /_sandbox/mutate/<name>``): ``change_ticket``
  ``{ticket_id, status?, priority?, ...}`` (an agent's edit: bumps updated_at),
  ``seed_ticket {external_id}``.

Run standalone: ``python -m connectors.zendesk.sandbox --port 8098 --email a@b.c --token t``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import re
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from aiohttp import web

from connectors.base.sandbox import ADMIN_PREFIX, install_controls, run_main
from connectors.zendesk.sandbox_spec import SpecValidator, SpecViolation
from connectors.zendesk.sandbox_state import RecordInvalid, StaleUpdate, ZendeskState

STATE: web.AppKey[ZendeskState] = web.AppKey("voicebus_zendesk_state", ZendeskState)
BODY: web.RequestKey[Any] = web.RequestKey("voicebus_zendesk_body", object)
CONFLICT_TEXT = (
    "Safe Update prevented the update due to outdated ticket data. Please fetch the latest "
    "ticket data and try again."
)
_EXTERNAL_ID = re.compile(r'external_id:(?:"((?:[^"\\]|\\.)*)"|(\S+))')


def zendesk_error(status: int, retry_after: float | None) -> web.Response:
    """Zendesk-shaped bodies for injected faults (``connectors.base.sandbox``)."""
    bodies = {
        401: {"error": "Couldn't authenticate you"},
        403: {"error": "Forbidden", "description": "You do not have access to this page."},
        404: {"error": "RecordNotFound", "description": "Not found"},
        429: {"error": "APIRateLimitExceeded", "description": "Rate limit exceeded"},
    }
    body = bodies.get(status) or {
        "error": "BadRequest" if status < 500 else "ServiceUnavailable",
        "description": f"sandbox injected HTTP {status}",
    }
    headers = {"Retry-After": f"{retry_after:g}"} if retry_after is not None else {}
    return web.json_response(body, status=status, headers=headers)


def _error(status: int, code: str, description: str, details: Any = None) -> web.Response:
    body: dict[str, Any] = {"error": code, "description": description}
    if details is not None:
        body["details"] = details
    return web.json_response(body, status=status)


def _invalid(exc: RecordInvalid) -> web.Response:
    return _error(422, "RecordInvalid", "Record validation errors", exc.details)


class ZendeskSandbox:
    """Settings + counters of one sandbox app."""

    def __init__(
        self,
        *,
        email: str,
        api_token: str,
        oauth_token: str | None,
        rate_per_minute: int,
        job_delay_s: float,
    ) -> None:
        raw = f"{email}/token:{api_token}".encode()
        self.accepted = {"Basic " + base64.b64encode(raw).decode()}
        if oauth_token:
            self.accepted.add(f"Bearer {oauth_token}")
        self.rate_per_minute = rate_per_minute
        self.job_delay_s = job_delay_s
        self.window: list[float] = []
        self.calls: Counter[str] = Counter()  # "METHOD /template"
        self.violations: list[str] = []


SANDBOX: web.AppKey[ZendeskSandbox] = web.AppKey("voicebus_zendesk_sandbox", ZendeskSandbox)


def make_app(
    *,
    email: str = "agent@example.com",
    api_token: str = "sandbox-token",  # noqa: S107 - a sandbox default, not a real secret
    oauth_token: str | None = None,
    rate_per_minute: int = 700,
    job_delay_s: float = 0.02,
    spec: SpecValidator | None = None,
) -> web.Application:
    state = ZendeskState()
    box = ZendeskSandbox(
        email=email,
        api_token=api_token,
        oauth_token=oauth_token,
        rate_per_minute=rate_per_minute,
        job_delay_s=job_delay_s,
    )
    validator = spec or SpecValidator()
    app = web.Application()
    app[STATE] = state
    app[SANDBOX] = box
    controls = install_controls(app, zendesk_error)
    controls.register_mutation("change_ticket", state.change_behind_our_back)
    controls.register_mutation("seed_ticket", state.seed_ticket)

    Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

    @web.middleware
    async def zendesk(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith(ADMIN_PREFIX):
            return await handler(request)
        if request.headers.get("Authorization") not in box.accepted:
            return web.json_response({"error": "Couldn't authenticate you"}, status=401)
        now = time.monotonic()
        box.window = [t for t in box.window if now - t < 60.0]
        reset = int(60 - (now - box.window[0])) + 1 if box.window else 60
        if len(box.window) >= box.rate_per_minute:
            response: web.StreamResponse = _error(
                429, "APIRateLimitExceeded", "Number of allowed API requests per minute exceeded"
            )
            response.headers["Retry-After"] = str(reset)
        else:
            box.window.append(now)
            response = await _validated(request, handler)
        remaining = max(0, box.rate_per_minute - len(box.window))
        response.headers["X-Rate-Limit"] = str(box.rate_per_minute)
        response.headers["X-Rate-Limit-Remaining"] = str(remaining)
        response.headers["ratelimit-limit"] = str(box.rate_per_minute)
        response.headers["ratelimit-remaining"] = str(remaining)
        response.headers["ratelimit-reset"] = str(reset)
        return response

    async def _validated(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            template = validator.template_for(request.method, request.path)
            body: Any = None
            if request.can_read_body:
                try:
                    body = await request.json()
                except ValueError:
                    raise SpecViolation(400, "InvalidValue", "body is not JSON") from None
                validator.check_body(request.method, template, body)
        except SpecViolation as exc:
            box.violations.append(f"{request.method} {request.path}: {exc.description}")
            details = {exc.field: [{"description": exc.description}]} if exc.field else None
            return _error(exc.status, exc.code, exc.description, details)
        box.calls[f"{request.method} {template}"] += 1
        request[BODY] = body
        return await handler(request)

    app.middlewares.append(zendesk)

    def ticket_id(request: web.Request) -> int:
        try:
            return int(request.match_info["ticket_id"].removesuffix(".json"))
        except ValueError:
            raise web.HTTPNotFound() from None

    async def list_tickets(request: web.Request) -> web.Response:
        external_id = request.query.get("external_id")
        with state.lock:
            tickets = (
                state.find_by_external_id(external_id)
                if external_id is not None
                else [state.public_ticket(t) for t in state.tickets.values()]
            )
        return web.json_response({"tickets": tickets, "count": len(tickets), "next_page": None})

    async def search(request: web.Request) -> web.Response:
        query = request.query.get("query", "")
        match = _EXTERNAL_ID.search(query)
        if "type:ticket" not in query or match is None:
            return web.json_response({"results": [], "count": 0, "next_page": None})
        value = match.group(1) if match.group(1) is not None else match.group(2)
        value = re.sub(r"\\(.)", r"\1", value)
        results = [t | {"result_type": "ticket"} for t in state.find_by_external_id(value)]
        return web.json_response({"results": results, "count": len(results), "next_page": None})

    async def create_ticket(request: web.Request) -> web.Response:
        body = request[BODY]
        key = request.headers.get("Idempotency-Key")
        fingerprint = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
        if key:
            stored = state.idempotent(key, fingerprint)
            if stored == "mismatch":
                return _error(
                    400,
                    "IdempotentRequestError",
                    "Request parameters do not match the original request for this key",
                )
            if isinstance(stored, tuple):
                return web.json_response(
                    stored[1], status=stored[0], headers={"x-idempotency-lookup": "hit"}
                )
        try:
            ticket = state.create_ticket(body["ticket"])
        except RecordInvalid as exc:
            return _invalid(exc)
        answer = {"ticket": ticket}
        headers = {"Location": ticket["url"]}
        if key:
            state.remember(key, fingerprint, 201, answer)
            headers["x-idempotency-lookup"] = "miss"
        return web.json_response(answer, status=201, headers=headers)

    async def show_ticket(request: web.Request) -> web.Response:
        with state.lock:
            ticket = state.tickets.get(ticket_id(request))
            if ticket is None:
                return _error(404, "RecordNotFound", "Not found")
            return web.json_response({"ticket": state.public_ticket(ticket)})

    async def update_ticket(request: web.Request) -> web.Response:
        try:
            ticket = state.update_ticket(ticket_id(request), request[BODY]["ticket"])
        except LookupError:
            return _error(404, "RecordNotFound", "Not found")
        except StaleUpdate:
            return _error(409, "UpdateConflict", CONFLICT_TEXT)
        except RecordInvalid as exc:
            return _invalid(exc)
        return web.json_response({"ticket": ticket, "audit": {"ticket_id": ticket["id"]}})

    async def comments(request: web.Request) -> web.Response:
        try:
            found = state.comments(ticket_id(request))
        except KeyError:
            return _error(404, "RecordNotFound", "Not found")
        return web.json_response({"comments": found, "count": len(found), "next_page": None})

    async def create_or_update_user(request: web.Request) -> web.Response:
        try:
            user, created = state.upsert_user(request[BODY]["user"])
        except RecordInvalid as exc:
            return _invalid(exc)
        return web.json_response({"user": user}, status=201 if created else 200)

    def new_job(total: int, work: Callable[[], list[dict[str, Any]]], base: str) -> dict:
        job_id = uuid.uuid4().hex
        job = {
            "id": job_id,
            "url": f"{base}/api/v2/job_statuses/{job_id}.json",
            "status": "queued",
            "total": total,
            "progress": 0,
            "results": None,
            "message": None,
        }
        state.jobs[job_id] = job

        def run() -> None:
            results = work()
            job.update(
                status="completed",
                progress=total,
                results=results,
                message=f"Completed at {time.strftime('%Y-%m-%d %H:%M:%S')}",
            )

        asyncio.get_running_loop().call_later(box.job_delay_s, run)
        job["status"] = "working" if box.job_delay_s <= 0 else "queued"
        return {"job_status": dict(job)}

    async def create_many(request: web.Request) -> web.Response:
        tickets = request[BODY]["tickets"]

        def work() -> list[dict[str, Any]]:
            results: list[dict[str, Any]] = []
            for index, data in enumerate(tickets):
                try:
                    ticket = state.create_ticket(data)
                except RecordInvalid as exc:
                    results.append(
                        {
                            "index": index,
                            "success": False,
                            "error": "RecordInvalid",
                            "details": exc.details,
                        }
                    )
                else:
                    results.append(
                        {
                            "index": index,
                            "id": ticket["id"],
                            "success": True,
                            "action": "create",
                            "status": "Created",
                        }
                    )
            return results

        return web.json_response(new_job(len(tickets), work, _base(request)))

    async def update_many(request: web.Request) -> web.Response:
        tickets = request[BODY]["tickets"]

        def work() -> list[dict[str, Any]]:
            results: list[dict[str, Any]] = []
            for index, data in enumerate(tickets):
                item: dict[str, Any] = {"index": index, "id": data["id"], "action": "update"}
                try:
                    state.update_ticket(int(data["id"]), data)
                except LookupError:
                    item |= {"success": False, "error": "RecordNotFound", "details": "Not found"}
                except StaleUpdate:
                    item |= {"success": False, "error": "UpdateConflict", "details": CONFLICT_TEXT}
                except RecordInvalid as exc:
                    item |= {"success": False, "error": "RecordInvalid", "details": exc.details}
                else:
                    item |= {"success": True, "status": "Updated"}
                results.append(item)
            return results

        return web.json_response(new_job(len(tickets), work, _base(request)))

    async def job_status(request: web.Request) -> web.Response:
        job = state.jobs.get(request.match_info["job_id"].removesuffix(".json"))
        if job is None:
            return _error(404, "RecordNotFound", "Not found")
        return web.json_response({"job_status": dict(job)})

    api = "/api/v2"
    app.router.add_get(api + "/tickets", list_tickets)
    app.router.add_post(api + "/tickets", create_ticket)
    app.router.add_post(api + "/tickets/create_many", create_many)
    app.router.add_put(api + "/tickets/update_many", update_many)
    app.router.add_get(api + "/tickets/{ticket_id}", show_ticket)
    app.router.add_put(api + "/tickets/{ticket_id}", update_ticket)
    app.router.add_get(api + "/tickets/{ticket_id}/comments", comments)
    app.router.add_get(api + "/search", search)
    app.router.add_post(api + "/users/create_or_update", create_or_update_user)
    app.router.add_get(api + "/job_statuses/{job_id}", job_status)
    return app


def _base(request: web.Request) -> str:
    return f"{request.scheme}://{request.host}"


def state_of(app: web.Application) -> ZendeskState:
    return app[STATE]


def sandbox_of(app: web.Application) -> ZendeskSandbox:
    return app[SANDBOX]


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--email", default="agent@example.com")
    parser.add_argument("--token", default="sandbox-token", help="API token to accept")
    parser.add_argument("--oauth-token", default=None, help="OAuth bearer token to accept")
    parser.add_argument("--rate-per-minute", type=int, default=700)


def _app_from_args(args: argparse.Namespace) -> web.Application:
    return make_app(
        email=args.email,
        api_token=args.token,
        oauth_token=args.oauth_token,
        rate_per_minute=args.rate_per_minute,
    )


def main(argv: Sequence[str] | None = None) -> None:
    run_main(
        _app_from_args,
        description="voicebus Zendesk Support sandbox",
        argv=argv,
        add_arguments=_add_arguments,
    )


if __name__ == "__main__":
    main()
