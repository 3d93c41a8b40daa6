"""CRM rate limits: throughput at a vendor limit of 10 req/s, per CRM, same run.

The issue's goal: "Rate limit at 10 req/s in the sandbox -> throughput within 20% of the
limit, no 429 reaches the DLQ".  For each CRM this starts its sandbox with a 10 req/s limit
(Salesforce: the shared sliding-window limiter answering 429; HubSpot: ``secondly=10``),
delivers ``--records`` realtime call records (matched callers, one ``log_call`` each) through
the real ``Deliverer`` with the connector's token bucket at the vendor limit, and prints:

* requests/s achieved = API requests the sandbox *accepted* / wall time of the run;
* the limit and the ratio (goal >= 0.8);
* 429 / REQUEST_LIMIT_EXCEEDED answers seen on the wire (a counting HTTP transport) and how
  many records reached DEAD_LETTER (goal 0).

Timings are printed, never asserted (tests/integration/salesforce/test_bench_crm_rate_smoke.py
only checks that the lines appear).

    .venv/bin/python bench/crm_rate.py [--records 60] [--limit 10]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx
from pydantic import SecretStr

from connectors.base.connector import Connector, SyncRecord
from connectors.base.sandbox import SandboxServer
from connectors.hubspot.config import HubSpotSettings
from connectors.hubspot.sandbox import make_app, state_of
from connectors.hubspot.sink import HubSpotConnector
from connectors.salesforce.config import SalesforceSettings
from connectors.salesforce.sandbox import SalesforceSandbox
from connectors.salesforce.sink import SalesforceConnector
from pipeline.resilience.target import ResilienceSettings, TargetResilience
from pipeline.sinks.delivery import Deliverer, OutcomeKind
from pipeline.sinks.ledger import InMemoryLedger

HUBSPOT_TOKEN = "pat-na1-11111111-2222-3333-4444-555555555555"
GOAL = 0.8


class CountingTransport(httpx.AsyncBaseTransport):
    """Counts the vendor's "slow down" answers: 429, or Salesforce's 403
    REQUEST_LIMIT_EXCEEDED."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.limited = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if response.status_code == 429:
            self.limited += 1
        elif response.status_code == 403:
            body = await response.aread()
            if b"REQUEST_LIMIT_EXCEEDED" in body:
                self.limited += 1
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


@dataclass
class RunResult:
    crm: str
    accepted_requests: int
    wall_s: float
    limit: float
    limited: int
    dead_letters: int
    delivered: int
    records: int

    def print(self) -> None:
        rate = self.accepted_requests / self.wall_s if self.wall_s > 0 else 0.0
        ratio = rate / self.limit
        verdict = "ok" if ratio >= GOAL and self.dead_letters == 0 else "MISSED"
        print(
            f"{self.crm}: {self.accepted_requests} API requests in {self.wall_s:.2f} s = "
            f"{rate:.2f} req/s; limit {self.limit:g} req/s; ratio {ratio:.2f} (goal >= {GOAL}) "
            f"{verdict}"
        )
        print(
            f"{self.crm}: 429/REQUEST_LIMIT_EXCEEDED answers {self.limited}; "
            f"delivered {self.delivered}/{self.records}; DEAD_LETTER {self.dead_letters} "
            "(goal 0)"
        )


def call_event(call_id: str, crm: str, record_id: str, phone: str) -> dict[str, Any]:
    """An enriched ``call_ended`` of a caller the CRM already knows (one write per record)."""
    ended = datetime.now(UTC)
    started = ended - timedelta(seconds=95)
    return {
        "event_id": str(uuid.uuid4()),
        "event_type": "call_ended",
        "occurred_at": ended,
        "tenant_id": "bench",
        "call_id": call_id,
        "source": "bench",
        "schema_version": 1,
        "payload": {"duration_s": 95, "disposition": "answered", "hangup_cause": "normal"},
        "customer": {
            "matched": True,
            "ambiguous": False,
            "lookup_number": phone,
            "match": {
                "crm": crm,
                "record_id": record_id,
                "record_type": "CONTACT",
                "name": "Bench Caller",
                "account": None,
                "owner": None,
                "email": None,
                "updated_at": started,
            },
            "candidates": [],
            "open_deal": None,
            "open_ticket": None,
            "context": {},
        },
        "call": {
            "started_at": started,
            "ended_at": ended,
            "first_event_at": started,
            "last_event_at": ended,
            "events_seen": 3,
            "segments_seen": 0,
            "talk_time_ms": {},
            "duration_s": 95,
            "disposition": "answered",
            "direction": "INBOUND",
            "from_number": phone,
            "to_number": "+18005550199",
            "queue": None,
            "agent": "agent-1",
            "language": "en",
            "sentiment": None,
            "intents": [],
            "has_summary": False,
            "has_recording": False,
            "complete": True,
        },
        "processed_at": ended,
    }


