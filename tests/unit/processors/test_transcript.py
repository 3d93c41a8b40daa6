"""The call transcript in the per-call state and on call_ended / call_summary records: start
order whatever the arrival order, the per-call bound, the changelog's JSON round trip, and the
enriched schema change (optional field, compatible with the version without it)."""

from __future__ import annotations

import copy
import io
import json
import uuid

import avro.schema
import fastavro
import pytest

from pipeline.processors import call_state
from pipeline.processors.call_state import (
    TRANSCRIPT_MAX_CHARS,
    TRANSCRIPT_MAX_SEGMENTS,
    apply_event,
    call_transcript,
)
from pipeline.processors.customers import unmatched
from pipeline.processors.enrich import build_enriched, to_avro
from pipeline.registry.compat import CompatibilityLevel, PreviousVersion, check_compatibility
from pipeline.serde import load_schema

T0 = 1_767_600_000_000


def ev(event_type: str, payload: dict, event_id: str | None = None) -> dict:
    return {
        "event_id": event_id or str(uuid.uuid4()),
        "event_type": event_type,
        "occurred_at": T0,
        "tenant_id": "acme",
        "call_id": "c1",
        "source": "vapi",
        "schema_version": 1,
        "payload": payload,
    }


def seg(sequence: int, start_ms: int, text: str, speaker: str = "CUSTOMER") -> dict:
    payload = {"sequence": sequence, "speaker": speaker, "text": text, "start_ms": start_ms}
    return ev("transcript_segment", {**payload, "end_ms": start_ms + 900, "confidence": 0.9})


ENDED = {"duration_s": 30, "disposition": "resolved", "hangup_cause": "normal_clearing"}


def run(events: list[dict], state: dict | None = None) -> dict:
    for offset, event in enumerate(events):
        state = apply_event(state, event, offset).state
    assert state is not None
    return state


def texts(state: dict) -> list[str]:
    return [s["text"] for s in call_transcript(state)["segments"]]


def test_segments_are_kept_in_start_order_whatever_the_arrival_order() -> None:
    state = run(
        [
            seg(2, 4000, "third", "AGENT"),
            seg(0, 0, "first", "AGENT"),
            seg(3, 6000, "fourth"),
            seg(1, 2000, "second"),
        ]
    )
    assert call_transcript(state) == {
        "segments": [
            {"speaker": "AGENT", "start_ms": 0, "text": "first"},
            {"speaker": "CUSTOMER", "start_ms": 2000, "text": "second"},
            {"speaker": "AGENT", "start_ms": 4000, "text": "third"},
            {"speaker": "CUSTOMER", "start_ms": 6000, "text": "fourth"},
        ],
        "truncated": False,
    }


def test_equal_start_times_are_ordered_by_sequence() -> None:
    state = run([seg(5, 1000, "b"), seg(4, 1000, "a"), seg(6, 1000, "c")])
    assert texts(state) == ["a", "b", "c"]


def test_a_duplicate_or_replayed_segment_is_not_added_twice() -> None:
    first = seg(0, 0, "hello")
    state = run([first, seg(1, 1000, "world")])
    duplicate = apply_event(state, first, 99)  # same id, other offset: producer retry
    replay = apply_event(state, first, 0)  # same id, same offset: re-read after a crash
    assert texts(duplicate.state) == texts(replay.state) == ["hello", "world"]


def test_merging_never_mutates_the_input_state() -> None:
    state = run([seg(0, 0, "a"), seg(2, 2000, "c")])
    before = copy.deepcopy(state)
    after = apply_event(state, seg(1, 1000, "b"), 7).state
    assert state == before
    assert texts(after) == ["a", "b", "c"]


def test_state_survives_the_changelog_json_round_trip_and_old_states_merge() -> None:
    state = json.loads(json.dumps(run([seg(1, 1000, "b"), seg(0, 0, "a")])))
    state = apply_event(state, seg(2, 2000, "c"), 9).state
    assert texts(state) == ["a", "b", "c"]
    # a state written before the transcript existed (no transcript keys) still merges
    old = {k: v for k, v in state.items() if not k.startswith("transcript")}
    assert texts(apply_event(old, seg(3, 3000, "d"), 10).state) == ["d"]


