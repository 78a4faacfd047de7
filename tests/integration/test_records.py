"""Reading a topic back (notebooks 03-05): only what came after a snapshot, one record by its
coordinates, "committed past", and the DLT record of a source record."""

from __future__ import annotations

import pytest
from conftest import quick_policy, wait_until

from labkit.dlt import dlt_entry_of
from labkit.engine.processor import OrderProcessor
from labkit.events import EventLog
from labkit.kafka.offsets import log_end_offsets
from labkit.kafka.producer import send
from labkit.kafka.records import committed_past, coordinates, record_at, topic_frame
from labkit.orders import Order

pytestmark = pytest.mark.broker

POISON = b"\xff\xfe not JSON"


def test_topic_frame_since_a_snapshot_and_record_at(settings):
    send(settings, Order("ORD-OLD", 1))
    before = log_end_offsets(settings, settings.orders_topic)
    sent = send(settings, Order("ORD-1", 100), ("ORD-POISON", POISON), Order("ORD-1", 100))
    frame = topic_frame(settings, settings.orders_topic, since=before)
    assert sorted(frame["key"]) == ["ORD-1", "ORD-1", "ORD-POISON"]
    assert list(frame.columns) == ["partition", "offset", "timestamp", "key", "value", "headers"]
    assert set(frame.loc[frame["key"] == "ORD-1", "value"]) == {Order("ORD-1", 100).to_json().decode()}
    assert frame.loc[frame["key"] == "ORD-POISON", "value"].item() == repr(POISON)
    assert len(topic_frame(settings, since=before, keys=["ORD-POISON"])) == 1
    assert "ORD-OLD" in set(topic_frame(settings)["key"])  # no snapshot: from the beginning
    by_partition = {tp.partition: n for tp, n in before.items()}  # {partition: offset} works too
    assert len(topic_frame(settings, since=by_partition)) == 3
    row = sent.iloc[1]
    record = record_at(settings, row["topic"], int(row["partition"]), int(row["offset"]))
    assert record.key == b"ORD-POISON" and record.value == POISON
    assert record_at(settings, settings.orders_topic, int(row["partition"]), 10_000) is None


def test_committed_past_and_the_dlt_entry_of_a_record(settings):
    events = EventLog()
    sent = send(settings, Order("ORD-OK", 10), ("ORD-POISON", POISON))
    assert coordinates(sent, "x") == [(settings.orders_topic, int(r.partition), int(r.offset))
                                      for r in sent.itertuples()]
    assert not committed_past(settings, sent)  # nobody consumed them yet (False, even on a fresh broker)
    processor = OrderProcessor(settings, events=events, policy=quick_policy()).start()
    try:
        wait_until(lambda: committed_past(settings, sent), 30, "offsets committed past both records")
    finally:
        processor.stop()
    assert not committed_past(settings, sent, group_id=f"{settings.group_id}-nobody")
    poison = sent.iloc[1]
    entry = dlt_entry_of(settings, (int(poison["partition"]), int(poison["offset"])))
    assert entry is not None and entry.envelope.raw_value == POISON
    assert entry.error_type == "MalformedPayloadException"
    assert dlt_entry_of(settings, next(sent.itertuples())) is None  # the valid order is not in the DLT
    assert not committed_past(settings, [])