async def deliver(
    connector: Connector, resilience: ResilienceSettings, records: list[SyncRecord]
) -> tuple[float, list[OutcomeKind]]:
    """All records concurrently (the sink's key lanes); the bucket paces them."""
    deliverer = Deliverer(
        connector, InMemoryLedger(), TargetResilience.from_settings(connector.name, resilience)
    )
    started = time.monotonic()
    outcomes = await asyncio.gather(*(deliverer.deliver_record(r) for r in records))
    return time.monotonic() - started, [o.kind for o in outcomes]


def _result(
    crm: str, accepted: int, wall: float, limit: float, limited: int, kinds: list[OutcomeKind]
) -> RunResult:
    return RunResult(
        crm=crm,
        accepted_requests=accepted,
        wall_s=wall,
        limit=limit,
        limited=limited,
        dead_letters=kinds.count(OutcomeKind.DEAD_LETTER),
        delivered=kinds.count(OutcomeKind.DELIVERED),
        records=len(kinds),
    )


async def run_salesforce(count: int, limit: float) -> RunResult:
    with SalesforceSandbox() as sf:
        sf.instance.controls.limit_rate(limit, retry_after=0.2)
        records = []
        for i in range(count):
            phone = f"+1777{i:07d}"
            contact = sf.org.insert("Contact", {"LastName": f"Bench {i}", "Phone": phone})
            event = call_event(f"sf-bench-{i:04d}", "salesforce", contact, phone)
            records.append(SyncRecord(key=event["call_id"], event=event, operation="log_call"))
        transport = CountingTransport()
        settings = SalesforceSettings(
            login_url=sf.login_url,
            client_id=sf.org.credentials.client_id,
            client_secret=SecretStr(sf.org.credentials.client_secret),
            limit_retry_after_s=0.5,
        )
        connector = SalesforceConnector(settings, transport=transport)
        before = sf.org.api_calls
        bucket = ResilienceSettings(rate_per_s=limit, burst=1, jitter_s=0, max_attempts=5)
        try:
            wall, kinds = await deliver(connector, bucket, records)
        finally:
            await connector.aclose()
        return _result(
            "salesforce", sf.org.api_calls - before, wall, limit, transport.limited, kinds
        )


async def run_hubspot(count: int, limit: float) -> RunResult:
    app = make_app(
        private_tokens=[HUBSPOT_TOKEN], secondly=int(limit), ten_secondly=None, search_per_s=None
    )
    with SandboxServer(app) as server:
        state = state_of(server.app)
        records = []
        for i in range(count):
            phone = f"+1888{i:07d}"
            contact = str(state.store.create("contacts", {"phone": phone})["id"])
            event = call_event(f"hs-bench-{i:04d}", "hubspot", contact, phone)
            records.append(SyncRecord(key=event["call_id"], event=event, operation="log_call"))
        transport = CountingTransport()
        settings = HubSpotSettings(
            base_url=server.url,
            access_token=HUBSPOT_TOKEN,
            requests_per_s=limit,  # the connector's own token bucket
            burst=1,
            search_requests_per_s=0,
        )
        connector = HubSpotConnector(
            settings, transport=transport, reload_settings=lambda: settings
        )
        before = state.limits.daily_used
        no_second_bucket = ResilienceSettings(rate_per_s=0, jitter_s=0, max_attempts=5)
        try:
            wall, kinds = await deliver(connector, no_second_bucket, records)
        finally:
            await connector.aclose()
        accepted = state.limits.daily_used - before
        return _result("hubspot", accepted, wall, limit, transport.limited, kinds)


async def main_async(count: int, limit: float) -> list[RunResult]:
    return [await run_salesforce(count, limit), await run_hubspot(count, limit)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=60, help="call records per CRM")
    parser.add_argument("--limit", type=float, default=10.0, help="vendor limit, req/s")
    args = parser.parse_args(argv)
    print(f"CRM rate bench: {args.records} realtime records per CRM, limit {args.limit:g} req/s")
    for result in asyncio.run(main_async(args.records, args.limit)):
        result.print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
