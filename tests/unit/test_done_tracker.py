"""The done watermark: only a contiguous run of finished offsets is ever committable."""

from kafka import TopicPartition

from labkit.engine.done import DoneTracker

TP = TopicPartition("orders", 0)


def test_watermark_stops_before_the_lowest_outstanding_offset():
    tracker = DoneTracker()
    assert tracker.watermark(TP) is None  # nothing seen: nothing to commit
    for offset in (0, 1, 2):
        tracker.received(TP, offset)
    tracker.done(TP, 1)
    tracker.done(TP, 2)
    assert tracker.watermark(TP) == 0  # offset 0 is still being handled
    tracker.done(TP, 0)
    assert tracker.watermark(TP) == 3


def test_gaps_in_offsets_are_skipped():
    tracker = DoneTracker()
    tracker.received(TP, 7)  # 3..6 were transaction markers or compacted away
    tracker.done(TP, 7)
    assert tracker.watermark(TP) == 8


def test_pending_lists_only_partitions_that_moved_since_the_last_commit():
    other = TopicPartition("orders", 1)
    tracker = DoneTracker()
    tracker.received(TP, 0)
    tracker.done(TP, 0)
    tracker.received(other, 4)  # outstanding: its watermark is 4
    assert {tp: om.offset for tp, om in tracker.pending().items()} == {TP: 1, other: 4}
    tracker.mark_committed(tracker.pending())
    assert tracker.pending() == {}
    tracker.done(other, 4)
    assert {tp: om.offset for tp, om in tracker.pending().items()} == {other: 5}
    assert tracker.pending([TP]) == {}


def test_drop_forgets_revoked_partitions():
    tracker = DoneTracker()
    tracker.received(TP, 0)
    tracker.drop([TP])
    assert tracker.watermark(TP) is None
    assert tracker.pending() == {}


def test_done_all_is_done_for_each_offset():
    """The hot path marks a whole batch done at once; a record put back by an open breaker (still
    outstanding) and processed in that batch is cleared too."""
    tracker = DoneTracker()
    tracker.received(TP, 5)  # the breaker opened on it: outstanding, delivered again later
    assert tracker.watermark(TP) == 5
    tracker.done_all(TP, [5, 6, 7])
    assert tracker.watermark(TP) == 8
    tracker.done_all(TP, [])
    assert tracker.watermark(TP) == 8
    tracker.received(TP, 8)
    tracker.done_all(TP, [9, 10])  # 8 still outstanding (held for its backoff)
    assert tracker.watermark(TP) == 8
