"""Parse and validate an Avro schema submitted to the registry, and derive its identity.

Two parsers look at every schema, on purpose:

* ``fastavro.parse_schema`` is what the Python serializers (confluent-kafka's ``AvroSerializer``,
  our serde) use, and it validates field defaults against their types, as Java Avro and the
  Confluent registry do.  A schema it rejects could never be used by our clients.
* ``avro.schema.parse`` builds the schema objects that ``avro.compatibility`` checks.

Identity (same schema -> same id, no new version) is decided on a *normalised* form: the avro
library's JSON rendering of the parsed schema with sorted keys and no whitespace.  Formatting
and key order do not matter; everything that changes meaning does (defaults, logical types,
aliases, docs).  Avro's Parsing Canonical Form is deliberately NOT used for identity: it drops
defaults and logical types, so adding a default (a real evolution step) would silently return
the old id whose schema lacks the default.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import avro.schema
import fastavro

from pipeline.registry import errors

SUPPORTED_SCHEMA_TYPES = ("AVRO",)


@dataclass(frozen=True)
class ParsedSchema:
    """A validated Avro schema: the text as registered, its identity key and parsed form."""

    text: str
    normalized: str
    avro: avro.schema.Schema


def check_schema_type(schema_type: Any) -> None:
    """Only AVRO is served; JSON Schema and Protobuf are answered with a clear 42201."""
    if schema_type is None or schema_type == "AVRO":
        return
    raise errors.invalid_schema(
        f"Schema type {schema_type!r} is not supported: this registry stores Avro schemas "
        f"only (supported schemaType values: {', '.join(SUPPORTED_SCHEMA_TYPES)}; omit "
        "schemaType for Avro)"
    )


def normalized_form(schema: avro.schema.Schema) -> str:
    """Identity key: the avro library's full JSON rendering, sorted keys, no whitespace."""
    return json.dumps(schema.to_json(), sort_keys=True, separators=(",", ":"))


def parse_avro(text: Any) -> ParsedSchema:
    """Validate ``text`` as an Avro schema or raise 42201 saying what is wrong."""
    if not isinstance(text, str) or not text.strip():
        raise errors.invalid_schema(
            "Invalid schema: the 'schema' field must be a non-empty string holding the Avro "
            'schema as JSON (e.g. "{\\"type\\": \\"record\\", ...}")'
        )
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise errors.invalid_schema(
            f"Invalid schema: not valid JSON ({exc.msg} at line {exc.lineno} column "
            f"{exc.colno}); the 'schema' field must hold the Avro schema as a JSON string"
        ) from exc
    try:
        fastavro.parse_schema(document)
    except Exception as exc:  # fastavro raises several unrelated types for bad schemas
        raise errors.invalid_schema(f"Invalid Avro schema: {exc}") from exc
    try:
        parsed = avro.schema.parse(text)
    except Exception as exc:  # avro.errors.AvroException and friends
        raise errors.invalid_schema(f"Invalid Avro schema: {exc}") from exc
    return ParsedSchema(text=text, normalized=normalized_form(parsed), avro=parsed)
