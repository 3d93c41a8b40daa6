"""Schema Registry errors with Confluent's HTTP status codes, error codes and messages.

Clients (confluent-kafka's ``SchemaRegistryClient``, Karapace tooling, our CLI) branch on
``error_code``, so every failure the server can answer is built here, in one place, with the
exact numbers the Confluent REST API documents.
"""

from __future__ import annotations

from typing import Any


class RegistryError(Exception):
    """A failure answered as ``{"error_code": N, "message": "..."}`` with ``http_status``."""

    def __init__(self, http_status: int, error_code: int, message: str) -> None:
        super().__init__(message)
        self.http_status = http_status
        self.error_code = error_code
        self.message = message

    def body(self) -> dict[str, Any]:
        return {"error_code": self.error_code, "message": self.message}


def subject_not_found(subject: str) -> RegistryError:
    return RegistryError(404, 40401, f"Subject '{subject}' not found.")


def version_not_found(version: int | str) -> RegistryError:
    return RegistryError(404, 40402, f"Version {version} not found.")


def schema_not_found(schema_id: int | None = None) -> RegistryError:
    message = "Schema not found" if schema_id is None else f"Schema {schema_id} not found"
    return RegistryError(404, 40403, message)


def subject_soft_deleted(subject: str) -> RegistryError:
    return RegistryError(
        404,
        40404,
        f"Subject '{subject}' was soft deleted.Set permanent=true to delete permanently",
    )


def subject_not_soft_deleted(subject: str) -> RegistryError:
    return RegistryError(
        404,
        40405,
        f"Subject '{subject}' was not deleted first before being permanently deleted",
    )


def version_soft_deleted(subject: str, version: int) -> RegistryError:
    return RegistryError(
        404,
        40406,
        f"Subject '{subject}' Version {version} was soft deleted.Set permanent=true to "
        "delete permanently",
    )


def version_not_soft_deleted(subject: str, version: int) -> RegistryError:
    return RegistryError(
        404,
        40407,
        f"Subject '{subject}' Version {version} was not deleted first before being "
        "permanently deleted",
    )


def subject_compatibility_not_configured(subject: str) -> RegistryError:
    return RegistryError(
        404,
        40408,
        f"Subject '{subject}' does not have subject-level compatibility configured",
    )


def incompatible_schema(message: str) -> RegistryError:
    return RegistryError(409, 409, message)


def invalid_schema(message: str) -> RegistryError:
    return RegistryError(422, 42201, message)


def invalid_version(version: str) -> RegistryError:
    return RegistryError(
        422,
        42202,
        f"The specified version '{version}' is not a valid version id. Allowed values are "
        'between [1, 2^31-1] and the string "latest"',
    )


def invalid_compatibility_level(level: object) -> RegistryError:
    return RegistryError(
        422,
        42203,
        f"Invalid compatibility level {level!r}. Valid values are none, backward, forward, "
        "full, backward_transitive, forward_transitive, and full_transitive",
    )


def store_error(message: str) -> RegistryError:
    return RegistryError(500, 50001, message)


def operation_timeout(message: str) -> RegistryError:
    return RegistryError(500, 50002, message)


def bad_request(message: str) -> RegistryError:
    """Malformed request body (not JSON, wrong field types): HTTP 400 like Confluent's."""
    return RegistryError(400, 400, message)


def unsupported_media_type(content_type: str) -> RegistryError:
    return RegistryError(
        415,
        415,
        f"Unsupported Content-Type {content_type!r}; send application/vnd.schemaregistry.v1+json, "
        "application/vnd.schemaregistry+json or application/json",
    )
