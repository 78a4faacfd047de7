"""Records kafka-python cannot decode, on a real broker: a header key that is not UTF-8 (both brokers
store it), produced by a raw client in between valid orders.

* the processor keeps going, the valid orders around it (in its batch and behind it) are processed,
  the bad record is in the DLT with reason ``CorruptRecord``, its coordinates and its bytes, the ledger
  counts it dead-lettered and the partition's committed offset reaches its end (lag 0);
* without the lenient decode (:mod:`labkit.kafka.corrupt`), when ``poll()`` itself raises, the record is
  dead-lettered with its coordinates only, skipped past after the DLT ack, and the rest flows;
* the API's consumer does the same without a restart, and strings no order can carry (a lone
  surrogate, a control character in the id) are a 422 that leaves the producer and ``/health`` alone.
"""

from __future__ import annotations

import httpx
import pytest
from kafka.record.default_records import DefaultRecordBatch

from labkit.api.server import ApiServer
from labkit.dlt.read import read_dlt
from labkit.engine.store import OrderStore
from labkit.events import EventLog
from labkit.kafka import clients
from labkit.kafka.offsets import committed_offsets, log_end_offsets
from labkit.orders import Order
from tests.integration.conftest import assert_ledger, produce_orders, quick_policy, settled, wait_assigned, wait_until
from tests.raw_records import BAD_KEY, RawHeaderKey

pytestmark = pytest.mark.broker


def value(order_id: str, amount: int = 10) -> bytes:
    return Order(order_id, amount).to_json()


def send_on_partition_0(settings, records, *, one_batch: bool):
    """``(key, headers)`` records to partition 0 of ``orders``, in one batch (linger) or one batch each;
    returns their offsets."""
    producer = clients.producer(settings, linger_ms=200 if one_batch else 0)
    try:
        futures = []
        for key, headers in records:
            future = producer.send(settings.orders_topic, key=key.encode(), value=value(key), headers=headers,
                                   partition=0)
            if not one_batch:
                future.get(timeout=10)
            futures.append(future)
        return [f.get(timeout=10).offset for f in futures]
    finally:
        producer.close(timeout=5)


def lag_zero(settings) -> bool:
    ends = log_end_offsets(settings, settings.orders_topic)
    committed = committed_offsets(settings, topics=settings.orders_topic)
    return all((committed.get(tp) or 0) >= end for tp, end in ends.items())


BAD_HEADERS = [("traceparent", b"00-abc"), (RawHeaderKey(BAD_KEY), b"v")]


def test_a_bad_header_key_goes_to_the_dlt_and_its_partition_keeps_flowing(short, processors):
    events, store = EventLog(), OrderStore()
    p = processors.new(short, events=events, store=store, policy=quick_policy(), mode="pause").start()
    wait_assigned(events, 60)
    before = produce_orders(short, [Order(f"ORD-B{i}", 10) for i in range(6)], events)
    offsets = send_on_partition_0(short, [("ORD-A", []), ("ORD-BAD", BAD_HEADERS), ("ORD-C", [("ok", b"1")])],
                                  one_batch=True)
    offsets += send_on_partition_0(short, [("ORD-D", [])], one_batch=False)
    after = produce_orders(short, [Order(f"ORD-E{i}", 10) for i in range(6)], events)
    ids = before + ["ORD-A", "ORD-BAD", "ORD-C", "ORD-D"] + after

    wait_until(settled(events, ids), 60, "every order processed or dead-lettered")
    assert p.error is None and p.running, p.error
    assert len(events.of("ConsumerStarted")) == 1  # never restarted
    ledger = assert_ledger(short, events, ids, store=store, check_commits=False)
    assert ledger["dlt"] == 1 and ledger["processed"] == len(ids) - 1
    assert "ORD-BAD" not in store and {"ORD-A", "ORD-C", "ORD-D"} <= set(store.ids())

    sent = events.of("SentToDLT")
    assert [(e.partition, e.offset, e.reason, e.order_id) for e in sent] == [(0, offsets[1], "CorruptRecord",
                                                                              "ORD-BAD")]
    [entry] = read_dlt(short)
    envelope = entry.envelope
    assert (envelope.original_topic, envelope.original_partition, envelope.original_offset) == \
        (short.orders_topic, 0, offsets[1])
    assert envelope.error_type == "CorruptRecord" and not envelope.original_record_unreadable
    assert entry.key == b"ORD-BAD" and envelope.raw_value == value("ORD-BAD")  # the bytes, kept
    assert "header key #1" in envelope.error_message and "not UTF-8" in envelope.error_message
    wait_until(lambda: lag_zero(short), 30, "the partitions' committed offsets at their end (lag 0)")
    assert_ledger(short, events, ids)


