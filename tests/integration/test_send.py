"""send(): orders keyed by orderId and raw (key, value) pairs, acknowledged before it returns."""

from __future__ import annotations

import pytest

from labkit.kafka.producer import send
from labkit.kafka.records import topic_records
from labkit.orders import Order

pytestmark = pytest.mark.broker


def test_send_reports_where_each_record_went_and_they_are_readable_at_once(settings):
    table = send(settings, Order("ORD-1", 100), ("RAW", b"\xff not json"), (None, "no key"))
    assert list(table.columns) == ["key", "topic", "partition", "offset"]
    assert table["key"].tolist()[:2] == ["ORD-1", "RAW"] and table["key"].isna().tolist() == [False, False, True]
    assert set(table["topic"]) == {settings.orders_topic}
    records = {(r.partition, r.offset): r for r in topic_records(settings, settings.orders_topic)}
    for row in table.itertuples():
        assert (row.partition, row.offset) in records
    first = records[(table.loc[0, "partition"], table.loc[0, "offset"])]
    assert first.key == b"ORD-1" and first.value == Order("ORD-1", 100).to_json()
    assert records[(table.loc[1, "partition"], table.loc[1, "offset"])].value == b"\xff not json"
