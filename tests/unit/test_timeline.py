"""The rebalance timeline from hand-made event sequences (no broker)."""

from __future__ import annotations

import math

import pytest

from labkit.events import (
    ConsumerStarted,
    ConsumerStopped,
    EventLog,
    PartitionsAssigned,
    PartitionsLost,
    PartitionsRevoked,
    Processed,
)
from labkit.observe.timeline import Timeline, assignment_from_events

T = "orders"


def P(*ps):
    return tuple((T, p) for p in ps)


def eager_join_then_crash():
    """c1 owns 0-5; c2 joins (eager: revoke all, 3/3); c2 is SIGKILLed and evicted later."""
    return [
        ConsumerStarted(ts=0.0, consumer="c1"),
        PartitionsAssigned(ts=3.0, consumer="c1", partitions=P(0, 1, 2, 3, 4, 5)),
        ConsumerStarted(ts=10.0, consumer="c2"),
        PartitionsRevoked(ts=12.0, consumer="c1", partitions=P(0, 1, 2, 3, 4, 5)),
        PartitionsAssigned(ts=13.0, consumer="c1", partitions=P(0, 1, 2)),
        PartitionsAssigned(ts=13.5, consumer="c2", partitions=P(3, 4, 5)),
        Processed(ts=14.0, consumer="c2", order_id="ORD-1"),
        ConsumerStopped(ts=20.0, consumer="c2", reason="killed"),
        PartitionsRevoked(ts=27.0, consumer="c1", partitions=P(0, 1, 2)),
        PartitionsAssigned(ts=29.0, consumer="c1", partitions=P(0, 1, 2, 3, 4, 5)),
    ]


def test_assignment_follows_eager_revoke_all_then_assign():
    events = eager_join_then_crash()
    assert assignment_from_events(events[:6]) == {"c1": P(0, 1, 2), "c2": P(3, 4, 5)}
    # in the middle of the eager rebalance nobody owns anything
    assert assignment_from_events(events[:4]) == {"c1": (), "c2": ()}
    # the killed consumer disappears at once; c1 ends with everything
    assert assignment_from_events(events) == {"c1": P(0, 1, 2, 3, 4, 5)}


def test_gaps_per_rebalance_with_trigger_and_moves():
    tl = Timeline(EventLog(eager_join_then_crash()))
    gaps = tl.gaps()
    join = gaps[gaps["trigger"] == "join c2"].set_index("partition")
    # eager: every partition pauses, even those that stay with c1
    assert sorted(join.index) == [0, 1, 2, 3, 4, 5]
    assert join.loc[0, "gap_s"] == pytest.approx(1.0) and not join.loc[0, "moved"]
    assert join.loc[3, "gap_s"] == pytest.approx(1.5) and join.loc[3, "moved"]
    assert join.loc[3, "prev_owner"] == "c1" and join.loc[3, "new_owner"] == "c2"
    crash = gaps[gaps["trigger"] == "crash c2"].set_index("partition")
    # the killed consumer's partitions are unowned from the kill (20 s) to the reassignment (29 s)
    assert crash.loc[4, "unowned_from"] == 20.0 and crash.loc[4, "gap_s"] == pytest.approx(9.0)
    assert crash.loc[0, "gap_s"] == pytest.approx(2.0) and not crash.loc[0, "moved"]
    summary = tl.summary().set_index("trigger")
    assert summary.loc["join c2", "partitions_moved"] == 3
    assert summary.loc["crash c2", "partitions_moved"] == 3
    assert summary.loc["crash c2", "max_gap_s"] == pytest.approx(9.0)
    assert list(summary["rebalance"]) == [1, 2, 3]  # first assignment, join, crash
    assert tl.totals() == {"rebalances": 3, "partitions_moved": 6, "max_gap_s": pytest.approx(9.0)}


def test_intervals_and_markers():
    tl = Timeline(eager_join_then_crash())
    iv = tl.intervals()
    c2 = iv[(iv["consumer"] == "c2") & (iv["partition"] == 4)].iloc[0]
    assert (c2["start"], c2["end"], c2["end_reason"]) == (13.5, 20.0, "crash")
    still = iv[(iv["consumer"] == "c1") & (iv["end_reason"] == "owned")]
    assert sorted(still["partition"]) == [0, 1, 2, 3, 4, 5] and still["end"].isna().all()
    markers = tl.markers()
    assert list(markers["marker"]) == ["join", "join", "crash"]


