"""Static membership (KIP-345, ``group_instance_id``): a member restarted within the session
timeout gets its partitions back without a rebalance - the other members see no revoke."""

from __future__ import annotations

import pytest

from labkit.events import EventLog
from labkit.group.supervisor import ConsumerGroup
from labkit.kafka.producer import produce_orders
from tests.conftest import ENGINE

pytestmark = [
    pytest.mark.broker,
    pytest.mark.skipif(ENGINE != "kafka", reason="static membership: the embedded broker (Tansu) does not "
                       "implement it (see docs/tansu-compat.md); runs on the Apache Kafka engine"),
]


def test_restart_within_session_timeout_causes_no_rebalance(settings):
    events = EventLog()
    # a session long enough for a process restart (~2 s), short enough for a test
    with ConsumerGroup(settings, events=events, static=True, session_timeout_ms=15_000,
                       heartbeat_interval_ms=3_000, http=False) as group:
        group.add()  # consumer-1 first: it is the group leader and stays up
        group.wait_for_assignment([6], timeout_s=30)
        group.add()
        before = group.wait_for_assignment([3, 3], timeout_s=30)
        mark = len(events)

        group.stop("consumer-2")  # a static member does not send LeaveGroup on close
        group.add("consumer-2")  # same group_instance_id, well within 15 s
        group.wait_for(lambda a: a.get("consumer-2") == before["consumer-2"], timeout_s=30,
                       what="consumer-2 back with its partitions")
        ids = produce_orders(settings, 30, events, prefix="ORD-S")
        group.wait_processed(ids, timeout_s=30)  # both members consumed: the group is working

        after = events.events[mark:]
        others = [e for e in after if e.consumer == "consumer-1"
                  and e.kind in ("PartitionsRevoked", "PartitionsAssigned", "PartitionsLost")]
        assert others == [], f"consumer-1 was rebalanced: {others}"
        assert group.assignment() == before
        processed_by = {e.consumer for e in after if e.kind == "Processed"}
        assert processed_by == {"consumer-1", "consumer-2"}
