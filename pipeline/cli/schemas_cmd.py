"""``voicebus schemas register|check``: publish the .avsc files to the schema registry, or
verify (in CI, before shipping) that they are compatible with what is registered.

The subjects come from ``schemas/subjects.yaml``.  ``check`` asks the registry itself
(``POST /compatibility/subjects/<subject>/versions/latest?verbose=true``), so the subject's
configured level (BACKWARD_TRANSITIVE by default) is the one applied, and prints the
registry's explanation of every incompatibility."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import fastavro
import httpx
import typer
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.error import SchemaRegistryError
from rich.console import Console
from rich.table import Table

from pipeline.config import Settings, load_settings
from pipeline.schema_catalog import SchemaCatalogError, load_schema, subjects
from pipeline.serde import REGISTRY_TRANSPORT_ERRORS

schemas_app = typer.Typer(help="Register and check the Avro schemas in schemas/.")

RegistryOption = typer.Option(
    None, "--registry-url", help="Schema registry URL (overrides settings)."
)
SchemasDirOption = typer.Option(
    None, "--schemas-dir", help="Folder with subjects.yaml and the .avsc files (default: schemas/)."
)


def _settings(registry_url: str | None) -> Settings:
    return load_settings(**({"schema_registry_url": registry_url} if registry_url else {}))


def _fail(message: str) -> typer.Exit:
    Console(stderr=True).print(f"[red]error:[/red] {message}", highlight=False)
    return typer.Exit(1)


@dataclass
class _Entry:
    path: str
    subject: str
    schema: dict[str, Any]


def _entries(schemas_dir: Path | None) -> list[_Entry]:
    """Every schema in subjects.yaml, parsed and checked to be valid Avro."""
    try:
        mapping = subjects(schemas_dir)
        entries = [
            _Entry(p, s, load_schema(p, schemas_dir=schemas_dir)) for p, s in mapping.items()
        ]
    except SchemaCatalogError as exc:
        raise _fail(str(exc)) from None
    for entry in entries:
        try:
            fastavro.parse_schema(entry.schema)
        except Exception as exc:
            raise _fail(f"{entry.path} is not a valid Avro schema: {exc}") from None
    return entries


@schemas_app.command("register")
def register_cmd(
    registry_url: str | None = RegistryOption, schemas_dir: Path | None = SchemasDirOption
) -> None:
    """Register every schema listed in subjects.yaml (a no-op for an unchanged schema)."""
    settings = _settings(registry_url)
    entries = _entries(schemas_dir)
    client = SchemaRegistryClient(settings.registry_conf())
    table = Table(title=f"schemas on {settings.schema_registry_url}")
    for column in ("subject", "version", "id", "file"):
        table.add_column(column)
    for entry in entries:
        schema = Schema(json.dumps(entry.schema), "AVRO")
        try:
            schema_id = client.register_schema(entry.subject, schema)
            version = client.lookup_schema(entry.subject, schema).version
        except SchemaRegistryError as exc:
            raise _fail(
                f"registry refused {entry.path} under {entry.subject}: {exc.error_message} "
                f"(HTTP {exc.http_status_code}); run `voicebus schemas check` for details"
            ) from None
        except REGISTRY_TRANSPORT_ERRORS as exc:
            raise _fail(
                f"schema registry {settings.schema_registry_url} is unreachable "
                f"({type(exc).__name__})"
            ) from None
        table.add_row(entry.subject, str(version), str(schema_id), entry.path)
    Console(width=160).print(table)


def _http(settings: Settings) -> httpx.Client:
    auth = None
    if settings.schema_registry_basic_auth is not None:
        user, _, password = settings.schema_registry_basic_auth.get_secret_value().partition(":")
        auth = httpx.BasicAuth(user, password)
    return httpx.Client(
        base_url=settings.schema_registry_url.rstrip("/"),
        auth=auth,
        timeout=settings.request_timeout_s,
        headers={"Content-Type": "application/vnd.schemaregistry.v1+json"},
    )


def _level(http: httpx.Client, subject: str) -> str:
    response = http.get(f"/config/{quote(subject, safe='')}", params={"defaultToGlobal": "true"})
    if response.status_code == 404:
        response = http.get("/config")
    if response.is_success:
        body = response.json()
        return str(body.get("compatibilityLevel") or body.get("compatibility") or "?")
    return "?"


def _check_one(http: httpx.Client, entry: _Entry) -> tuple[str, str, list[str]]:
    """(status, level, messages) for one schema: ok | new | incompatible."""
    subject = quote(entry.subject, safe="")
    # Confluent answers 404 on /compatibility for an unknown subject, some registries say
    # "compatible": asking for the versions first tells "new" apart on both.
    if http.get(f"/subjects/{subject}/versions").status_code == 404:
        return "new", _level(http, entry.subject), []
    response = http.post(
        f"/compatibility/subjects/{subject}/versions/latest",
        params={"verbose": "true"},
        json={"schema": json.dumps(entry.schema), "schemaType": "AVRO"},
    )
    if response.status_code == 404:
        return "new", _level(http, entry.subject), []
    if not response.is_success:
        try:
            message = str(response.json().get("message"))
        except ValueError:
            message = f"HTTP {response.status_code}"
        return "incompatible", _level(http, entry.subject), [message]
    body = response.json()
    level = _level(http, entry.subject)
    if body.get("is_compatible"):
        return "ok", level, []
    messages = [str(m) for m in body.get("messages") or []] or ["the registry gave no reason"]
    return "incompatible", level, messages


@schemas_app.command("check")
def check_cmd(
    registry_url: str | None = RegistryOption, schemas_dir: Path | None = SchemasDirOption
) -> None:
    """Check every schema against the latest registered version under the subject's
    compatibility level.  Exit 1 on any incompatibility; an unregistered subject is fine."""
    settings = _settings(registry_url)
    entries = _entries(schemas_dir)
    table = Table(title=f"compatibility against {settings.schema_registry_url}")
    for column in ("subject", "file", "level", "result"):
        table.add_column(column)
    problems: list[tuple[_Entry, list[str]]] = []
    try:
        with _http(settings) as http:
            for entry in entries:
                status, level, messages = _check_one(http, entry)
                shown = {
                    "ok": "[green]compatible[/green]",
                    "new": "[green]not registered yet (ok)[/green]",
                    "incompatible": "[red]INCOMPATIBLE[/red]",
                }[status]
                table.add_row(entry.subject, entry.path, level, shown)
                if status == "incompatible":
                    problems.append((entry, messages))
    except httpx.HTTPError as exc:
        raise _fail(
            f"schema registry {settings.schema_registry_url} is unreachable ({type(exc).__name__})"
        ) from None
    out = Console(width=160, soft_wrap=True)
    out.print(table)
    for entry, messages in problems:
        out.print(f"[red]{entry.path}[/red] is incompatible with {entry.subject}:", highlight=False)
        for message in messages:
            out.print(f"  - {message}", highlight=False, markup=False)
    if problems:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add ``voicebus schemas ...`` to the root app."""
    app.add_typer(schemas_app, name="schemas")
