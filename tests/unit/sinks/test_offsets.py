from pipeline.sinks.offsets import OffsetTracker, PartitionOffsets


def test_commit_offset_is_lowest_unfinished() -> None:
    part = PartitionOffsets()
    for offset in range(10, 15):
        assert part.add(offset)
    assert part.commit_offset() == 10
    part.done(12)
    part.done(11)
    assert part.commit_offset() == 10  # 10 still running: nothing past it
    part.done(10)
    assert part.commit_offset() == 13
    part.done(14)
    assert part.commit_offset() == 13
    part.done(13)
    assert part.commit_offset() == 15  # everything finished: next to read
    assert part.in_flight == 0


def test_refetched_offsets_are_rejected() -> None:
    part = PartitionOffsets()
    assert part.add(5)
    assert part.add(6)
    assert not part.add(6)
    assert not part.add(3)
    assert part.in_flight == 2


def test_tracker_reports_only_advanced_offsets_and_forgets_revoked() -> None:
    tracker = OffsetTracker()
    tracker.add("t", 0, 0)
    tracker.add("t", 1, 7)
    assert tracker.to_commit() == {("t", 0): 0, ("t", 1): 7}
    tracker.mark_committed(tracker.to_commit())
    assert tracker.to_commit() == {}
    tracker.done("t", 0, 0)
    assert tracker.to_commit() == {("t", 0): 1}
    assert tracker.in_flight() == 1
    tracker.forget([("t", 1)])
    assert tracker.in_flight() == 0
    assert tracker.position("t", 1) is None
