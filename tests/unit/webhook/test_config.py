from __future__ import annotations

import pytest
from pydantic import ValidationError

from connectors.webhook.config import WebhookSettings

GOOD = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def test_lists_from_comma_separated_env(monkeypatch):
    monkeypatch.setenv("VOICEBUS_WEBHOOK_URLS", "https://a.example/h, http://127.0.0.1:9/x")
    monkeypatch.setenv(
        "VOICEBUS_WEBHOOK_SECRETS", f"{GOOD},whsec_QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWY="
    )
    monkeypatch.setenv("VOICEBUS_WEBHOOK_RESILIENCE__RATE_PER_S", "3")
    monkeypatch.setenv("VOICEBUS_WEBHOOK_HTTP__READ_TIMEOUT_S", "2.5")
    s = WebhookSettings()
    assert s.urls == ["https://a.example/h", "http://127.0.0.1:9/x"]
    assert len(s.secrets) == 2 and s.secrets[0].get_secret_value() == GOOD
    assert s.resilience.rate_per_s == 3 and s.http.read_timeout_s == 2.5
    assert GOOD not in repr(s)


def test_lists_from_json_env(monkeypatch):
    monkeypatch.setenv("VOICEBUS_WEBHOOK_URLS", '["https://a.example/h"]')
    monkeypatch.setenv("VOICEBUS_WEBHOOK_SECRETS", f'["{GOOD}"]')
    assert WebhookSettings().urls == ["https://a.example/h"]


def test_bad_secret_fails_at_start_with_precise_message_and_no_secret(monkeypatch):
    leaked = "whsec_c2VjcmV0LXRvby1zaG9ydC0yMmI="
    monkeypatch.setenv("VOICEBUS_WEBHOOK_URLS", "https://a.example/h")
    monkeypatch.setenv("VOICEBUS_WEBHOOK_SECRETS", f"{GOOD},{leaked}")
    with pytest.raises(ValidationError) as info:
        WebhookSettings()
    message = str(info.value)
    assert "VOICEBUS_WEBHOOK_SECRETS secret #2 decodes to 20 bytes" in message
    assert leaked not in message and "c2VjcmV0" not in message


def test_missing_settings_are_named(monkeypatch):
    monkeypatch.delenv("VOICEBUS_WEBHOOK_URLS", raising=False)
    monkeypatch.delenv("VOICEBUS_WEBHOOK_SECRETS", raising=False)
    with pytest.raises(ValidationError) as info:
        WebhookSettings()
    assert {e["loc"][0] for e in info.value.errors()} == {"urls", "secrets"}


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("ftp://x.example/h", "not an absolute http(s) URL"),
        ("https://u:p@x.example/h", "embeds credentials"),
    ],
)
def test_bad_urls(url, expected):
    with pytest.raises(ValidationError) as info:
        WebhookSettings(urls=[url], secrets=[GOOD])
    assert expected in str(info.value)
    assert "u:p" not in str(info.value)
