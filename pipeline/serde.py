"""Avro serde in the Confluent wire format, backed by the schema registry.

A value is ``0x00`` (magic byte), the writer schema's registry id as a 4-byte big-endian
integer, then the Avro binary body (fastavro, schemaless).  This is what confluent-kafka's
``AvroSerializer`` / ``AvroDeserializer``, Kafka Connect and ksqlDB read and write, so records
stay readable by every standard tool.

``AvroCodec`` registers (or looks up) a writer schema once per subject and caches the id and
the parsed schema; on the way back it fetches writer schemas by id, once each.  The registry
HTTP calls go through confluent-kafka's ``SchemaRegistryClient`` (which caches as well).

Errors are precise and never carry payload bytes or values: ``DecodeError.reason`` is one of
``empty``, ``bad-magic``, ``unknown-schema-id``, ``malformed``, ``registry-unavailable``, so a
consumer can dead-letter with a stable error class.
"""

from __future__ import annotations

import io
import json
import struct
import threading
from collections.abc import Callable, Mapping
from typing import Any, Literal

import fastavro
import httpx
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.error import SchemaRegistryError
from fastavro.validation import ValidationError as AvroValidationError
from fastavro.validation import validate as avro_validate

from pipeline.config import Settings
from pipeline.schema_catalog import load_schema, subject_for

__all__ = [
    "MAGIC_BYTE",
    "REGISTRY_TRANSPORT_ERRORS",
    "AvroCodec",
    "DecodeError",
    "DecodeReason",
    "EncodeError",
    "SerdeError",
    "load_schema",
    "parse_wire_header",
    "subject_for",
]

MAGIC_BYTE = 0


def _transport_errors() -> tuple[type[BaseException], ...]:
    """Network-level failures of the registry client (confluent-kafka may ship its own httpx
    fork; both are caught)."""
    errors: list[type[BaseException]] = [httpx.HTTPError, OSError]
    try:
        from confluent_kafka.schema_registry.common._httpx_compat import httpx as sr_httpx

        errors.append(sr_httpx.HTTPError)
    except (ImportError, AttributeError):  # older confluent-kafka: plain httpx
        pass
    return tuple(errors)


REGISTRY_TRANSPORT_ERRORS = _transport_errors()
_HEADER = struct.Struct(">bI")

DecodeReason = Literal[
    "empty", "bad-magic", "unknown-schema-id", "malformed", "registry-unavailable"
]
EncodeReason = Literal["invalid-record", "registry-refused", "registry-unavailable"]


class SerdeError(Exception):
    """Root of the serde errors."""


class DecodeError(SerdeError):
    """A value that cannot be turned back into a record.  ``reason`` is a stable class for
    DLQ headers and metrics; the message says what and where, never the bytes."""

    def __init__(self, reason: DecodeReason, message: str, *, schema_id: int | None = None):
        super().__init__(message)
        self.reason: DecodeReason = reason
        self.schema_id = schema_id


class EncodeError(SerdeError):
    """A record that cannot be written: it does not match its schema, or the registry
    refused or could not be reached to register the schema."""

    def __init__(self, reason: EncodeReason, message: str):
        super().__init__(message)
        self.reason: EncodeReason = reason


def parse_wire_header(data: bytes | None) -> int:
    """The schema id of a Confluent wire-format value, or ``DecodeError``."""
    if not data:
        raise DecodeError("empty", "value is empty (a tombstone or a producer that wrote no bytes)")
    if data[0] != MAGIC_BYTE:
        raise DecodeError(
            "bad-magic",
            f"value does not start with the Confluent magic byte 0 (first byte is {data[0]}); "
            "it was not written by an Avro serializer with a schema registry",
        )
    if len(data) < _HEADER.size:
        raise DecodeError(
            "malformed",
            f"value is {len(data)} bytes, shorter than the 5-byte wire-format header",
        )
    return int(_HEADER.unpack_from(data)[1])


def _schema_key(schema: Mapping[str, Any]) -> str:
    return json.dumps(schema, sort_keys=True, separators=(",", ":"))


def _describe_mismatch(record: Mapping[str, Any], parsed: Any) -> str:
    """Which field does not match, with the expected type; never the value itself."""
    try:
        avro_validate(record, parsed, raise_errors=True)
    except AvroValidationError as exc:
        parts = []
        for err in exc.errors[:5]:
            expected = err.schema if isinstance(err.schema, str) else json.dumps(err.schema)[:80]
            parts.append(
                f"{err.field or '<record>'} expects {expected}, got {type(err.datum).__name__}"
            )
        return "; ".join(parts)
    return "the record does not match the schema"


