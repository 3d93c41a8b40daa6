"""Settings of the Salesforce connector (env prefix ``VOICEBUS_SALESFORCE_``).

Auth (``AUTH_FLOW``):

- ``client_credentials`` (default): ``CLIENT_ID`` + ``CLIENT_SECRET`` of a connected app with
  the client credentials flow enabled and a run-as user.
- ``refresh_token``: ``CLIENT_ID`` (+ ``CLIENT_SECRET``) + ``REFRESH_TOKEN`` from a one-time
  web-server authorisation; rotated tokens go to ``CREDENTIAL_STORE_PATH`` (JSON, 0600;
  default ``<VOICEBUS_STATE_DIR>/credentials/salesforce.json``).
- ``jwt_bearer``: ``CLIENT_ID`` (consumer key) + ``USERNAME`` + ``PRIVATE_KEY`` (PEM) or
  ``PRIVATE_KEY_FILE``; the certificate is uploaded to the connected app.
- ``static``: ``ACCESS_TOKEN`` (a session id, e.g. for a sandbox org) + ``INSTANCE_URL``.

``LOGIN_URL`` (https://login.salesforce.com, https://test.salesforce.com or the My Domain
URL) serves the token endpoint and is the JWT audience; API calls go to the ``instance_url``
the token response names unless ``INSTANCE_URL`` overrides it.

Validation errors never echo values (``hide_input_in_errors``).
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator

from connectors.base.connector import ConnectorSettings
from connectors.base.settings import connector_settings_config
from pipeline.resilience.http import HttpClientSettings
from pipeline.resilience.target import ResilienceSettings


class AuthFlow(StrEnum):
    CLIENT_CREDENTIALS = "client_credentials"
    REFRESH_TOKEN = "refresh_token"  # noqa: S105 - a grant name
    JWT_BEARER = "jwt_bearer"
    STATIC = "static"


def _salesforce_resilience() -> ResilienceSettings:
    # Salesforce limits are daily totals and concurrent long requests, not a per-second
    # window; 20 req/s keeps a sink well inside a typical org's allocation.
    return ResilienceSettings(rate_per_s=20.0, burst=20)


class SalesforceSettings(ConnectorSettings):
    model_config = connector_settings_config("VOICEBUS_SALESFORCE_")

    login_url: str = "https://login.salesforce.com"
    instance_url: str | None = None
    api_version: str = "60.0"

    auth_flow: AuthFlow = AuthFlow.CLIENT_CREDENTIALS
    client_id: str | None = None
    client_secret: SecretStr | None = None
    refresh_token: SecretStr | None = None
    username: str | None = None
    private_key: SecretStr | None = None
    private_key_file: Path | None = None
    access_token: SecretStr | None = None
    credential_store_path: Path | None = None
    token_skew_s: float = Field(default=60.0, ge=0)
    #: Salesforce token responses carry no expires_in; assume the org's session timeout
    session_ttl_s: float = Field(default=7200.0, gt=0)

    task_external_id_field: str = "Voicebus_Call_Id__c"
    #: Task external id of a call summary's follow-up Tasks (``<event_id>:<index>``)
    action_item_external_id_field: str = "Voicebus_Action_Item_Id__c"
    lead_external_id_field: str = "Voicebus_Phone__c"
    lead_company_default: str = "Unknown (voice caller)"
    lead_source: str = "Phone Inquiry"
    sentiment_field: str = "Voicebus_Sentiment__c"
    intents_field: str = "Voicebus_Intents__c"
    #: link to the transcript in the voice platform: ``{transcript_url_base}/{call_id}``
    transcript_url_base: str | None = None
    #: look a caller without a Salesforce match up by phone (SOQL on Contact)
    lookup_unmatched_callers: bool = True
    #: wait after REQUEST_LIMIT_EXCEEDED (Salesforce sends no Retry-After)
    limit_retry_after_s: float = Field(default=5.0, gt=0)
    batch_max_records: int = Field(default=200, ge=1, le=200)

    http: HttpClientSettings = Field(default_factory=HttpClientSettings)
    resilience: ResilienceSettings = Field(default_factory=_salesforce_resilience)

    @field_validator("login_url", "instance_url")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an absolute http(s) URL, e.g. https://login.salesforce.com")
        if parts.username or parts.password or parts.query:
            raise ValueError("must not embed credentials or a query string")
        return value.rstrip("/")

    @field_validator("api_version")
    @classmethod
    def _check_version(cls, value: str) -> str:
        text = value.strip().lstrip("v")
        major, _, minor = text.partition(".")
        if not major.isdigit() or minor not in ("", "0"):
            raise ValueError("must look like 60.0")
        return f"{int(major)}.0"

    @model_validator(mode="after")
    def _check_flow(self) -> SalesforceSettings:
        need: dict[AuthFlow, tuple[str, ...]] = {
            AuthFlow.CLIENT_CREDENTIALS: ("client_id", "client_secret"),
            AuthFlow.REFRESH_TOKEN: ("client_id",),
            AuthFlow.JWT_BEARER: ("client_id", "username"),
            AuthFlow.STATIC: ("access_token", "instance_url"),
        }
        missing = [name for name in need[self.auth_flow] if getattr(self, name) in (None, "")]
        if self.auth_flow is AuthFlow.JWT_BEARER and not (
            self.private_key or self.private_key_file
        ):
            missing.append("private_key (or private_key_file)")
        if missing:
            names = ", ".join(f"VOICEBUS_SALESFORCE_{m.split(' ')[0].upper()}" for m in missing)
            raise ValueError(f"auth_flow={self.auth_flow.value} needs {names}")
        return self

    @property
    def token_url(self) -> str:
        return f"{self.login_url}/services/oauth2/token"

    def private_key_pem(self) -> SecretStr:
        if self.private_key is not None:
            return self.private_key
        assert self.private_key_file is not None
        try:
            return SecretStr(self.private_key_file.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ValueError(
                f"cannot read VOICEBUS_SALESFORCE_PRIVATE_KEY_FILE {self.private_key_file}: "
                f"{exc.strerror}"
            ) from None