def test_clean_leave_revoke_logged_before_stop_belongs_to_the_leave():
    events = [
        ConsumerStarted(ts=0.0, consumer="a"), ConsumerStarted(ts=0.1, consumer="b"),
        PartitionsAssigned(ts=3.0, consumer="a", partitions=P(0, 1)),
        PartitionsAssigned(ts=3.0, consumer="b", partitions=P(2, 3)),
        ConsumerStarted(ts=5.0, consumer="c"),  # joins just before b leaves
        PartitionsRevoked(ts=5.20, consumer="b", partitions=P(2, 3)),  # b's close() revokes first
        ConsumerStopped(ts=5.25, consumer="b", reason="stopped"),
        PartitionsRevoked(ts=7.0, consumer="a", partitions=P(0, 1)),
        PartitionsAssigned(ts=8.0, consumer="a", partitions=P(0, 1)),
        PartitionsAssigned(ts=8.5, consumer="c", partitions=P(2, 3)),
    ]
    gaps = Timeline(events).gaps()
    leave = gaps[gaps["trigger"] == "leave b"].set_index("partition")
    assert leave.loc[2, "unowned_from"] == 5.20 and leave.loc[2, "gap_s"] == pytest.approx(3.3)
    assert leave.loc[0, "gap_s"] == pytest.approx(1.0)  # a's pause, also caused by the leave
    assert set(gaps["trigger"]) == {"join b", "leave b"}


def test_cooperative_only_moved_partitions_pause():
    events = [
        ConsumerStarted(ts=0.0, consumer="a"),
        PartitionsAssigned(ts=1.0, consumer="a", partitions=P(0, 1, 2, 3)),
        ConsumerStarted(ts=5.0, consumer="b"),
        PartitionsRevoked(ts=6.0, consumer="a", partitions=P(2, 3)),  # round 1: only what moves
        PartitionsAssigned(ts=7.5, consumer="b", partitions=P(2, 3)),  # round 2
    ]
    tl = Timeline(events)
    join = tl.gaps()[lambda g: g["trigger"] == "join b"]
    assert sorted(join["partition"]) == [2, 3] and join["moved"].all()
    assert tl.assignment() == {"a": P(0, 1), "b": P(2, 3)}


def test_lost_partitions_and_open_gap_at_the_end():
    events = [
        ConsumerStarted(ts=0.0, consumer="a"),
        PartitionsAssigned(ts=1.0, consumer="a", partitions=P(0)),
        PartitionsLost(ts=4.0, consumer="a", partitions=P(0)),
    ]
    tl = Timeline(events)
    gap = tl.gaps().iloc[-1]
    assert gap["trigger"] == "lost a" and math.isnan(gap["gap_s"]) and not gap["moved"]
    assert tl.markers()["marker"].tolist() == ["join", "lost"]


def test_from_a_frame_equals_from_events():
    log = EventLog(eager_join_then_crash())
    a, b = Timeline(log.frame()).gaps(), Timeline(log).gaps()
    assert a[["trigger", "partition", "gap_s"]].equals(b[["trigger", "partition", "gap_s"]])


def test_empty_log():
    tl = Timeline([])
    assert tl.gaps().empty and tl.assignment() == {} and tl.totals()["rebalances"] == 0


