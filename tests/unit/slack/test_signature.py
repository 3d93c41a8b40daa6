"""Slack request signatures: Slack's documented example, freshness, tampering."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from connectors.slack.auth import SignatureError, sign, verify_request

# https://api.slack.com/authentication/verifying-requests-from-slack (worked example)
SECRET = SecretStr("8f742231b10e8888abcd99yyyzzz85a5")
TIMESTAMP = 1531420618
BODY = (
    b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id="
    b"G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook"
    b"-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F3977"
    b"00885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d1"
    b"0d2c447fce8b6703c"
)
EXPECTED = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"


def headers(signature: str, ts: int = TIMESTAMP) -> dict[str, str]:
    return {"X-Slack-Signature": signature, "X-Slack-Request-Timestamp": str(ts)}


def test_matches_slacks_published_example():
    assert sign(SECRET, TIMESTAMP, BODY) == EXPECTED
    verify_request(SECRET, headers(EXPECTED), BODY, now=TIMESTAMP + 10)


@pytest.mark.parametrize(
    ("hdrs", "body", "now", "reason"),
    [
        (headers(EXPECTED), BODY + b"x", TIMESTAMP, "does not match"),
        (headers(EXPECTED), BODY, TIMESTAMP + 301, "more than 300s"),
        (headers(EXPECTED), BODY, TIMESTAMP - 301, "more than 300s"),
        (headers("v0=" + "0" * 64), BODY, TIMESTAMP, "does not match"),
        ({"X-Slack-Signature": EXPECTED}, BODY, TIMESTAMP, "missing"),
        (headers(EXPECTED, ts=0) | {"X-Slack-Request-Timestamp": "abc"}, BODY, 0, "integer"),
    ],
)
def test_refuses_anything_else(hdrs, body, now, reason):
    with pytest.raises(SignatureError, match=reason) as caught:
        verify_request(SECRET, hdrs, body, now=now)
    assert SECRET.get_secret_value() not in str(caught.value)


def test_other_secret_fails():
    with pytest.raises(SignatureError):
        verify_request(SecretStr("other"), headers(EXPECTED), BODY, now=TIMESTAMP)
