"""A group every member left, joined again: the next consumer gets every partition and resumes
from the committed offsets. On Apache Kafka that is a plain join; the embedded broker leaves
such a group stuck (every SyncGroup answers "rebalance in progress") and the processor notices,
resets the group with its offsets kept and joins again (:mod:`labkit.broker.stuck_group`)."""

from __future__ import annotations

from collections import Counter

import pytest
from conftest import committed_offsets, produce_orders, settled, wait_until

from labkit.broker.stuck_group import reset_stuck_group
from labkit.orders import Order, sample_orders

pytestmark = pytest.mark.broker


def test_a_consumer_joining_after_two_members_left_resumes_from_the_commits(short, events, processors):
    first = produce_orders(short, sample_orders(6), events)
    a = processors.new(short, events=events, consumer_id="member-a").start()
    wait_until(settled(events, first), 30, "the first orders settled")
    b = processors.new(short, events=events, consumer_id="member-b").start()
    wait_until(lambda: b.assignment and len(a.assignment) < 6, 30, "the second member to take partitions")
    b.stop()
    a.stop()

    later = produce_orders(short, [Order(f"ORD-LATER-{i}", 10 + i) for i in range(6)], events)
    c = processors.new(short, events=events, consumer_id="member-c").start()
    wait_until(settled(events, later), 60, "the later orders settled by the newcomer")
    assert len(c.assignment) == 6
    processed = Counter(e.order_id for e in events.of("Processed"))
    assert all(processed[i] == 1 for i in first + later), processed  # nothing read twice, nothing skipped
    assert {e.order_id for e in events.of("Processed") if e.consumer == "member-c"} == set(later)


def test_resetting_an_empty_group_keeps_its_committed_offsets(short, events, processors):
    ids = produce_orders(short, sample_orders(8), events)
    p = processors.new(short, events=events).start()
    wait_until(settled(events, ids), 30, "the orders settled")
    p.stop()
    before = committed_offsets(short)
    assert sum(before.values()) == 8

    assert reset_stuck_group(short, short.group_id) == len(before)
    assert committed_offsets(short) == before
