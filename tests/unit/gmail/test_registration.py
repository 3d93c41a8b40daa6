"""`voicebus sink gmail` / `voicebus sink outlook`: found by the sink runtime, configured
from the environment, missing settings named as env vars."""

from __future__ import annotations

import asyncio

import pytest
from pydantic import ValidationError

from connectors.gmail.sink import GmailConnector
from connectors.outlook.sink import OutlookConnector
from pipeline.sinks.targets import connector_factory, describe_missing_config, known_targets


def test_both_targets_are_registered() -> None:
    assert {"gmail", "outlook"} <= set(known_targets())


def test_factories_read_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "VOICEBUS_GMAIL_CLIENT_ID": "id",
        "VOICEBUS_GMAIL_CLIENT_SECRET": "secret",
        "VOICEBUS_GMAIL_REFRESH_TOKEN": "refresh",
        "VOICEBUS_GMAIL_MEETING_TIMEZONE": "Europe/Berlin",
        "VOICEBUS_OUTLOOK_TENANT_ID": "t",
        "VOICEBUS_OUTLOOK_CLIENT_ID": "id",
        "VOICEBUS_OUTLOOK_CLIENT_SECRET": "secret",
        "VOICEBUS_OUTLOOK_USER_ID": "care@contoso.example",
    }.items():
        monkeypatch.setenv(name, value)
    gmail = connector_factory("gmail")()
    outlook = connector_factory("outlook")()
    assert isinstance(gmail, GmailConnector) and gmail.settings.meeting_timezone == "Europe/Berlin"
    assert isinstance(outlook, OutlookConnector)
    assert outlook.settings.token_url == ("https://login.microsoftonline.com/t/oauth2/v2.0/token")
    asyncio.run(gmail.aclose())
    asyncio.run(outlook.aclose())


def test_missing_configuration_names_the_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for prefix in ("VOICEBUS_GMAIL_", "VOICEBUS_OUTLOOK_"):
        for name in ("CLIENT_ID", "CLIENT_SECRET", "REFRESH_TOKEN", "TENANT_ID", "USER_ID"):
            monkeypatch.delenv(prefix + name, raising=False)
    with pytest.raises(ValidationError) as gmail_error:
        connector_factory("gmail")()
    assert "VOICEBUS_GMAIL_REFRESH_TOKEN" in describe_missing_config("gmail", gmail_error.value)
    with pytest.raises(ValidationError) as outlook_error:
        connector_factory("outlook")()
    text = describe_missing_config("outlook", outlook_error.value)
    assert "VOICEBUS_OUTLOOK_TENANT_ID is required" in text
    assert "VOICEBUS_OUTLOOK_CLIENT_SECRET is required" in text
