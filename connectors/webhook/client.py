"""HTTP client of the webhook connector: signed POSTs to the configured endpoints.

Keeps the list of endpoints and which of them answered 410 Gone (disabled: never called
again in this process).  Trace context goes out as ``traceparent`` so a receiver that speaks
W3C tracing joins the trace.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence

import httpx

from connectors.base.errors import ConnectorError, PermanentError
from connectors.webhook.auth import WebhookSigner
from connectors.webhook.errors import (
    TARGET,
    EndpointGoneError,
    classify_response,
    classify_transport,
    describe,
)
from connectors.webhook.mapping import Endpoint
from pipeline.observability import inject_trace_headers
from pipeline.resilience.direct_http import DirectHttpSender
from pipeline.resilience.http import HttpClientSettings

log = logging.getLogger(__name__)

HeadersObserver = Callable[[Mapping[str, str]], object]


class WebhookClient:
    def __init__(
        self,
        urls: Sequence[str],
        signer: WebhookSigner,
        http: HttpClientSettings | None = None,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        observe_headers: HeadersObserver | None = None,
        user_agent: str = "voicebus-webhook",
    ) -> None:
        self.endpoints = [Endpoint.from_url(i, url) for i, url in enumerate(urls, start=1)]
        self._by_id = {endpoint.id: endpoint for endpoint in self.endpoints}
        # parsed once: parsing the URL again per POST was a tenth of the request's CPU
        self._parsed = {endpoint.id: httpx.URL(endpoint.url) for endpoint in self.endpoints}
        self.signer = signer
        self.disabled: set[str] = set()
        self.observe_headers = observe_headers
        # one absolute URL per endpoint, no auth flow, no cookies, no redirects: the
        # direct sender skips httpx.AsyncClient's per-request machinery (a sink POSTs
        # ~1,000 webhooks/s from one event loop; see pipeline/resilience/direct_http.py)
        self._http = DirectHttpSender(
            http,
            transport=transport,
            user_agent=user_agent,
            headers={"content-type": "application/json"},
        )

    def endpoint(self, endpoint_id: str) -> Endpoint:
        try:
            return self._by_id[endpoint_id]
        except KeyError:
            raise PermanentError(
                f"{TARGET}: operation for endpoint id {endpoint_id} which is no longer in "
                "VOICEBUS_WEBHOOK_URLS; it was removed from the configuration after the record "
                "was mapped (replay the record to send it to the current endpoints)"
            ) from None

    async def post(self, endpoint_id: str, webhook_id: str, body: bytes) -> httpx.Response:
        """Send one signed POST; the response on 2xx, else a classified ``ConnectorError``."""
        endpoint = self.endpoint(endpoint_id)
        where = describe(endpoint.position, endpoint.origin)
        if endpoint.id in self.disabled:
            raise EndpointGoneError(
                f"{TARGET} {where}: endpoint disabled after an earlier 410 Gone; remove it from "
                "VOICEBUS_WEBHOOK_URLS and restart the sink"
            )
        headers = inject_trace_headers(self.signer.headers(webhook_id, body))
        try:
            response = await self._http.request(
                "POST", self._parsed[endpoint.id], content=body, headers=headers
            )
        except httpx.TransportError as exc:
            raise classify_transport(
                exc, position=endpoint.position, origin=endpoint.origin
            ) from None
        if self.observe_headers is not None:
            self.observe_headers(response.headers)
        error: ConnectorError | None = classify_response(
            response, position=endpoint.position, origin=endpoint.origin
        )
        if isinstance(error, EndpointGoneError):
            self.disabled.add(endpoint.id)
            log.warning(
                "webhook endpoint #%d (%s) answered 410 Gone: disabled, no further deliveries "
                "to it; remove it from VOICEBUS_WEBHOOK_URLS",
                endpoint.position,
                endpoint.origin,
            )
        if error is not None:
            raise error
        return response

    async def aclose(self) -> None:
        await self._http.aclose()
