"""Slack Web API answers -> error classes.

Slack reports most failures as HTTP 200 with ``{"ok": false, "error": "<code>"}``:

=============================================== ===========================================
``ok: true``                                    delivered
HTTP 429 (+ ``Retry-After``), ``ratelimited``,  throttled: wait ``Retry-After`` (1 s if absent)
``rate_limited``
``invalid_auth``, ``not_authed``,               auth: re-read the token once, then pause
``token_revoked``, ``token_expired``,
``account_inactive``, ``missing_scope``,
``no_permission``
``internal_error``, ``fatal_error``,            retryable
``service_unavailable``, ``request_timeout``,
HTTP 408/5xx, transport errors
``channel_not_found``, ``not_in_channel``,      permanent: fix the channel / invite the bot,
``is_archived``, ``thread_not_found``,          then replay
``restricted_action``
``invalid_blocks``, ``msg_too_long``,           data: the message we built is refused
``no_text``, ``invalid_arg_name``, ...
any other ``ok: false`` code                    permanent
=============================================== ===========================================

Messages carry the method, the HTTP status and Slack's error code: never the token, the
request body (message text) or the whole response.
"""

from __future__ import annotations

from typing import Any

import httpx

from connectors.base.errors import (
    AuthError,
    ConnectorError,
    DataError,
    PermanentError,
    RetryableError,
    ThrottledError,
)
from connectors.base.http import DEFAULT_RETRY_AFTER_S, error_for_status, error_for_transport
from pipeline.resilience.http import parse_retry_after

TARGET = "slack"

THROTTLED_CODES = frozenset({"ratelimited", "rate_limited"})
AUTH_CODES = frozenset(
    {
        "invalid_auth",
        "not_authed",
        "token_revoked",
        "token_expired",
        "account_inactive",
        "missing_scope",
        "no_permission",
        "not_allowed_token_type",
    }
)
RETRYABLE_CODES = frozenset(
    {"internal_error", "fatal_error", "service_unavailable", "request_timeout"}
)
CHANNEL_CODES = frozenset(
    {"channel_not_found", "not_in_channel", "is_archived", "thread_not_found", "restricted_action"}
)
DATA_CODES = frozenset(
    {
        "invalid_blocks",
        "invalid_blocks_format",
        "msg_too_long",
        "no_text",
        "too_many_attachments",
        "invalid_arg_name",
        "invalid_array_arg",
        "invalid_charset",
        "invalid_form_data",
        "invalid_json",
        "json_not_object",
    }
)

_HINTS = {
    "channel_not_found": "check the channel name/id in the routing rule hints.channel",
    "not_in_channel": "invite the voicebus bot to the channel (/invite @voicebus)",
    "is_archived": "the channel is archived; unarchive it or route to another channel",
    "thread_not_found": "the call's thread parent was deleted; replay posts a new parent only "
    "after its ledger entry is removed",
}


def classify_ok_false(
    code: str, *, method: str, status: int, retry_after: float | None
) -> ConnectorError:
    where = f"{TARGET} {method}: HTTP {status} ok=false error={code}"
    if code in THROTTLED_CODES:
        wait = retry_after if retry_after is not None else DEFAULT_RETRY_AFTER_S
        return ThrottledError(
            f"{where} (rate limited; retrying after {wait:g}s)",
            retry_after=wait,
            status_code=status,
            vendor_code=code,
        )
    if code in AUTH_CODES:
        return AuthError(
            f"{where} (bot token rejected; check VOICEBUS_SLACK_BOT_TOKEN and its chat:write "
            "scope)",
            status_code=status,
            vendor_code=code,
        )
    if code in RETRYABLE_CODES:
        return RetryableError(
            f"{where} (Slack-side failure; will retry)", status_code=status, vendor_code=code
        )
    if code in DATA_CODES:
        return DataError(
            f"{where} (Slack refused the message we built; fix connectors/slack/mapping.py or "
            "the event, then replay)",
            status_code=status,
            vendor_code=code,
        )
    hint = _HINTS.get(code, "see https://api.slack.com/methods for the code, fix, then replay")
    return PermanentError(f"{where} ({hint})", status_code=status, vendor_code=code)


def classify_response(response: httpx.Response, *, method: str) -> ConnectorError | dict[str, Any]:
    """The decoded ``ok: true`` body, or the classified error."""
    status = response.status_code
    retry_after = parse_retry_after(response.headers.get("retry-after"))
    body: Any = None
    try:
        body = response.json()
    except ValueError:
        body = None
    code = body.get("error") if isinstance(body, dict) else None
    if status == 429 or (isinstance(code, str) and code in THROTTLED_CODES):
        return classify_ok_false(
            str(code or "ratelimited"), method=method, status=status, retry_after=retry_after
        )
    http_error = error_for_status(
        status, response.headers, target=TARGET, operation=method, vendor_code=code
    )
    if http_error is not None:
        return http_error
    if not isinstance(body, dict):
        return RetryableError(
            f"{TARGET} {method}: HTTP {status} with a body that is not a JSON object "
            "(proxy or outage page?); will retry",
            status_code=status,
        )
    if body.get("ok") is True:
        return body
    return classify_ok_false(
        str(code or "unknown_error"), method=method, status=status, retry_after=retry_after
    )


def classify_transport(exc: httpx.TransportError, *, method: str) -> RetryableError:
    return error_for_transport(exc, target=TARGET, operation=method)