def test_too_many_segments_keep_the_first_part_and_mark_it_truncated(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(call_state, "TRANSCRIPT_MAX_SEGMENTS", 3)
    state = run([seg(i, i * 1000, f"s{i}") for i in (4, 0, 3, 1)])
    assert texts(state) == ["s0", "s1", "s3"] and call_transcript(state)["truncated"]
    # once truncated it never grows at its end again ...
    state = apply_event(state, seg(5, 5000, "s5"), 10).state
    assert texts(state) == ["s0", "s1", "s3"]
    # ... but an earlier segment arriving late takes its place in the first part
    state = apply_event(state, seg(2, 2000, "s2"), 11).state
    assert texts(state) == ["s0", "s1", "s2"]
    assert call_transcript(state)["truncated"] is True


def test_too_many_characters_drop_later_segments_and_cut_an_overlong_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(call_state, "TRANSCRIPT_MAX_CHARS", 10)
    state = run([seg(0, 0, "abcd"), seg(1, 1000, "efgh"), seg(2, 2000, "ijkl")])
    assert texts(state) == ["abcd", "efgh"] and call_transcript(state)["truncated"]
    assert state["transcript_chars"] == 8
    alone = run([seg(0, 0, "x" * 25)])
    assert texts(alone) == ["x" * 10] and call_transcript(alone)["truncated"]


def test_the_bound_is_a_few_hundred_kilobytes_at_most() -> None:
    # 50,000 characters, even as 6-byte JSON escapes, stay well under Kafka's 1 MB record
    assert TRANSCRIPT_MAX_CHARS * 6 + TRANSCRIPT_MAX_SEGMENTS * 40 < 500_000
    schema = load_schema("voice/enriched_call_event.avsc")
    [field] = [f for f in schema["fields"] if f["name"] == "transcript"]
    doc = field["type"][1]["doc"]
    assert f"{TRANSCRIPT_MAX_SEGMENTS} segments" in doc
    assert f"{TRANSCRIPT_MAX_CHARS} characters" in doc


@pytest.mark.parametrize(
    ("event_type", "payload", "carries"),
    [
        ("call_ended", ENDED, True),
        ("call_summary", {"summary": "s", "sentiment": "NEUTRAL"}, True),
        ("transcript_segment", None, False),
        ("call_started", {"direction": "INBOUND", "from_number": "+1", "to_number": "+2"}, False),
    ],
)
def test_only_call_ended_and_call_summary_carry_the_transcript(
    event_type: str, payload: dict | None, carries: bool
) -> None:
    state = run([seg(1, 1500, "later"), seg(0, 0, "my card is 4111 1111 1111 1111")])
    event = seg(2, 3000, "x") if payload is None else ev(event_type, payload)
    state = apply_event(state, event, 50).state
    enriched = build_enriched(event, state, unmatched(None), processed_at=T0)
    if not carries:
        assert enriched["transcript"] is None
        return
    assert enriched["transcript"] == call_transcript(state)
    assert [s["text"] for s in enriched["transcript"]["segments"]] == [
        "my card is 4111 1111 1111 1111",  # unredacted here: the enriched topic stays inside
        "later",
    ]


def _avro_round_trip(record: dict) -> dict:
    schema = fastavro.parse_schema(load_schema("voice/enriched_call_event.avsc"))
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, schema, to_avro(record))
    buffer.seek(0)
    decoded = fastavro.schemaless_reader(buffer, schema)
    assert isinstance(decoded, dict)
    return decoded


def test_the_transcript_is_a_value_field_that_round_trips_through_avro() -> None:
    state = run([seg(0, 0, "hi", "AGENT"), seg(1, 900, "hello")])
    summary = ev("call_summary", {"summary": "s", "sentiment": "NEUTRAL"})
    state = apply_event(state, summary, 2).state
    enriched = build_enriched(summary, state, unmatched(None), processed_at=T0)
    decoded = _avro_round_trip(enriched)
    assert decoded["transcript"] == {
        "segments": [
            {"speaker": "AGENT", "start_ms": 0, "text": "hi"},
            {"speaker": "CUSTOMER", "start_ms": 900, "text": "hello"},
        ],
        "truncated": False,
    }
    # a record without the key (hand-made, or older code) encodes with the null default
    decoded = _avro_round_trip({k: v for k, v in enriched.items() if k != "transcript"})
    assert decoded["transcript"] is None


def test_the_schema_change_passes_the_registry_compatibility_check() -> None:
    current = load_schema("voice/enriched_call_event.avsc")
    field = next(f for f in current["fields"] if f["name"] == "transcript")
    assert field["type"][0] == "null" and field["default"] is None  # optional, null default
    previous = copy.deepcopy(current)
    previous["fields"] = [f for f in previous["fields"] if f["name"] != "transcript"]
    history = [PreviousVersion(1, avro.schema.parse(json.dumps(previous)))]
    candidate = avro.schema.parse(json.dumps(current))
    # BACKWARD is the registry default; FULL_TRANSITIVE: old readers also read the new records
    assert check_compatibility(candidate, history, CompatibilityLevel.FULL_TRANSITIVE) == []
    # the check is real: the same field without its default is rejected
    del field["default"]
    broken = avro.schema.parse(json.dumps(current))
    assert check_compatibility(broken, history, CompatibilityLevel.BACKWARD) != []
