"""A local Salesforce that behaves like the real one for what voicebus uses.

- OAuth 2.0 token endpoint ``POST /services/oauth2/token``: client_credentials, refresh_token
  (with rotation; a revoked or unknown refresh token -> 400 ``invalid_grant`` "expired
  access/refresh token") and the JWT bearer grant (RS256 assertion verified with the configured
  public key; ``iss`` = consumer key, ``sub`` = user, ``aud`` = login URL, ``exp`` <= 3 min).
  Responses look like Salesforce's (``instance_url``, ``issued_at``, no ``expires_in``).
- REST API under ``/services/data/vNN.0``: bearer sessions that expire (401
  ``INVALID_SESSION_ID``), ``Sforce-Limit-Info: api-usage=N/M`` on every response, 403
  ``REQUEST_LIMIT_EXCEEDED`` past the daily limit, every request checked against the specs
  (``sandbox_spec``), upsert by external id (201/200/300), update with ``If-Unmodified-Since``
  (412), read, SOQL ``/query`` (``sandbox_soql``, escapes honoured, ``MALFORMED_QUERY``) and
  sObject Collections upsert; field, picklist, reference and required-field checks with
  Salesforce's error bodies (``sandbox_state``).
- Shared knobs (``connectors.base.sandbox``): fail / throttle / rate-limit (429 with
  Retry-After, or 403 ``REQUEST_LIMIT_EXCEEDED`` when ``limit_status=403``) / latency, plus the
  mutations ``expire_tokens``, ``revoke_refresh_tokens``, ``insert_record`` and ``edit_record``.

Real Salesforce issues tokens on the login host and serves the API on the org's instance host;
``SalesforceSandbox`` runs the two as separate servers over one org, so API call counts hold
API calls only.  ``python -m connectors.salesforce.sandbox --port 8098`` serves both on one port.
"""

from __future__ import annotations

import argparse
import email.utils
import json
import os
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any

from aiohttp import web

from connectors.base.sandbox import CONTROLS, SandboxServer, install_controls, run_main
from connectors.salesforce.sandbox_oauth import ORG, token_endpoint
from connectors.salesforce.sandbox_soql import SoqlError, parse
from connectors.salesforce.sandbox_spec import SpecValidator
from connectors.salesforce.sandbox_state import (
    FIELDS,
    SYSTEM_FIELDS,
    Credentials,
    RecordError,
    SalesforceOrg,
)
from pipeline.subprocesses import StartStopContext

DATA_PREFIX = "/services/data/"
SPEC: web.AppKey[SpecValidator | None] = web.AppKey("voicebus_salesforce_spec")


def _errors(status: int, code: str, message: str, fields: Sequence[str] = ()) -> web.Response:
    body = [{"message": message, "errorCode": code, "fields": list(fields)}]
    return web.json_response(body, status=status)


def error_factory(org: SalesforceOrg) -> Callable[[int, float | None], web.Response]:
    """Injected faults in Salesforce's shapes."""

    def make(status: int, retry_after: float | None) -> web.Response:
        headers = {"Retry-After": f"{retry_after:g}"} if retry_after is not None else {}
        if status == 429 and org.limit_status == 403:
            return web.json_response(
                [{"message": "ConcurrentPerOrgLongTxn Limit exceeded.",
                  "errorCode": "REQUEST_LIMIT_EXCEEDED"}],
                status=403,
            )  # fmt: skip
        code, message = {
            401: ("INVALID_SESSION_ID", "Session expired or invalid"),
            429: ("REQUEST_LIMIT_EXCEEDED", "Too many requests"),
            500: ("UNKNOWN_EXCEPTION", "An unexpected error occurred"),
            503: ("SERVER_UNAVAILABLE", "Server temporarily unavailable"),
        }.get(status, ("INVALID_OPERATION", f"sandbox injected HTTP {status}"))
        body = [{"message": message, "errorCode": code}]
        return web.json_response(body, status=status, headers=headers)

    return make


# ---- REST API -----------------------------------------------------------------------------
def _record_json(
    org: SalesforceOrg, sobject: str, record: dict[str, Any], fields: Sequence[str] | None
) -> dict[str, Any]:
    version = "v60.0"
    out: dict[str, Any] = {
        "attributes": {
            "type": sobject,
            "url": f"{DATA_PREFIX}{version}/sobjects/{sobject}/{record['Id']}",
        }
    }
    names = fields if fields else ["Id", *sorted(FIELDS[sobject]), *sorted(SYSTEM_FIELDS - {"Id"})]
    for name in names:
        out[name] = record.get(name)
    return out


