"""Settings validation: precise, and never echoing secrets."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from connectors.servicenow.config import AuthMode, ServiceNowSettings


def test_oauth_password_needs_client_and_names_env_vars() -> None:
    with pytest.raises(ValidationError) as info:
        ServiceNowSettings(
            instance_url="https://a.service-now.com",
            auth=AuthMode.OAUTH_PASSWORD,
            username="u",
            password="hunter2-pw",
        )
    text = str(info.value)
    assert "VOICEBUS_SERVICENOW_CLIENT_ID" in text and "VOICEBUS_SERVICENOW_CLIENT_SECRET" in text
    assert "hunter2-pw" not in text


def test_url_with_credentials_is_refused_without_echo() -> None:
    with pytest.raises(ValidationError) as info:
        ServiceNowSettings(
            instance_url="https://admin:pw123456@a.service-now.com", username="u", password="p"
        )
    assert "pw123456" not in str(info.value)


def test_our_user_defaults_to_username_for_user_based_auth() -> None:
    s = ServiceNowSettings(instance_url="https://a.service-now.com/", username="u", password="p")
    assert s.our_user == "u" and s.instance_url == "https://a.service-now.com"
    cc = ServiceNowSettings(
        instance_url="https://a.service-now.com",
        auth=AuthMode.OAUTH_CLIENT_CREDENTIALS,
        client_id="c",
        client_secret="s",
    )
    assert cc.our_user is None
    assert cc.token_url == "https://a.service-now.com/oauth_token.do"
