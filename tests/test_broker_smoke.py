"""A first end-to-end proof: the session broker answers, topics exist, a record goes round trip."""

import pytest

from labkit.kafka import clients, topics

pytestmark = pytest.mark.broker


def test_course_topics_have_the_module_partition_counts(settings):
    assert topics.partition_counts(settings) == {
        settings.orders_topic: 6,
        settings.dlt_topic: 3,
        settings.retry_topic: 3,
    }


def test_produce_and_consume_one_record(settings):
    producer = clients.producer(settings)
    meta = producer.send(settings.orders_topic, key=b"ORD-1", value=b'{"orderId":"ORD-1"}').get(timeout=10)
    producer.close()
    reader = clients.reader(settings)
    from kafka import TopicPartition

    tp = TopicPartition(settings.orders_topic, meta.partition)
    reader.assign([tp])
    reader.seek(tp, meta.offset)
    records = reader.poll(timeout_ms=5000, max_records=1).get(tp, [])
    reader.close()
    assert [(r.key, r.value) for r in records] == [(b"ORD-1", b'{"orderId":"ORD-1"}')]