def test_when_poll_itself_raises_the_record_is_dead_lettered_by_its_coordinates(short, processors, monkeypatch):
    from labkit.kafka import corrupt

    # kafka-python as shipped: its fetcher raises CorruptRecordError out of poll()
    monkeypatch.setattr(DefaultRecordBatch, "_read_msg", corrupt.original_read_msg())
    monkeypatch.setattr(corrupt, "install", lambda: None)
    assert not corrupt.installed()
    events = EventLog()
    p = processors.new(short, events=events, policy=quick_policy(), mode="pause").start()
    wait_assigned(events, 60)
    offsets = send_on_partition_0(short, [("ORD-A", []), ("ORD-BAD", BAD_HEADERS), ("ORD-C", [])], one_batch=False)
    others = produce_orders(short, [Order(f"ORD-O{i}", 10) for i in range(6)], events)
    ids = ["ORD-A", "ORD-C"] + others

    wait_until(settled(events, ids), 60, "the readable orders processed")
    wait_until(lambda: events.of("SentToDLT"), 30, "the unreadable record dead-lettered")
    assert p.error is None and p.running, p.error
    [sent] = events.of("SentToDLT")
    assert (sent.partition, sent.offset, sent.reason) == (0, offsets[1], "CorruptRecord")
    [entry] = read_dlt(short)
    envelope = entry.envelope
    assert (envelope.original_partition, envelope.original_offset) == (0, offsets[1])
    assert envelope.original_record_unreadable and envelope.original_value is None and entry.key is None
    assert "CorruptRecordError" in envelope.error_message and "UnicodeDecodeError" in envelope.error_message
    assert not corrupt.installed()  # really the unpatched path
    wait_until(lambda: lag_zero(short), 30, "the partitions' committed offsets at their end (lag 0)")
    p.stop()
    monkeypatch.undo()  # the ledger's own reader reads the topic from its start, the bad record too
    assert_ledger(short, events, ids)


def test_the_api_survives_a_corrupt_record_and_strings_no_order_can_carry(short):
    with ApiServer(short, port=0, policy=quick_policy(), mode="pause") as api, \
            httpx.Client(base_url=api.url, timeout=15) as client:
        service = api.service
        wait_until(lambda: service.processor.assignment, 60, "the API's consumer owning partitions")
        [bad_offset] = send_on_partition_0(short, [("ORD-BAD", BAD_HEADERS)], one_batch=False)
        assert client.post("/api/v1/orders", json={"orderId": "ORD-1", "amount": 5}).status_code == 202
        wait_until(lambda: [e for e in service.events.of("SentToDLT") if e.offset == bad_offset and e.partition == 0],
                   30, "the corrupt record dead-lettered by the API's consumer")
        wait_until(lambda: service.events.status("ORD-1") == "processed", 30, "ORD-1 processed")
        producer = service._get_producer()

        for body, field in ((rb'{"orderId":"\ud800","amount":1}', "orderId"),
                            (rb'{"orderId":"ORD-2","amount":1,"status":"\udfff"}', "status"),
                            (rb'{"orderId":"ORD-3\n","amount":1}', "orderId"),
                            (rb'{"orderId":"\u001b[31mORD-4","amount":1}', "orderId")):
            r = client.post("/api/v1/orders", content=body, headers={"Content-Type": "application/json"})
            assert r.status_code == 422, r.text
            answer = r.json()
            assert answer["error"] == "invalid_order" and answer["message"].startswith(f"{field} "), answer
        assert "control character" in answer["message"]

        r = client.post("/api/v1/orders", json={"orderId": "ORD-5", "amount": 7})
        assert r.status_code == 202, r.text
        health = client.get("/health")
        assert health.status_code == 200 and health.json()["status"] == "UP", health.text
        assert service._get_producer() is producer  # never dropped
        assert service.consumer_error is None and len(service.events.of("ConsumerStarted")) == 1
        wait_until(lambda: service.events.status("ORD-5") == "processed", 30, "ORD-5 processed")
        wait_until(lambda: lag_zero(short), 30, "lag 0")
    assert sum(log_end_offsets(short, short.orders_topic).values()) == 3  # the 422s wrote nothing
