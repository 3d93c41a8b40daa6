"""HTTP routes of the Confluent-compatible schema registry (aiohttp).

Paths, JSON shapes and error bodies follow the Confluent Schema Registry REST API so that
unchanged Confluent clients (confluent-kafka's ``SchemaRegistryClient`` and serializers) work
against it.  Handlers only translate HTTP to :class:`RegistryService` calls; service calls run
in worker threads because writes block until Kafka has the record and it has been read back.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from pipeline.registry import errors
from pipeline.registry.avro_schema import SUPPORTED_SCHEMA_TYPES
from pipeline.registry.service import RegistryService

log = logging.getLogger(__name__)

CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"
JSON_INPUT_TYPES = frozenset(
    {
        "application/vnd.schemaregistry.v1+json",
        "application/vnd.schemaregistry+json",
        "application/json",
        "application/octet-stream",  # aiohttp's value when the client sent no Content-Type
    }
)
SERVICE_KEY = web.AppKey("service", RegistryService)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def reply(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, content_type=CONTENT_TYPE)


def flag(request: web.Request, name: str) -> bool:
    return request.query.get(name, "false").strip().lower() in ("true", "1", "yes")


def schema_id(request: web.Request) -> int:
    try:
        return int(request.match_info["id"])
    except ValueError:
        raise errors.schema_not_found() from None


async def read_json(request: web.Request) -> Any:
    if request.content_type not in JSON_INPUT_TYPES:
        raise errors.unsupported_media_type(request.content_type)
    text = await request.text()
    try:
        return json.loads(text)
    except ValueError as exc:
        raise errors.bad_request(f"Request body is not valid JSON: {exc}") from exc


@web.middleware
async def error_bodies(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every failure leaves as ``{"error_code", "message"}``, never as an HTML page."""
    try:
        return await handler(request)
    except errors.RegistryError as exc:
        return reply(exc.body(), status=exc.http_status)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return reply(
            {"error_code": exc.status, "message": f"HTTP {exc.status} {exc.reason}"},
            status=exc.status,
        )
    except Exception:
        log.exception("unexpected error serving %s %s", request.method, request.path)
        return reply({"error_code": 500, "message": "Internal Server Error"}, status=500)


async def call(method: Callable[..., Any], *args: Any) -> Any:
    """Run a service call in a worker thread (writes block until Kafka has read them back)."""
    return await asyncio.to_thread(method, *args)


def service(request: web.Request) -> RegistryService:
    return request.app[SERVICE_KEY]


# ---- handlers -----------------------------------------------------------------------------
async def root(request: web.Request) -> web.Response:
    return reply({})


async def list_subjects(request: web.Request) -> web.Response:
    prefix = request.query.get("subjectPrefix", "")
    return reply(service(request).list_subjects(flag(request, "deleted"), prefix))


async def schema_types(request: web.Request) -> web.Response:
    return reply(list(SUPPORTED_SCHEMA_TYPES))


async def get_schema(request: web.Request) -> web.Response:
    return reply(service(request).get_schema(schema_id(request)))


async def get_raw_schema(request: web.Request) -> web.Response:
    text = service(request).get_schema(schema_id(request))["schema"]
    return web.Response(text=text, content_type=CONTENT_TYPE)


async def schema_versions(request: web.Request) -> web.Response:
    return reply(service(request).schema_versions(schema_id(request), flag(request, "deleted")))


async def schema_subjects(request: web.Request) -> web.Response:
    return reply(service(request).schema_subjects(schema_id(request), flag(request, "deleted")))


async def list_versions(request: web.Request) -> web.Response:
    subject = request.match_info["subject"]
    return reply(service(request).list_versions(subject, flag(request, "deleted")))


async def register(request: web.Request) -> web.Response:
    body = await read_json(request)
    svc = service(request)
    return reply(await call(svc.register, request.match_info["subject"], body))


async def get_version(request: web.Request) -> web.Response:
    m = request.match_info
    return reply(service(request).get_version(m["subject"], m["version"], flag(request, "deleted")))


async def get_version_schema(request: web.Request) -> web.Response:
    m = request.match_info
    body = service(request).get_version(m["subject"], m["version"], flag(request, "deleted"))
    return web.Response(text=body["schema"], content_type=CONTENT_TYPE)


async def delete_version(request: web.Request) -> web.Response:
    m, svc = request.match_info, service(request)
    permanent = flag(request, "permanent")
    return reply(await call(svc.delete_version, m["subject"], m["version"], permanent))


async def lookup(request: web.Request) -> web.Response:
    body = await read_json(request)
    svc, deleted = service(request), flag(request, "deleted")
    return reply(await call(svc.lookup, request.match_info["subject"], body, deleted))


async def delete_subject(request: web.Request) -> web.Response:
    svc, permanent = service(request), flag(request, "permanent")
    return reply(await call(svc.delete_subject, request.match_info["subject"], permanent))


async def compatibility(request: web.Request) -> web.Response:
    body = await read_json(request)
    svc = service(request)
    subject, version = request.match_info["subject"], request.match_info.get("version")
    verbose = flag(request, "verbose")
    return reply(await call(svc.test_compatibility, subject, version, body, verbose))


async def get_config(request: web.Request) -> web.Response:
    subject = request.match_info.get("subject")
    return reply(service(request).get_config(subject, flag(request, "defaultToGlobal")))


async def put_config(request: web.Request) -> web.Response:
    body = await read_json(request)
    svc = service(request)
    return reply(await call(svc.set_config, request.match_info.get("subject"), body))


async def delete_config(request: web.Request) -> web.Response:
    svc = service(request)
    return reply(await call(svc.delete_config, request.match_info.get("subject")))


async def get_mode(request: web.Request) -> web.Response:
    """Only READWRITE exists here; answered so mode-aware tools do not fail."""
    return reply({"mode": "READWRITE"})


def create_app(registry_service: RegistryService) -> web.Application:
    app = web.Application(middlewares=[error_bodies])
    app[SERVICE_KEY] = registry_service
    app.add_routes(
        [
            web.get("/", root),
            web.get("/subjects", list_subjects),
            web.get("/schemas/types", schema_types),
            web.get("/schemas/ids/{id}", get_schema),
            web.get("/schemas/ids/{id}/schema", get_raw_schema),
            web.get("/schemas/ids/{id}/versions", schema_versions),
            web.get("/schemas/ids/{id}/subjects", schema_subjects),
            web.get("/subjects/{subject}/versions", list_versions),
            web.post("/subjects/{subject}/versions", register),
            web.get("/subjects/{subject}/versions/{version}", get_version),
            web.get("/subjects/{subject}/versions/{version}/schema", get_version_schema),
            web.delete("/subjects/{subject}/versions/{version}", delete_version),
            web.post("/subjects/{subject}", lookup),
            web.delete("/subjects/{subject}", delete_subject),
            web.post("/compatibility/subjects/{subject}/versions/{version}", compatibility),
            web.post("/compatibility/subjects/{subject}/versions", compatibility),
            web.get("/config", get_config),
            web.put("/config", put_config),
            web.delete("/config", delete_config),
            web.get("/config/{subject}", get_config),
            web.put("/config/{subject}", put_config),
            web.delete("/config/{subject}", delete_config),
            web.get("/mode", get_mode),
        ]
    )
    return app
