"""DLQ record parsing, filters, time parsing and the replay rules that need no broker."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from pipeline import headers as h
from pipeline.dlq.records import DlqFilter, DlqRecord, parse_time, target_of
from pipeline.dlq.replay import _AlreadyReplayed, replay_headers
from pipeline.dlq.tasks import ReplayTask

NOW = datetime(2026, 11, 24, 21, 0, tzinfo=UTC)


def _record(
    offset: int = 0,
    *,
    key: str = "call-1",
    cls: str | None = "permanent",
    last: str | None = "2026-11-01T12:00:00.000Z",
    extra=(),
    partition: int = 0,
):
    headers = [("traceparent", b"00-x"), *extra]
    if cls is not None:
        headers.append((h.ERROR_CLASS, cls.encode()))
    if last is not None:
        headers.append((h.LAST_FAILURE_AT, last.encode()))
    headers += [(h.ATTEMPTS, b"3"), (h.FIRST_FAILURE_AT, b"2026-11-01T11:00:00.000Z")]
    return DlqRecord(
        topic="sync.crm.dlq",
        partition=partition,
        offset=offset,
        key=key,
        key_bytes=key.encode(),
        value=b"v",
        headers=tuple(headers),
        header_values={n: v.decode() for n, v in headers},
        broker_time=datetime(2026, 11, 2, tzinfo=UTC),
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-01T12:00:00Z", datetime(2026, 11, 1, 12, tzinfo=UTC)),
        ("2026-11-01T12:00:00", datetime(2026, 11, 1, 12, tzinfo=UTC)),
        ("2026-11-01T13:00:00+01:00", datetime(2026, 11, 1, 12, tzinfo=UTC)),
        ("1793534400000", datetime(2026, 11, 1, 12, tzinfo=UTC)),  # epoch ms
        ("2h", NOW - timedelta(hours=2)),
        ("15m", NOW - timedelta(minutes=15)),
        ("7d", NOW - timedelta(days=7)),
    ],
)
def test_parse_time(text, expected):
    assert parse_time(text, now=NOW) == expected


def test_parse_time_rejects_with_the_accepted_forms():
    with pytest.raises(ValueError, match="ISO 8601.*15m, 2h, 7d"):
        parse_time("last tuesday")


def test_target_of_dlq_topics_only():
    assert target_of("sync.salesforce.dlq") == "salesforce"
    assert target_of("sync.salesforce") is None
    assert target_of("sync.salesforce.retry") is None
    assert target_of("voice.call-events.dlq") is None


def test_record_fields_and_fallbacks():
    record = _record()
    assert record.error_class == "permanent" and record.attempts == 3
    assert record.failed_at == datetime(2026, 11, 1, 12, tzinfo=UTC)
    bare = _record(cls=None, last=None)
    assert bare.error_class == "unknown"
    assert bare.failed_at == datetime(2026, 11, 2, tzinfo=UTC)  # broker timestamp


def test_filter():
    record = _record()
    assert DlqFilter().matches(record)
    assert DlqFilter(error_class="permanent", key="call-1").matches(record)
    assert not DlqFilter(error_class="data").matches(record)
    assert not DlqFilter(key="call-2").matches(record)
    t = datetime(2026, 11, 1, 12, tzinfo=UTC)
    assert DlqFilter(since=t).matches(record)  # since is inclusive
    assert not DlqFilter(until=t).matches(record)  # until is exclusive
    assert DlqFilter.from_json(DlqFilter(since=t, key="k").to_json()) == DlqFilter(since=t, key="k")


def test_replay_headers_strip_errors_and_carry_history():
    record = _record(
        extra=[
            (h.RETRY_ROUND, b"4"),
            (h.PREVIOUS_ATTEMPTS, b"5"),
            (h.PREVIOUS_FIRST_FAILURE_AT, b"2026-10-01T00:00:00.000Z"),
            (h.REPLAY_ID, b"r-old"),
        ]
    )
    out = dict(replay_headers(record, "r-new"))
    assert out["traceparent"] == b"00-x"
    assert not set(out) & {*h.ALL_VB_ERROR_HEADERS, h.RETRY_ROUND}
    assert out[h.REPLAY_ID] == b"r-new"
    assert out[h.PREVIOUS_ATTEMPTS] == b"8"  # 5 before + 3 in the last round
    assert out[h.PREVIOUS_FIRST_FAILURE_AT] == b"2026-10-01T00:00:00.000Z"
    first_time = dict(replay_headers(_record(), "r-1"))
    assert first_time[h.PREVIOUS_ATTEMPTS] == b"3"
    assert first_time[h.PREVIOUS_FIRST_FAILURE_AT] == b"2026-11-01T11:00:00.000Z"


def _task(
    task_id: str,
    *,
    start: int,
    done: int,
    destination: str = "sync.crm",
    flt: DlqFilter | None = None,
) -> ReplayTask:
    return ReplayTask(
        id=task_id,
        target="crm",
        dlq_topic="sync.crm.dlq",
        destination=destination,
        filter=(flt or DlqFilter()).to_json(),
        start_offsets={0: start},
        end_offsets={0: 10},
        done_offsets={0: done},
    )


def test_already_replayed_by_range_filter_and_destination():
    new = _task("new", start=0, done=0)
    earlier = {
        "a": _task("a", start=2, done=5),
        "b": _task("b", start=0, done=10, destination="staging"),
        "c": _task("c", start=0, done=10, flt=DlqFilter(error_class="data")),
        "new": new,
    }
    already = _AlreadyReplayed(new, earlier)
    assert [o for o in range(8) if already(_record(o))] == [2, 3, 4]
    assert already(_record(7, cls="data"))  # task c replayed data errors
    assert new.remaining == 10
    assert earlier["a"].remaining == 5
