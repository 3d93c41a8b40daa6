"""One settings model for the whole pipeline (pydantic-settings, env prefix ``VOICEBUS_``).

Defaults follow the Confluent ones: Kafka on ``127.0.0.1:9092`` and the schema registry on
``http://127.0.0.1:8081``.  ``profile=dev`` applies the embedded-broker (Tansu) settings listed in
the project's broker notes: short fetch waits, short session timeouts and one record per
producer batch so end offsets are exact.  Product logic never depends on the profile; it only
changes client tuning.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Profile(StrEnum):
    PROD = "prod"
    DEV = "dev"


class SecurityProtocol(StrEnum):
    PLAINTEXT = "PLAINTEXT"
    SSL = "SSL"
    SASL_PLAINTEXT = "SASL_PLAINTEXT"
    SASL_SSL = "SASL_SSL"


class SaslMechanism(StrEnum):
    PLAIN = "PLAIN"
    SCRAM_SHA_256 = "SCRAM-SHA-256"
    SCRAM_SHA_512 = "SCRAM-SHA-512"


class KafkaSecurity(BaseModel):
    """Passed through to librdkafka for production clusters (SASL/SCRAM, TLS)."""

    protocol: SecurityProtocol = SecurityProtocol.PLAINTEXT
    sasl_mechanism: SaslMechanism | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_ca_location: str | None = None
    ssl_certificate_location: str | None = None
    ssl_key_location: str | None = None
    ssl_key_password: SecretStr | None = None

    def librdkafka(self) -> dict[str, Any]:
        conf: dict[str, Any] = {"security.protocol": self.protocol.value}
        if self.sasl_mechanism is not None:
            conf["sasl.mechanism"] = self.sasl_mechanism.value
        if self.sasl_username is not None:
            conf["sasl.username"] = self.sasl_username
        if self.sasl_password is not None:
            conf["sasl.password"] = self.sasl_password.get_secret_value()
        if self.ssl_ca_location:
            conf["ssl.ca.location"] = self.ssl_ca_location
        if self.ssl_certificate_location:
            conf["ssl.certificate.location"] = self.ssl_certificate_location
        if self.ssl_key_location:
            conf["ssl.key.location"] = self.ssl_key_location
        if self.ssl_key_password is not None:
            conf["ssl.key.password"] = self.ssl_key_password.get_secret_value()
        return conf


class Settings(BaseSettings):
    """voicebus configuration.  Every field can be set as ``VOICEBUS_<FIELD>`` (nested with
    ``__``, e.g. ``VOICEBUS_SECURITY__SASL_USERNAME``)."""

    model_config = SettingsConfigDict(
        env_prefix="VOICEBUS_", env_nested_delimiter="__", extra="ignore"
    )

    bootstrap_servers: str = "127.0.0.1:9092"
    schema_registry_url: str = "http://127.0.0.1:8081"
    schema_registry_basic_auth: SecretStr | None = Field(
        default=None, description="'user:password' for a secured registry"
    )
    profile: Profile = Profile.PROD
    client_id: str = "voicebus"
    security: KafkaSecurity = Field(default_factory=KafkaSecurity)
    # How long a produce may wait for the broker before the caller gets a clear error.
    delivery_timeout_ms: int = Field(default=30_000, ge=1_000)
    # How long admin/metadata calls wait.
    request_timeout_s: float = Field(default=10.0, gt=0)
    # Where local state (logs, credential store, replay tasks) lives.
    state_dir: str = ".voicebus"

    # ---- librdkafka configuration builders -------------------------------------------
    def kafka_common(self) -> dict[str, Any]:
        conf: dict[str, Any] = {
            "bootstrap.servers": self.bootstrap_servers,
            "client.id": self.client_id,
        }
        conf.update(self.security.librdkafka())
        return conf

    def producer_conf(self, *, one_record_per_batch: bool | None = None) -> dict[str, Any]:
        """Idempotent producer, acks=all.  ``one_record_per_batch`` defaults to the dev
        profile (exact end offsets on Tansu)."""
        conf = self.kafka_common()
        conf.update(
            {
                "enable.idempotence": True,
                "acks": "all",
                "delivery.timeout.ms": self.delivery_timeout_ms,
                "request.timeout.ms": min(self.delivery_timeout_ms, 30_000),
                "linger.ms": 5,
                "compression.type": "lz4",
            }
        )
        if one_record_per_batch is None:
            one_record_per_batch = self.profile is Profile.DEV
        if one_record_per_batch:
            conf["batch.num.messages"] = 1
            conf["linger.ms"] = 0
        return conf

    def consumer_conf(self, group_id: str, **overrides: Any) -> dict[str, Any]:
        """Manual commits; start from earliest; classic group protocol."""
        conf = self.kafka_common()
        conf.update(
            {
                "group.id": group_id,
                "enable.auto.commit": False,
                "enable.auto.offset.store": False,
                "auto.offset.reset": "earliest",
                "isolation.level": "read_committed",
            }
        )
        if self.profile is Profile.DEV:
            conf.update(
                {
                    "fetch.wait.max.ms": 20,
                    "session.timeout.ms": 6000,
                    "heartbeat.interval.ms": 1000,
                }
            )
        conf.update(overrides)
        return conf

    def admin_conf(self) -> dict[str, Any]:
        return self.kafka_common()

    def registry_conf(self) -> dict[str, Any]:
        """Configuration for confluent_kafka.schema_registry.SchemaRegistryClient."""
        conf: dict[str, Any] = {"url": self.schema_registry_url}
        if self.schema_registry_basic_auth is not None:
            conf["basic.auth.user.info"] = self.schema_registry_basic_auth.get_secret_value()
        return conf


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment, with explicit overrides winning."""
    return Settings(**overrides)
