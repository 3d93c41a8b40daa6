"""The /voicebus slash command endpoint over real HTTP: signatures are checked before
anything runs; valid commands answer ephemerally."""

from __future__ import annotations

import time
from collections.abc import Iterator
from urllib.parse import urlencode

import httpx
import pytest
from pydantic import SecretStr

from connectors.base.sandbox import SandboxServer
from connectors.slack.auth import sign
from connectors.slack.commands import ROUTE, CallStatus, CommandHandler, InMemoryCallIndex, make_app

pytestmark = pytest.mark.integration

SECRET = SecretStr("8f742231b10e8888abcd99yyyzzz85a5")
OPERATOR = "U0OPERATOR1"


class RecordingLookup(InMemoryCallIndex):
    """A real lookup that remembers every question it was asked."""

    def __init__(self) -> None:
        super().__init__()
        self.asked: list[str] = []

    async def call_status(self, call_id: str) -> CallStatus | None:
        self.asked.append(call_id)
        return await super().call_status(call_id)


class RecordingReplayer:
    def __init__(self) -> None:
        self.replays: list[tuple[str, str]] = []

    async def replay(self, target: str, call_id: str) -> str:
        self.replays.append((target, call_id))
        return f"replayed 2 record(s) of call {call_id} to sync.{target}"


@pytest.fixture
def parts() -> Iterator[tuple[str, RecordingLookup, RecordingReplayer, CommandHandler]]:
    lookup, replayer = RecordingLookup(), RecordingReplayer()
    lookup.record(
        "call-42",
        summary="Angry about <fees>",
        sentiment="NEGATIVE",
        target="slack",
        status="delivered",
    )
    handler = CommandHandler(SECRET, lookup, replayer, [OPERATOR], ["slack", "teams", "hubspot"])
    with SandboxServer(make_app(handler)) as srv:
        yield srv.url + ROUTE, lookup, replayer, handler


def command(text: str, user: str = "U0SOMEONE1") -> bytes:
    return urlencode(
        {"command": "/voicebus", "text": text, "user_id": user, "team_id": "T0VOICEBUS"}
    ).encode()


def post(
    url: str,
    body: bytes,
    *,
    secret: SecretStr = SECRET,
    ts: int | None = None,
    signature: str | None = None,
) -> httpx.Response:
    stamp = int(time.time()) if ts is None else ts
    headers = {
        "content-type": "application/x-www-form-urlencoded",
        "x-slack-request-timestamp": str(stamp),
        "x-slack-signature": signature or sign(secret, stamp, body),
    }
    return httpx.post(url, content=body, headers=headers)


def test_wrong_secret_is_refused_and_nothing_runs(parts):
    url, lookup, replayer, handler = parts
    for text in ("call call-42", "replay slack call-42"):
        response = post(url, command(text, OPERATOR), secret=SecretStr("not-the-secret"))
        assert response.status_code == 401
    assert lookup.asked == [] and replayer.replays == []
    assert handler.rejected == 2


def test_stale_timestamp_is_refused_even_with_a_valid_signature(parts):
    url, lookup, replayer, _ = parts
    old = int(time.time()) - 301
    response = post(url, command("replay slack call-42", OPERATOR), ts=old)
    assert response.status_code == 401
    assert replayer.replays == [] and lookup.asked == []


def test_tampered_body_or_missing_headers_are_refused(parts):
    url, lookup, replayer, _ = parts
    stamp = int(time.time())
    good = sign(SECRET, stamp, command("call call-42"))
    response = post(url, command("replay slack call-42", OPERATOR), ts=stamp, signature=good)
    assert response.status_code == 401
    assert httpx.post(url, content=command("call call-42")).status_code == 401
    assert replayer.replays == [] and lookup.asked == []


def test_call_lookup_answers_ephemerally(parts):
    url, lookup, _, _ = parts
    response = post(url, command("call call-42"))
    assert response.status_code == 200
    answer = response.json()
    assert answer["response_type"] == "ephemeral"
    assert "Angry about &lt;fees&gt;" in answer["text"]
    assert "slack: delivered" in answer["blocks"][1]["elements"][0]["text"]
    assert lookup.asked == ["call-42"]
    unknown = post(url, command("call call-999")).json()
    assert "no call" in unknown["text"]


def test_replay_is_for_operators_only(parts):
    url, _, replayer, _ = parts
    refused = post(url, command("replay slack call-42", "U0SOMEONE1")).json()
    assert "operators only" in refused["text"] and replayer.replays == []
    bad_target = post(url, command("replay nowhere call-42", OPERATOR)).json()
    assert "unknown target" in bad_target["text"] and replayer.replays == []
    done = post(url, command("replay slack call-42", OPERATOR)).json()
    assert done["response_type"] == "ephemeral"
    assert "replayed 2 record(s)" in done["text"]
    assert replayer.replays == [("slack", "call-42")]