def _since(request: web.Request) -> datetime | web.Response | None:
    raw = request.headers.get("If-Unmodified-Since")
    if raw is None:
        return None
    try:
        return email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return _errors(400, "INVALID_HEADER_VALUE", "If-Unmodified-Since is not an HTTP date")


def _from_record_error(exc: RecordError) -> web.Response:
    if exc.status == 300:
        urls = [f"{DATA_PREFIX}v60.0/sobjects/x/{i}" for i in exc.message.split(",")]
        return web.json_response(urls, status=300)
    return web.json_response([exc.body()], status=exc.status)


async def api(request: web.Request) -> web.StreamResponse:
    org = request.app[ORG]
    parts = request.path[len(DATA_PREFIX) :].strip("/").split("/")
    route = parts[1:] if parts and parts[0].startswith("v") else parts
    body: Any = None
    if request.can_read_body:
        try:
            body = json.loads(await request.read())
        except ValueError:
            return _errors(400, "JSON_PARSER_ERROR", "request body is not valid JSON")
    validator = request.app.get(SPEC)
    if validator is not None:
        problem = validator.check(request.method, request.path, body)
        if problem is not None:
            return _errors(problem.status, problem.code, problem.message)
    try:
        return await _dispatch(org, request, route, body)
    except RecordError as exc:
        return _from_record_error(exc)


async def _dispatch(
    org: SalesforceOrg, request: web.Request, route: list[str], body: Any
) -> web.StreamResponse:
    method = request.method
    if route[:1] == ["query"] and method == "GET":
        return _query(org, request.query.get("q", ""))
    if route[:1] == ["sobjects"] and len(route) >= 2:
        sobject = route[1]
        if sobject not in FIELDS:
            return _errors(404, "NOT_FOUND", f"The requested resource does not exist: {sobject}")
        since = _since(request)
        if isinstance(since, web.Response):
            return since
        if len(route) == 2 and method == "POST":
            record_id = org.insert(sobject, body)
            return web.json_response({"id": record_id, "success": True, "errors": []}, status=201)
        if len(route) == 3 and method == "GET":
            record = org.get(sobject, route[2])
            if record is None:
                return _errors(404, "NOT_FOUND", "The requested resource does not exist")
            wanted = [f for f in request.query.get("fields", "").split(",") if f]
            return web.json_response(_record_json(org, sobject, record, wanted or None))
        if len(route) == 3 and method == "PATCH":
            org.update(sobject, route[2], body, since=since)
            return web.Response(status=204)
        if len(route) == 4 and method == "PATCH":
            record_id, created = org.upsert(sobject, route[2], route[3], body, since=since)
            return web.json_response(
                {"id": record_id, "success": True, "errors": [], "created": created},
                status=201 if created else 200,
            )
    if route[:2] == ["composite", "sobjects"] and len(route) == 4 and method == "PATCH":
        return _collection_upsert(org, route[2], route[3], body)
    return _errors(404, "NOT_FOUND", "The requested resource does not exist")


def _query(org: SalesforceOrg, soql: str) -> web.Response:
    def known(sobject: str) -> set[str] | None:
        return FIELDS[sobject] | SYSTEM_FIELDS if sobject in FIELDS else None

    try:
        query = parse(soql, known)
    except SoqlError as exc:
        return _errors(400, exc.code, exc.message)
    rows = query.run(org.all(query.sobject))
    records = [
        {
            "attributes": {
                "type": query.sobject,
                "url": f"{DATA_PREFIX}v60.0/sobjects/{query.sobject}/{r.get('Id')}",
            },
            **r,
        }
        for r in rows
    ]
    return web.json_response({"totalSize": len(records), "done": True, "records": records})


def _collection_upsert(org: SalesforceOrg, sobject: str, field: str, body: Any) -> web.Response:
    if sobject not in FIELDS:
        return _errors(404, "NOT_FOUND", f"The requested resource does not exist: {sobject}")
    records = body.get("records") or []
    values = [r.get(field) for r in records]
    results: list[dict[str, Any]] = []
    for record, value in zip(records, values, strict=True):
        fields = {k: v for k, v in record.items() if k != "attributes"}
        try:
            if record.get("attributes", {}).get("type") != sobject:
                raise RecordError(400, "INVALID_TYPE", f"records must all be of type {sobject}")
            if not isinstance(value, str) or not value:
                raise RecordError(400, "REQUIRED_FIELD_MISSING", f"{field} is required", [field])
            if values.count(value) > 1:
                raise RecordError(
                    400, "DUPLICATE_EXTERNAL_ID", "Duplicate external id specified", [field]
                )
            record_id, created = org.upsert(sobject, field, value, fields)
        except RecordError as exc:
            code = "DUPLICATE_EXTERNAL_ID" if exc.status == 300 else exc.code
            error = {"statusCode": code, "message": exc.message, "fields": exc.fields}
            results.append({"success": False, "errors": [error]})
            continue
        results.append({"id": record_id, "success": True, "errors": [], "created": created})
    return web.json_response(results)