class AvroCodec:
    """Confluent wire-format Avro encoder/decoder sharing one registry client and caches.

    ``source`` is a ``Settings`` (a client is built from ``registry_conf()``) or an existing
    ``SchemaRegistryClient``.  ``auto_register=False`` only looks schemas up, for producers
    that must not create new versions.  Thread-safe."""

    def __init__(
        self, source: Settings | SchemaRegistryClient, *, auto_register: bool = True
    ) -> None:
        if isinstance(source, Settings):
            self.registry_url = source.schema_registry_url
            self._client = SchemaRegistryClient(source.registry_conf())
        else:
            rest = getattr(source, "_rest_client", None)
            urls = getattr(rest, "base_urls", None) or ["the configured schema registry"]
            self.registry_url = ",".join(urls)
            self._client = source
        self.auto_register = auto_register
        self._lock = threading.Lock()
        self._writers: dict[tuple[str, str], tuple[int, Any]] = {}
        self._by_identity: dict[tuple[str, int], tuple[Mapping[str, Any], tuple[int, Any]]] = {}
        self._by_id: dict[int, Any] = {}
        self._readers: dict[str, Any] = {}
        # id(schema) -> (schema, parsed); the entry keeps the object alive so ids stay unique
        self._readers_by_identity: dict[int, tuple[Mapping[str, Any], Any]] = {}
        # (writer schema id, id(parsed reader)) -> whether both schemas are equal
        self._reader_is_writer: dict[tuple[int, int], bool] = {}

    @property
    def client(self) -> SchemaRegistryClient:
        return self._client

    # ---- encoding ------------------------------------------------------------------------
    def schema_id(self, subject: str, schema: Mapping[str, Any]) -> int:
        """The registry id of ``schema`` under ``subject`` (registered on first use)."""
        return self._writer(subject, schema)[0]

    def _writer(self, subject: str, schema: Mapping[str, Any]) -> tuple[int, Any]:
        # fast path: the same schema object as last time (callers pass a module-level dict);
        # the entry keeps the object alive, so its id cannot be reused by another one
        hit = self._by_identity.get((subject, id(schema)))
        if hit is not None and hit[0] is schema:
            return hit[1]
        key = (subject, _schema_key(schema))
        cached = self._writers.get(key)
        if cached is not None:
            self._by_identity[(subject, id(schema))] = (schema, cached)
            return cached
        with self._lock:
            cached = self._writers.get(key)
            if cached is not None:
                return cached
            try:
                parsed = fastavro.parse_schema(dict(schema))
            except Exception as exc:
                raise EncodeError(
                    "invalid-record", f"schema for subject {subject!r} is not valid Avro: {exc}"
                ) from exc
            registry_schema = Schema(json.dumps(schema), "AVRO")
            try:
                schema_id: int | None
                if self.auto_register:
                    schema_id = self._client.register_schema(subject, registry_schema)
                else:
                    schema_id = self._client.lookup_schema(subject, registry_schema).schema_id
                if schema_id is None:
                    raise SchemaRegistryError(200, -1, "the registry returned no schema id")
            except SchemaRegistryError as exc:
                raise EncodeError(
                    "registry-refused",
                    f"schema registry {self.registry_url} refused the schema for subject "
                    f"{subject!r}: {exc.error_message} (HTTP {exc.http_status_code}, "
                    f"code {exc.error_code})",
                ) from exc
            except REGISTRY_TRANSPORT_ERRORS as exc:
                raise EncodeError(
                    "registry-unavailable",
                    f"schema registry {self.registry_url} is unreachable while registering "
                    f"subject {subject!r}: {type(exc).__name__}",
                ) from exc
            self._writers[key] = (int(schema_id), parsed)
            self._by_identity[(subject, id(schema))] = (schema, self._writers[key])
            self._by_id.setdefault(int(schema_id), parsed)
            return self._writers[key]

    def encode(
        self, record: Mapping[str, Any], *, subject: str, schema: Mapping[str, Any]
    ) -> bytes:
        """``record`` as a Confluent wire-format value, written with ``schema`` under
        ``subject``."""
        schema_id, parsed = self._writer(subject, schema)
        out = io.BytesIO()
        out.write(_HEADER.pack(MAGIC_BYTE, schema_id))
        try:
            fastavro.schemaless_writer(out, parsed, dict(record))
        except (TypeError, ValueError, KeyError, AttributeError, OverflowError):
            raise EncodeError(
                "invalid-record",
                f"record for subject {subject!r} does not match its schema: "
                f"{_describe_mismatch(record, parsed)}",
            ) from None
        return out.getvalue()

    def serializer(
        self, subject: str, schema: Mapping[str, Any]
    ) -> Callable[[Mapping[str, Any], Any], bytes]:
        """A confluent-kafka style serializer ``(record, ctx) -> bytes``."""

        def serialize(record: Mapping[str, Any], ctx: Any = None) -> bytes:
            return self.encode(record, subject=subject, schema=schema)

        return serialize

    # ---- decoding ------------------------------------------------------------------------
    def writer_schema(self, schema_id: int) -> Any:
        """The parsed writer schema registered under ``schema_id`` (cached)."""
        parsed = self._by_id.get(schema_id)
        if parsed is not None:
            return parsed
        try:
            registered = self._client.get_schema(schema_id)
        except SchemaRegistryError as exc:
            if exc.http_status_code == 404:
                raise DecodeError(
                    "unknown-schema-id",
                    f"schema id {schema_id} is not known to the schema registry "
                    f"{self.registry_url} (written against another registry, or deleted?)",
                    schema_id=schema_id,
                ) from None
            raise DecodeError(
                "registry-unavailable",
                f"schema registry {self.registry_url} failed to return schema id {schema_id}: "
                f"HTTP {exc.http_status_code}, code {exc.error_code}",
                schema_id=schema_id,
            ) from None
        except REGISTRY_TRANSPORT_ERRORS as exc:
            raise DecodeError(
                "registry-unavailable",
                f"schema registry {self.registry_url} is unreachable while fetching schema id "
                f"{schema_id}: {type(exc).__name__}",
                schema_id=schema_id,
            ) from None
        if (registered.schema_type or "AVRO") != "AVRO":
            raise DecodeError(
                "malformed",
                f"schema id {schema_id} is a {registered.schema_type} schema, not Avro",
                schema_id=schema_id,
            )
        parsed = fastavro.parse_schema(json.loads(registered.schema_str or "null"))
        with self._lock:
            self._by_id[schema_id] = parsed
        return parsed

    def _reader(self, reader_schema: Mapping[str, Any]) -> Any:
        # fast path as in _writer: the same schema object as last time skips the JSON key
        hit = self._readers_by_identity.get(id(reader_schema))
        if hit is not None and hit[0] is reader_schema:
            return hit[1]
        key = _schema_key(reader_schema)
        parsed = self._readers.get(key)
        if parsed is None:
            parsed = fastavro.parse_schema(dict(reader_schema))
            with self._lock:
                self._readers[key] = parsed
        self._readers_by_identity[id(reader_schema)] = (reader_schema, parsed)
        return parsed

    def _same_schema(self, schema_id: int, writer: Any, reader: Any) -> bool:
        key = (schema_id, id(reader))  # parsed readers are cached, so their ids are stable
        same = self._reader_is_writer.get(key)
        if same is None:
            same = self._reader_is_writer[key] = bool(writer == reader)
        return same

    def decode(self, data: bytes | None, reader_schema: Mapping[str, Any] | None = None) -> Any:
        """The record in a Confluent wire-format value, read with its writer schema (resolved
        to ``reader_schema`` when given: added fields take their defaults, and so on)."""
        schema_id = parse_wire_header(data)
        assert data is not None  # parse_wire_header rejects None
        writer = self.writer_schema(schema_id)
        reader = self._reader(reader_schema) if reader_schema is not None else None
        if reader is not None and self._same_schema(schema_id, writer, reader):
            reader = None  # fastavro would compare both (deeply) on every read to find this
        body = io.BytesIO(data)
        body.seek(_HEADER.size)
        try:
            record = fastavro.schemaless_reader(body, writer, reader)
        except fastavro.read.SchemaResolutionError as exc:
            raise DecodeError(
                "malformed",
                f"writer schema id {schema_id} cannot be read with the given reader schema: {exc}",
                schema_id=schema_id,
            ) from None
        except Exception as exc:  # EOFError, UnicodeDecodeError, IndexError, ValueError ...
            raise DecodeError(
                "malformed",
                f"Avro body ({len(data) - _HEADER.size} bytes) does not match writer schema id "
                f"{schema_id}: {type(exc).__name__}",
                schema_id=schema_id,
            ) from None
        trailing = len(data) - body.tell()
        if trailing:
            raise DecodeError(
                "malformed",
                f"{trailing} unexpected bytes after the Avro record (writer schema id "
                f"{schema_id}); the value was corrupted or written with another schema",
                schema_id=schema_id,
            )
        return record

    def deserializer(
        self, reader_schema: Mapping[str, Any] | None = None
    ) -> Callable[[bytes | None, Any], Any]:
        """A confluent-kafka style deserializer ``(bytes, ctx) -> record`` (None stays None,
        as for tombstones)."""

        def deserialize(data: bytes | None, ctx: Any = None) -> Any:
            if data is None:
                return None
            return self.decode(data, reader_schema)

        return deserialize
