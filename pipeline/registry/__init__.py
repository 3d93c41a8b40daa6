"""Embedded Confluent-compatible Avro schema registry backed by the Kafka topic ``_schemas``.

Run it with ``python -m pipeline.registry`` or :class:`RegistryProcess`; see README.md.
"""

from pipeline.registry.compat import CompatibilityLevel, check_compatibility
from pipeline.registry.errors import RegistryError
from pipeline.registry.process import RegistryProcess, RegistryStartError
from pipeline.registry.server import create_app
from pipeline.registry.service import DEFAULT_LEVEL, RegistryService
from pipeline.registry.store import KafkaLog, MemoryLog

__all__ = [
    "DEFAULT_LEVEL",
    "CompatibilityLevel",
    "KafkaLog",
    "MemoryLog",
    "RegistryError",
    "RegistryProcess",
    "RegistryService",
    "RegistryStartError",
    "check_compatibility",
    "create_app",
]
