"""The shared resilience layer: retries (tenacity), rate limits, circuit breakers and HTTP
clients for every target.  Connectors classify errors; this layer decides what to do with
them, the same way for every connector."""

from pipeline.resilience.circuit import CircuitBreaker, CircuitState
from pipeline.resilience.direct_http import DirectHttpSender
from pipeline.resilience.http import (
    HttpClientSettings,
    make_http_client,
    make_http_transport,
    parse_retry_after,
)
from pipeline.resilience.ratelimit import TokenBucket
from pipeline.resilience.retry import RetriesExhausted, RetryPolicy, run_with_retries
from pipeline.resilience.target import ResilienceSettings, TargetResilience

__all__ = [
    "CircuitBreaker",
    "CircuitState",
    "DirectHttpSender",
    "HttpClientSettings",
    "ResilienceSettings",
    "RetriesExhausted",
    "RetryPolicy",
    "TargetResilience",
    "TokenBucket",
    "make_http_client",
    "make_http_transport",
    "parse_retry_after",
    "run_with_retries",
]
