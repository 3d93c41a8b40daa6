"""What the Gmail and Outlook connectors share around delivery: templates loaded (and
checked) at construction, resilience settings, rate-limit header feedback, credential refresh
and shutdown.  Only the wire format (``mapping.py``) and ``deliver`` differ per vendor."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import ClassVar, Protocol

import httpx

from connectors.base.connector import Connector
from connectors.base.templates import load_templates
from connectors.gmail.config import MailSettings
from pipeline.resilience.ratelimit import TokenBucket
from pipeline.resilience.target import ResilienceSettings


class _RefreshableAuth(Protocol):
    async def refresh_credentials(self) -> None: ...


class MailClient(Protocol):
    """The parts of ``GmailClient`` / ``GraphClient`` the shared code uses."""

    observe_headers: Callable[[Mapping[str, str]], object] | None

    @property
    def auth(self) -> _RefreshableAuth: ...

    @property
    def plain_http(self) -> httpx.AsyncClient: ...

    async def aclose(self) -> None: ...


class MailConnector(Connector):
    """Base of the e-mail connectors.  No vendor upsert for sending: the sync ledger makes
    sure an e-mail goes out once.  Subclasses set ``settings`` / ``client`` types, create
    their client after ``super().__init__`` (so a bad template stops start-up before any
    HTTP client exists) and implement ``deliver``."""

    natural_upsert: ClassVar[bool] = False
    settings: MailSettings
    client: MailClient

    def __init__(self, settings: MailSettings) -> None:
        self.settings = settings
        self.templates = load_templates(settings.template_dir, settings.template_names)

    @property
    def resilience_settings(self) -> ResilienceSettings:
        return self.settings.resilience

    def bind_rate_limiter(self, bucket: TokenBucket) -> None:
        self.client.observe_headers = bucket.observe_headers

    async def refresh_credentials(self) -> None:
        await self.client.auth.refresh_credentials()

    async def aclose(self) -> None:
        await self.client.aclose()
