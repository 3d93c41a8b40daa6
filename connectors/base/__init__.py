"""The connector contract every target implements (see connector.py and errors.py)."""

from connectors.base.connector import (
    Connector,
    ConnectorSettings,
    DeliveryResult,
    Operation,
    SyncRecord,
)
from connectors.base.errors import (
    AuthError,
    ConflictError,
    ConnectorError,
    DataError,
    PermanentError,
    RetryableError,
    ThrottledError,
)

__all__ = [
    "AuthError",
    "ConflictError",
    "Connector",
    "ConnectorError",
    "ConnectorSettings",
    "DataError",
    "DeliveryResult",
    "Operation",
    "PermanentError",
    "RetryableError",
    "SyncRecord",
    "ThrottledError",
]
