"""Routing through the real Router: redacted copies on sync.<target> with routing headers and
the producer's trace carried on."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from pipeline import headers as h
from pipeline.events import CallDirection, CallEnded, CallEvent, CallStarted, CallSummary, Sentiment
from pipeline.observability import configure_telemetry
from pipeline.producer import CallEventProducer
from pipeline.serde import AvroCodec
from tests.integration.processors.conftest import headers_of, read_topic

pytestmark = pytest.mark.integration

RULES = """
version: 1
rules:
  - name: slack-negative-summary
    when: {event_type: [call_summary], sentiment: [NEGATIVE]}
    then: [{target: slack, operation: post_summary, hints: {channel: "#support"}}]
  - name: salesforce-log-call
    when: {event_type: [call_ended, call_summary]}
    then: [{target: salesforce, operation: log_call}]
"""


def test_routed_records_are_redacted_with_headers_and_trace(fresh_settings, workers, tmp_path):
    telemetry = configure_telemetry(in_memory=True)  # the producer sends a traceparent header
    routes = tmp_path / "routes.yaml"
    routes.write_text(RULES)
    t0 = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)
    call = [
        CallStarted(
            direction=CallDirection.INBOUND, from_number="+14155550199", to_number="+14155550100"
        ),
        CallEnded(duration_s=60, disposition="resolved", hangup_cause="normal_clearing"),
        CallSummary(summary="Caller jane@example.com is upset", sentiment=Sentiment.NEGATIVE),
    ]
    events = [
        CallEvent.create(
            p,
            tenant_id="acme",
            call_id="call-r1",
            source="vapi",
            occurred_at=t0 + timedelta(minutes=i),
        )
        for i, p in enumerate(call)
    ]
    with CallEventProducer(fresh_settings) as producer:
        for e in events:
            producer.publish(e)
    worker = workers.start("w1", "--routes", str(routes))
    alive = lambda: worker.proc.poll() is None  # noqa: E731
    slack = read_topic(fresh_settings, "sync.slack", lambda got: len(got) >= 1, alive=alive)
    sf = read_topic(fresh_settings, "sync.salesforce", lambda got: len(got) >= 2, alive=alive)
    enriched = read_topic(
        fresh_settings, "voice.call-events.enriched", lambda got: len(got) >= 3, alive=alive
    )
    codec = AvroCodec(fresh_settings)

    assert len(slack) == 1, worker.log()[-3000:]
    record = codec.decode(slack[0].value())
    hdrs = headers_of(slack[0])
    assert slack[0].key() == b"call-r1"
    assert record["event_id"] == events[2].event_id
    assert "jane@example.com" not in record["payload"]["summary"]  # chat class: standard policy
    assert hdrs[h.OPERATION] == b"post_summary"
    assert json.loads(hdrs[h.HINTS]) == {"channel": "#support"}
    assert hdrs[h.ROUTE] == b"slack-negative-summary"
    assert hdrs[h.REDACTION] == b"standard"

    assert sorted(codec.decode(m.value())["event_type"] for m in sf) == [
        "call_ended",
        "call_summary",
    ]
    sf_summary = next(
        codec.decode(m.value())
        for m in sf
        if codec.decode(m.value())["event_type"] == "call_summary"
    )
    assert "jane@example.com" in sf_summary["payload"]["summary"]  # crm class: none

    # the trace id of the producer's span is carried to the enriched and the routed records
    assert telemetry.span_exporter is not None
    produced = {
        format(span.context.trace_id, "032x").encode()
        for span in telemetry.span_exporter.get_finished_spans()
        if span.name.startswith("voice.call-events")
    }
    by_id = {str(codec.decode(m.value())["event_id"]): headers_of(m) for m in enriched}
    trace_ids = {v[h.TRACEPARENT].split(b"-")[1] for v in by_id.values()}
    assert len(trace_ids) == 3 and trace_ids <= produced
    assert (
        hdrs[h.TRACEPARENT].split(b"-")[1]
        == by_id[str(events[2].event_id)][h.TRACEPARENT].split(b"-")[1]
    )