def cooperative_join_then_slow_close(close_s: float):
    """Cooperative: c joins, a and b each give up one partition (round 1), c gets them (round 2);
    then the group is closed one by one, each close() revoking ``close_s`` before its stop event."""
    return [
        ConsumerStarted(ts=0.0, consumer="a"), ConsumerStarted(ts=0.0, consumer="b"),
        PartitionsAssigned(ts=1.0, consumer="a", partitions=P(0, 2, 4)),
        PartitionsAssigned(ts=1.0, consumer="b", partitions=P(1, 3, 5)),
        ConsumerStarted(ts=2.0, consumer="c"),
        PartitionsRevoked(ts=3.0, consumer="a", partitions=P(4)),
        PartitionsRevoked(ts=3.0, consumer="b", partitions=P(5)),
        PartitionsAssigned(ts=5.0, consumer="c", partitions=P(4, 5)),
        PartitionsRevoked(ts=6.0, consumer="a", partitions=P(0, 2)),  # a.close(): revoke first...
        ConsumerStopped(ts=6.0 + close_s, consumer="a"),  # ...LeaveGroup, connections, producer: then the event
        PartitionsRevoked(ts=6.1 + close_s, consumer="b", partitions=P(1, 3)),
        ConsumerStopped(ts=6.1 + 2 * close_s, consumer="b"),
        PartitionsRevoked(ts=6.2 + 2 * close_s, consumer="c", partitions=P(4, 5)),
        ConsumerStopped(ts=6.2 + 3 * close_s, consumer="c"),
    ]


@pytest.mark.parametrize("close_s", [0.01, 0.8, 4.0])
def test_a_slow_close_belongs_to_the_leave_not_to_the_previous_rebalance(close_s):
    # a loaded machine can take seconds between close()'s revoke and the stop event; the revoked
    # partitions must not be counted as paused by the join that came before
    summary = Timeline(cooperative_join_then_slow_close(close_s)).summary().set_index("trigger")
    join = summary.loc["join c"]
    assert (join["partitions_moved"], join["partitions_paused"]) == (2, 2)
    assert summary.loc["leave a", "partitions_paused"] == 2 and summary.loc["leave a", "partitions_moved"] == 0
    # round 1's revoke of the cooperative join is not a's *final* revoke: it stays with the join
    assert set(summary.index) == {"join b", "join c", "leave a", "leave b", "leave c"}


def test_a_partition_counts_once_per_rebalance():
    """Crash seen on the embedded broker: the survivor is first given the other half (the dead
    member is still in the group), then everything once the dead member is evicted."""
    events = [
        ConsumerStarted(ts=0.0, consumer="c1"), ConsumerStarted(ts=0.0, consumer="c2"),
        PartitionsAssigned(ts=1.0, consumer="c1", partitions=P(0, 1, 2)),
        PartitionsAssigned(ts=1.0, consumer="c2", partitions=P(3, 4, 5)),
        ConsumerStopped(ts=5.0, consumer="c2", reason="killed"),
        PartitionsRevoked(ts=11.0, consumer="c1", partitions=P(0, 1, 2)),
        PartitionsAssigned(ts=12.0, consumer="c1", partitions=P(3, 4, 5)),  # the dead c2 got 0-2
        PartitionsRevoked(ts=15.0, consumer="c1", partitions=P(3, 4, 5)),
        PartitionsAssigned(ts=16.0, consumer="c1", partitions=P(0, 1, 2, 3, 4, 5)),
    ]
    tl = Timeline(events)
    crash = tl.summary().set_index("trigger").loc["crash c2"]
    assert crash["partitions_moved"] == 3 and crash["partitions_paused"] == 6
    assert crash["max_gap_s"] == pytest.approx(7.0)  # partition 3: from the kill to its first new owner
    assert len(tl.gaps()[lambda g: g["trigger"] == "crash c2"]) == 9  # 3 partitions had two gaps


def test_a_partition_that_comes_back_did_not_move():
    events = [
        ConsumerStarted(ts=0.0, consumer="a"), ConsumerStarted(ts=0.0, consumer="b"),
        PartitionsAssigned(ts=1.0, consumer="a", partitions=P(0)),
        PartitionsAssigned(ts=1.0, consumer="b", partitions=P(1)),
        ConsumerStarted(ts=2.0, consumer="c"),
        PartitionsRevoked(ts=3.0, consumer="a", partitions=P(0)),
        PartitionsAssigned(ts=4.0, consumer="c", partitions=P(0)),  # round 2 of a cooperative join ...
        PartitionsRevoked(ts=5.0, consumer="c", partitions=P(0)),
        PartitionsAssigned(ts=6.0, consumer="a", partitions=P(0)),  # ... overtaken: back to a
    ]
    join = Timeline(events).summary().set_index("trigger").loc["join c"]
    assert (join["partitions_moved"], join["partitions_paused"]) == (0, 1)
