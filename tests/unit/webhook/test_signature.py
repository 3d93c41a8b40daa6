from __future__ import annotations

import pytest
from pydantic import SecretStr

from connectors.webhook.auth import (
    SecretFormatError,
    SignatureError,
    WebhookSigner,
    decode_secret,
    sign_one,
    verify,
)

# The published Standard Webhooks / Svix test vector.
VECTOR_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
VECTOR_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
VECTOR_TS = 1614265330
VECTOR_BODY = b'{"test": 2432232314}'
VECTOR_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
OTHER_SECRET = "whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWY="


def test_known_vector():
    assert (
        sign_one(decode_secret(VECTOR_SECRET), VECTOR_ID, VECTOR_TS, VECTOR_BODY)
        == VECTOR_SIGNATURE
    )


def test_signer_headers_match_vector_and_sign_with_every_secret():
    signer = WebhookSigner([SecretStr(VECTOR_SECRET), SecretStr(OTHER_SECRET)])
    headers = signer.headers(VECTOR_ID, VECTOR_BODY, timestamp=VECTOR_TS)
    assert headers["webhook-id"] == VECTOR_ID
    assert headers["webhook-timestamp"] == str(VECTOR_TS)
    first, second = headers["webhook-signature"].split(" ")
    assert first == VECTOR_SIGNATURE
    assert second.startswith("v1,") and second != first


def test_timestamp_defaults_to_clock():
    signer = WebhookSigner([SecretStr(VECTOR_SECRET)], clock=lambda: 1614265330.9)
    assert signer.headers(VECTOR_ID, VECTOR_BODY)["webhook-signature"] == VECTOR_SIGNATURE


def test_verify_accepts_any_matching_signature_and_rejects_tampering():
    keys = [decode_secret(VECTOR_SECRET)]
    headers = {
        "Webhook-Id": VECTOR_ID,
        "Webhook-Timestamp": str(VECTOR_TS),
        "Webhook-Signature": f"v1,bm9wZQ== {VECTOR_SIGNATURE}",
    }
    assert verify(keys, headers, VECTOR_BODY, now=VECTOR_TS + 10) == VECTOR_ID
    with pytest.raises(SignatureError, match="no matching"):
        verify(keys, headers, VECTOR_BODY + b" ", now=VECTOR_TS)
    with pytest.raises(SignatureError, match="tolerance"):
        verify(keys, headers, VECTOR_BODY, now=VECTOR_TS + 301)
    with pytest.raises(SignatureError, match="no matching"):
        verify([decode_secret(OTHER_SECRET)], headers, VECTOR_BODY, now=VECTOR_TS)
    with pytest.raises(SignatureError, match="missing"):
        verify(keys, {}, VECTOR_BODY)


@pytest.mark.parametrize(
    ("secret", "expected"),
    [
        ("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "does not start with 'whsec_'"),
        ("whsec_not*base64!", "not valid base64"),
        ("whsec_c2hvcnQ=", "decodes to 5 bytes"),
    ],
)
def test_bad_secrets_fail_precisely_without_echoing_the_secret(secret, expected):
    with pytest.raises(SecretFormatError) as info:
        decode_secret(secret, position=1)
    message = str(info.value)
    assert expected in message
    assert "secret #2" in message
    assert secret not in message and secret.removeprefix("whsec_") not in message
