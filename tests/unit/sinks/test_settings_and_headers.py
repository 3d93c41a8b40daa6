from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from pipeline import headers as H
from pipeline.sinks.forwarding import failure_headers, headers_to_dict, replace_headers
from pipeline.sinks.settings import BarrierPolicy, DeliveryMode, SinkSettings
from pipeline.sinks.targets import UnknownTargetError, connector_factory


def test_target_env_overrides_generic_env_and_kwargs_win(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VOICEBUS_SINK_MAX_IN_FLIGHT", "8")
    monkeypatch.setenv("VOICEBUS_SINK_MODE", "batch")
    monkeypatch.setenv("VOICEBUS_SINK_MY_CRM_MAX_IN_FLIGHT", "3")
    monkeypatch.setenv("VOICEBUS_SINK_MY_CRM_BARRIER", "skip-ahead")
    s = SinkSettings.for_target("my-crm", batch_size=7)
    assert s.max_in_flight == 3
    assert s.mode is DeliveryMode.BATCH
    assert s.barrier is BarrierPolicy.SKIP_AHEAD
    assert s.batch_size == 7
    other = SinkSettings.for_target("webhook")
    assert other.max_in_flight == 8
    assert other.barrier is BarrierPolicy.PARK


def test_invalid_values_are_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VOICEBUS_SINK_WEBHOOK_BARRIER", "sometimes")
    with pytest.raises(ValidationError, match="barrier"):
        SinkSettings.for_target("webhook")
    with pytest.raises(ValidationError, match="retry_delays_s"):
        SinkSettings(retry_delays_s=[])


def test_retry_delay_grows_then_repeats_last() -> None:
    s = SinkSettings(retry_delays_s=[1, 5, 30])
    assert [s.retry_delay(n) for n in (1, 2, 3, 4, 9)] == [1, 5, 30, 30, 30]


def test_failure_headers_and_replacement_keep_original_headers() -> None:
    when = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
    fh = failure_headers(
        error_class="permanent",
        message="HTTP 400\nfrom   target",
        attempts=2,
        first_failure_at=when,
        last_failure_at=when,
        source=("sync.x", 1, 42),
        target="x",
        connector="XConnector",
        connector_version="1.2.3",
    )
    assert fh[H.ERROR_MESSAGE] == "HTTP 400 from target"
    assert fh[H.FIRST_FAILURE_AT] == "2026-01-02T03:04:05.678Z"
    out = headers_to_dict(replace_headers([("traceparent", b"tp"), (H.ATTEMPTS, b"1")], fh))
    assert out["traceparent"] == "tp"
    assert out[H.ATTEMPTS] == "2"
    assert out[H.SOURCE_OFFSET] == "42" and out[H.CONNECTOR_VERSION] == "1.2.3"
    assert headers_to_dict(replace_headers([("a", b"1")], {"a": None})) == {}


def test_unknown_target_lists_the_known_ones() -> None:
    with pytest.raises(UnknownTargetError, match=r"unknown sink target 'nope'; known targets: "):
        connector_factory("nope")
    with pytest.raises(UnknownTargetError):
        connector_factory("../etc")
