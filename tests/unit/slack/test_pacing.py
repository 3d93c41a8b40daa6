"""Per-channel pacing: posts to one channel are spaced by 1/rate, other channels do not wait
(injected clock and sleep; nothing really waits)."""

from __future__ import annotations

import httpx
from pydantic import SecretStr

from connectors.base.connector import SyncRecord
from connectors.base.contract import RecordingClock
from connectors.slack.config import SlackSettings
from connectors.slack.sink import SlackConnector
from tests.integration.slack.conftest import enriched_event


def fake_slack() -> httpx.MockTransport:
    counter = {"n": 0}

    def handler(request: httpx.Request) -> httpx.Response:
        counter["n"] += 1
        body = request.read().decode()
        channel = "C0AAAAAAAAA" if "#a" in body else "C0BBBBBBBBB"
        return httpx.Response(
            200, json={"ok": True, "channel": channel, "ts": f"1700000000.{counter['n']:06d}"}
        )

    return httpx.MockTransport(handler)


async def test_same_channel_waits_other_channel_does_not():
    clock = RecordingClock()
    settings = SlackSettings(bot_token=SecretStr("xoxb-x"), channel_rate_per_s=1.0)
    connector = SlackConnector(settings, transport=fake_slack(), clock=clock, sleep=clock.sleep)
    try:
        for channel in ("#a", "#a", "#b", "#a"):
            event = enriched_event()
            record = SyncRecord(
                key=event["call_id"],
                event=event,
                operation="post_summary",
                hints={"channel": channel},
            )
            [operation] = connector.map_record(record)
            await connector.deliver(operation)
    finally:
        await connector.aclose()
    assert clock.sleeps == [1.0, 1.0]  # 2nd and 4th post to #a; #b went at once
