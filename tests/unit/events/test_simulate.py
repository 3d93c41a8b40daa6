"""The simulator: realistic, deterministic calls and a matching directory."""

from __future__ import annotations

import re
from collections import Counter

from pipeline.events import CallStarted, CallSummary, Sentiment, SpeakerRole, TranscriptSegment
from pipeline.simulate import COMPANY_NUMBER, build_scenario


def test_same_seed_same_events_other_seed_other_events() -> None:
    a, b, c = build_scenario(8, seed=42), build_scenario(8, seed=42), build_scenario(8, seed=43)
    assert a.events() == b.events() and a.contacts == b.contacts
    assert [e.event_id for e in a.events()] != [e.event_id for e in c.events()]


def test_each_call_has_the_full_lifecycle_in_order() -> None:
    scenario = build_scenario(25, seed=7)
    assert len({call[0].call_id for call in scenario.calls}) == 25
    for call in scenario.calls:
        kinds = [e.event_type.value for e in call]
        assert kinds[0] == "call_started"
        assert kinds[-3:] == ["call_ended", "call_summary", "recording_available"]
        segments = [e.payload for e in call if isinstance(e.payload, TranscriptSegment)]
        assert 5 <= len(segments) <= 40
        assert [s.sequence for s in segments] == list(range(len(segments)))
        speakers = [s.speaker for s in segments]
        assert all(
            speakers[i] is SpeakerRole.CUSTOMER for i in range(1, len(speakers), 2)
        )  # agent/bot and customer alternate
        assert all(s.speaker is not SpeakerRole.CUSTOMER for s in segments[::2])
        times = [e.occurred_at for e in call]
        assert times == sorted(times) and len(set(times)) == len(times)
        assert {e.call_id for e in call} == {call[0].call_id}


def test_counts_and_interleaving() -> None:
    scenario = build_scenario(12, seed=1)
    counts = scenario.counts()
    events = scenario.events()
    assert counts["call_started"] == counts["call_ended"] == counts["call_summary"] == 12
    assert counts["recording_available"] == 12
    assert counts["transcript_segment"] == sum(
        1 for e in events if e.event_type.value == "transcript_segment"
    )
    assert sum(v for k, v in counts.items() if k != "contacts") == len(events)
    # calls overlap in time, so events of different calls interleave
    call_order = [e.call_id for e in events]
    switches = sum(1 for x, y in zip(call_order, call_order[1:]) if x != y)
    assert switches > 11
    # but each call's own events keep their order
    for call in scenario.calls:
        ids = [e.event_id for e in events if e.call_id == call[0].call_id]
        assert ids == [e.event_id for e in call]


def test_summaries_cover_sentiments_intents_and_meetings() -> None:
    summaries = [
        e.payload for e in build_scenario(60, seed=9).events() if isinstance(e.payload, CallSummary)
    ]
    sentiments = Counter(s.sentiment for s in summaries)
    assert sentiments[Sentiment.NEGATIVE] > 0 and len(sentiments) >= 3
    intents = {i for s in summaries for i in s.intents}
    assert {"complaint", "billing_question", "cancel", "meeting_request"} <= intents
    meetings = [a for s in summaries for a in s.action_items if a.kind == "meeting"]
    assert meetings and all(a.due_date is not None for a in meetings)


def test_customer_speech_sometimes_carries_pii() -> None:
    texts = [
        e.payload.text
        for e in build_scenario(40, seed=2).events()
        if isinstance(e.payload, TranscriptSegment) and e.payload.speaker is SpeakerRole.CUSTOMER
    ]
    joined = "\n".join(texts)
    assert re.search(r"[\w.]+@example\.(com|org)", joined)
    assert re.search(r"\b\d{4} \d{4,6} \d{4,5}", joined)  # card-like
    assert re.search(r"\+1 415 555 01\d\d", joined)
    assert sum(1 for t in texts if "@" in t or "card" in t) < len(texts) / 2


def test_directory_has_known_unknown_and_ambiguous_callers() -> None:
    scenario = build_scenario(40, seed=4)
    numbers = Counter(n for c in scenario.contacts for n in c.phone_numbers)
    ambiguous = {n for n, k in numbers.items() if k == 2}
    assert ambiguous
    assert len({c.key for c in scenario.contacts}) == len(scenario.contacts)
    callers = []
    for call in scenario.calls:
        started = call[0].payload
        assert isinstance(started, CallStarted)
        assert COMPANY_NUMBER in (started.from_number, started.to_number)
        callers.append(
            started.to_number if started.from_number == COMPANY_NUMBER else started.from_number
        )
    known = [n for n in callers if n in numbers]
    assert known and len(known) < len(callers)  # some callers are known, some not
    assert all(c.tenant_id == "acme" for c in scenario.contacts)


def test_large_runs_reuse_callers_instead_of_running_out_of_numbers() -> None:
    scenario = build_scenario(2000, seed=5)
    assert scenario.counts()["call_started"] == 2000