def make_app(
    org: SalesforceOrg | None = None,
    *,
    serve_api: bool = True,
    serve_oauth: bool = True,
    validate: bool = True,
) -> web.Application:
    org = org or SalesforceOrg()
    app = web.Application()
    app[ORG] = org
    app[SPEC] = SpecValidator.load() if validate else None
    install_controls(app, error_response=error_factory(org))

    @web.middleware
    async def sessions(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if not request.path.startswith(DATA_PREFIX):
            return await handler(request)
        auth = request.headers.get("Authorization", "")
        if not auth.startswith("Bearer ") or not org.session_valid(auth[7:]):
            return _errors(401, "INVALID_SESSION_ID", "Session expired or invalid")
        calls, over = org.count_api_call()
        if over:
            response: web.StreamResponse = _errors(
                403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded."
            )
        else:
            response = await handler(request)
        response.headers["Sforce-Limit-Info"] = f"api-usage={calls}/{org.daily_api_limit}"
        return response

    app.middlewares.append(sessions)
    if serve_oauth:
        app.router.add_post("/services/oauth2/token", token_endpoint)
    if serve_api:
        app.router.add_route("*", DATA_PREFIX + "{tail:.*}", api)
    controls = app[CONTROLS]
    controls.register_mutation("expire_tokens", org.expire_tokens)
    controls.register_mutation("revoke_refresh_tokens", org.revoke_refresh_tokens)
    controls.register_mutation("insert_record", lambda sobject, fields: org.insert(sobject, fields))
    controls.register_mutation(
        "edit_record",
        lambda sobject, record_id, fields: org.edit_behind_our_back(sobject, record_id, **fields),
    )
    return app


def org_of(app: web.Application) -> SalesforceOrg:
    return app[ORG]


class SalesforceSandbox(StartStopContext):
    """A login server (token endpoint) and an instance server (REST API) over one org::

    with SalesforceSandbox() as sf:
        settings = SalesforceSettings(login_url=sf.login_url, client_id=..., ...)
        sf.instance.controls.fail_next(1, 503)
        sf.org.expire_tokens()
    """

    def __init__(self, org: SalesforceOrg | None = None, *, validate: bool = True) -> None:
        self.org = org or SalesforceOrg()
        self.login = SandboxServer(make_app(self.org, serve_api=False, validate=validate))
        self.instance = SandboxServer(make_app(self.org, serve_oauth=False, validate=validate))

    @property
    def login_url(self) -> str:
        return self.login.url

    @property
    def instance_url(self) -> str:
        return self.instance.url

    def start(self) -> SalesforceSandbox:
        self.login.start()
        try:
            self.instance.start()
        except BaseException:
            self.login.stop()
            raise
        self.org.login_url = self.login.url
        self.org.instance_url = self.instance.url
        return self

    def stop(self) -> None:
        self.instance.stop()
        self.login.stop()


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--client-id", default=os.environ.get("VOICEBUS_SALESFORCE_CLIENT_ID"))
    parser.add_argument(
        "--client-secret", default=os.environ.get("VOICEBUS_SALESFORCE_CLIENT_SECRET")
    )
    parser.add_argument("--refresh-token", action="append", default=[])
    parser.add_argument("--jwt-public-key-file", default=None)
    parser.add_argument("--username", default=os.environ.get("VOICEBUS_SALESFORCE_USERNAME"))


def _app_from_args(args: argparse.Namespace) -> web.Application:
    creds = Credentials()
    if args.client_id:
        creds.client_id = args.client_id
    if args.client_secret:
        creds.client_secret = args.client_secret
    if args.username:
        creds.username = args.username
    creds.refresh_tokens = set(args.refresh_token)
    if args.jwt_public_key_file:
        with open(args.jwt_public_key_file, encoding="utf-8") as handle:
            creds.jwt_public_key_pem = handle.read()
    org = SalesforceOrg(creds)
    org.instance_url = org.login_url = f"http://{args.host}:{args.port}"
    return make_app(org)


def main(argv: Sequence[str] | None = None) -> None:
    run_main(
        _app_from_args,
        description="voicebus Salesforce sandbox (OAuth token endpoint + REST API)",
        argv=argv,
        add_arguments=_add_arguments,
    )


if __name__ == "__main__":
    main()
