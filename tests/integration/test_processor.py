"""OrderProcessor against a real broker: valid orders, DLT, retries, poison, the three modes'
max-poll-interval behaviour, rebalance commits. Every test ends with the ledger check."""

from __future__ import annotations

import base64
import json
import struct

import pytest
from conftest import (
    assert_ledger,
    committed_offsets,
    produce,
    produce_orders,
    quick_policy,
    settled,
    wait_assigned,
    wait_until,
)

from labkit.dlt import read_dlt
from labkit.engine.injection import FailureInjector
from labkit.engine.store import OrderStore
from labkit.orders import Order, sample_orders
from labkit.policy.retry import RetryPolicy
from labkit.policy.wait import Fixed

pytestmark = pytest.mark.broker


def test_five_valid_orders_processed_and_committed(short, events, processors):
    store = OrderStore()
    p = processors.new(short, events=events, store=store, policy=quick_policy()).start()
    ids = produce_orders(short, sample_orders(5), events)
    wait_until(settled(events, ids), 30, "5 orders processed")
    p.stop()
    stats = events.stats()
    assert stats["processed"] == 5 and stats["dlt"] == 0 and stats["retries"] == 0
    assert sorted(store.ids()) == sorted(ids)
    assert_ledger(short, events, ids, store)


def test_negative_amount_goes_to_dlt_with_full_context(short, events, processors):
    store = OrderStore()
    p = processors.new(short, events=events, store=store, policy=quick_policy()).start()
    orders = [Order("ORD-1", 100), Order("ORD-INVALID", -50), Order("ORD-3", 300)]
    ids = produce_orders(short, orders, events)
    wait_until(settled(events, ids), 30, "orders settled")
    p.stop()

    entries = read_dlt(short)
    assert len(entries) == 1
    e = entries[0]
    sent = events.of("SentToDLT")[0]
    env = e.envelope
    assert e.key == b"ORD-INVALID"
    assert env.original_topic == short.orders_topic
    assert env.original_partition == sent.partition and env.original_offset == sent.offset
    assert env.original_key == "ORD-INVALID"
    assert json.loads(env.original_value) == {"orderId": "ORD-INVALID", "amount": -50, "status": "PENDING"}
    assert env.original_value_encoding == "utf-8"
    assert env.error_message == "ValidationException: Invalid amount -50"
    assert env.error_type == "ValidationException"
    assert env.retry_count == 0
    assert env.error_timestamp.endswith("Z") and "T" in env.error_timestamp
    assert "ValidationError" in env.stack_trace
    assert env.consumer_group == short.group_id
    # headers, decoded and raw
    h = e.headers
    assert h["kafka_dlt-original-topic"] == short.orders_topic
    assert h["kafka_dlt-original-partition"] == sent.partition
    assert h["kafka_dlt-original-offset"] == sent.offset
    assert h["kafka_dlt-original-timestamp"] > 0
    assert h["kafka_dlt-original-timestamp-type"] == "CreateTime"
    assert h["kafka_dlt-original-consumer-group"] == short.group_id
    assert h["kafka_dlt-exception-fqcn"] == "labkit.errors.ValidationError"
    assert h["kafka_dlt-exception-message"] == "ValidationException: Invalid amount -50"
    assert "ValidationError" in h["kafka_dlt-exception-stacktrace"]
    assert sent.reason == "ValidationException" and sent.dlt_offset == e.offset
    assert_ledger(short, events, ids, store)


def test_dlt_headers_are_byte_exact_on_the_wire(short, events, processors):
    from kafka import TopicPartition

    from labkit.kafka import clients

    p = processors.new(short, events=events, policy=quick_policy()).start()
    ids = produce_orders(short, [Order("ORD-X", 0)], events)
    wait_until(settled(events, ids), 30, "DLT")
    p.stop()
    sent = events.of("SentToDLT")[0]
    reader = clients.reader(short)
    try:
        tp = TopicPartition(short.dlt_topic, sent.dlt_partition)
        reader.assign([tp])
        reader.seek(tp, sent.dlt_offset)
        records = wait_until(lambda: reader.poll(timeout_ms=200).get(tp), 10, "the DLT record")
    finally:
        reader.close(autocommit=False)
    raw = dict(records[0].headers)
    assert raw["kafka_dlt-original-partition"] == struct.pack(">i", sent.partition)
    assert raw["kafka_dlt-original-offset"] == struct.pack(">q", sent.offset)
    assert len(raw["kafka_dlt-original-timestamp"]) == 8
    assert raw["kafka_dlt-original-topic"] == short.orders_topic.encode()
    assert_ledger(short, events, ids)


def test_transient_then_success_is_retried_and_processed(short, events, processors):
    store = OrderStore()
    injector = FailureInjector(fail_first=2)
    p = processors.new(short, events=events, store=store, injector=injector, policy=quick_policy(0.05, 5)).start()
    ids = produce_orders(short, sample_orders(3), events)
    wait_until(settled(events, ids), 30, "orders settled")
    p.stop()
    stats = events.stats()
    assert stats["retries_per_attempt"] == {1: 3, 2: 3}
    assert stats["processed"] == 3 and stats["dlt"] == 0
    assert read_dlt(short) == []
    for r in events.of("Retried"):
        assert r.actual_delay_s >= r.planned_delay_s
    assert_ledger(short, events, ids, store)


@pytest.mark.parametrize("mode", ["pause", "sleep", "topic"])
def test_transient_forever_goes_to_dlt_with_retry_count(short, events, processors, mode):
    store = OrderStore()
    injector = FailureInjector(transient=True)
    policy = quick_policy(0.02, 4)
    p = processors.new(short, events=events, store=store, injector=injector, policy=policy, mode=mode).start()
    ids = produce_orders(short, sample_orders(2), events)
    wait_until(settled(events, ids), 40, "orders in the DLT")
    p.stop()
    entries = read_dlt(short)
    assert len(entries) == 2
    for e in entries:
        assert e.envelope.retry_count == 4
        assert e.envelope.error_type == "MaxRetriesExceededException"
        assert "ServiceUnavailableException" in e.envelope.error_message
        assert e.envelope.original_topic == short.orders_topic  # the original, even via the retry topic
        assert e.headers["kafka_dlt-exception-cause-fqcn"] == "labkit.errors.ServiceUnavailable"
    assert injector.snapshot()["calls"] == 2 * 5  # first delivery + 4 retries, each
    assert events.stats()["retries_per_attempt"] == {1: 2, 2: 2, 3: 2, 4: 2}
    assert_ledger(short, events, ids, store)


def test_poison_bytes_reach_the_dlt_with_raw_bytes(short, events, processors):
    store = OrderStore()
    p = processors.new(short, events=events, store=store, policy=quick_policy()).start()
    poison = {"not-json": b"hello, world", "not-utf8": b"\xff\xfe\x00\x81garbage", "empty": b"",
              "json-list": b"[1,2]"}
    ids = produce(short, list(poison.items()), events) + produce_orders(short, [Order("ORD-OK", 10)], events)
    wait_until(settled(events, ids), 30, "orders settled")
    p.stop()
    entries = {e.key_text: e for e in read_dlt(short)}
    assert set(entries) == set(poison)
    for key, raw in poison.items():
        env = entries[key].envelope
        assert env.raw_value == raw
        assert env.error_type == "MalformedPayloadException"
        assert env.retry_count == 0
    assert entries["not-utf8"].envelope.original_value_encoding == "base64"
    assert base64.b64decode(entries["not-utf8"].envelope.original_value) == poison["not-utf8"]
    assert "ORD-OK" in store
    assert_ledger(short, events, ids, store)


def _long_backoff(s) -> RetryPolicy:
    """Two retries whose total backoff is 1.8 x max_poll_interval_ms (each one shorter than it)."""
    return RetryPolicy(wait=Fixed(0.9 * s.max_poll_interval_ms / 1000), max_attempts=3)


def test_pause_mode_long_backoff_never_leaves_the_group(max_poll_settings, events, processors):
    s = max_poll_settings
    store = OrderStore()
    injector = FailureInjector(fail_first=2, targets={"ORD-SLOW"})
    policy = _long_backoff(s)  # total backoff > max_poll_interval_ms
    p = processors.new(s, events=events, store=store, injector=injector, policy=policy, mode="pause").start()
    wait_assigned(events)
    ids = produce_orders(s, [Order("ORD-SLOW", 100)], events)
    ids += produce_orders(s, sample_orders(5, prefix="ORD-FAST-"), events)
    wait_until(settled(events, ids), 30, "orders settled")
    stats = events.stats()
    assert stats["revoked"] == 0 and stats["lost"] == 0 and stats["commit_failures"] == 0
    # one real assignment (Kafka may first hand out an empty one while topic metadata propagates)
    assert len([e for e in events.of("PartitionsAssigned") if e.partitions]) == 1
    assert [r.attempt for r in events.of("Retried")] == [1, 2]
    for r in events.of("Retried"):
        assert r.actual_delay_s >= r.planned_delay_s >= 0.9 * s.max_poll_interval_ms / 1000
    # other partitions kept flowing while ORD-SLOW waited
    slow_done = next(e.ts for e in events.of("Processed") if e.order_id == "ORD-SLOW")
    fast_done = [e.ts for e in events.of("Processed") if e.order_id.startswith("ORD-FAST-")]
    assert min(fast_done) < slow_done
    p.stop()
    assert stats["duplicates"] == 0
    assert_ledger(s, events, ids, store)


def test_sleep_mode_long_backoff_gets_kicked_but_loses_nothing(max_poll_settings, events, processors):
    s = max_poll_settings
    store = OrderStore()
    injector = FailureInjector(fail_first=2, targets={"ORD-SLOW"})
    policy = _long_backoff(s)
    p = processors.new(s, events=events, store=store, injector=injector, policy=policy, mode="sleep").start()
    wait_assigned(events)
    ids = produce_orders(s, [Order("ORD-SLOW", 100)] + sample_orders(3, prefix="ORD-B-"), events)
    wait_until(settled(events, ids), 40, "orders settled")
    # kicked out: the group rebalanced behind our back, the commit failed or the partitions were lost
    wait_until(lambda: events.stats()["lost"] + events.stats()["commit_failures"] > 0, 20, "the kick")
    # and it comes back: rejoined, redelivered records counted as duplicates, offsets committed
    wait_until(lambda: len([e for e in events.of("PartitionsAssigned") if e.partitions]) >= 2, 20, "the rejoin")
    wait_until(
        lambda: sum(v for (t, _), v in _committed(s).items() if t == s.orders_topic) == len(ids), 20,
        "offsets committed after the rejoin",
    )
    p.stop()
    assert events.stats()["processed"] == len(ids)
    assert_ledger(s, events, ids, store)


def _committed(settings):
    from conftest import committed_offsets

    return committed_offsets(settings)


def test_revoke_during_backoff_commits_done_and_resumes(short, events, processors):
    """A second member joins while a record is in backoff: the first commits what is done
    (non-blocking commit inside the listener), drops the backoff state, and whoever owns the
    partition afterwards retries the record from the committed offset. No duplicates."""
    store = OrderStore()
    injector = FailureInjector(fail_first=1, targets={"ORD-1", "ORD-2"})
    policy = RetryPolicy(wait=Fixed(3.0), max_attempts=3)
    a = processors.new(short, events=events, store=store, injector=injector, policy=policy, consumer_id="A").start()
    wait_assigned(events, consumer="A")
    ids = produce_orders(short, sample_orders(12), events)
    wait_until(lambda: events.of("RetryScheduled") and events.stats()["processed"] >= 1, 20, "a backoff")
    b = processors.new(short, events=events, store=store, injector=injector, policy=policy, consumer_id="B").start()
    wait_until(lambda: any(e.consumer == "B" and e.partitions for e in events.of("PartitionsAssigned")), 30,
               "B assigned")
    wait_until(settled(events, ids), 30, "orders settled")
    revoked = [e for e in events.of("PartitionsRevoked") if e.consumer == "A"]
    assert revoked, "A was not revoked"
    assert events.stats()["duplicates"] == 0, "the revoke commit did not land before the handover"
    a.stop()
    b.stop()
    assert_ledger(short, events, ids, store)


def test_records_kept_behind_a_held_record_survive_a_rebalance(short, events, processors):
    """The pause mode keeps the records fetched behind a record in backoff (no re-fetch when it is
    due). If a rebalance revokes that partition and hands it straight back, kafka-python keeps its
    position, which is past the kept records: the processor must put it back on the held record,
    or every record behind it would be skipped. A gets partition 0 again (range assignor, "A" < "B")."""
    store = OrderStore()
    injector = FailureInjector(fail_first=1, targets={"ORD-P0-1"})
    policy = RetryPolicy(wait=Fixed(4.0), max_attempts=3)
    a = processors.new(short, events=events, store=store, injector=injector, policy=policy, consumer_id="A").start()
    wait_assigned(events, consumer="A")
    ids = produce(short, [(o.order_id, o.to_json()) for o in sample_orders(8, prefix="ORD-P0-")],
                  events, partition=0)
    wait_until(lambda: events.of("RetryScheduled"), 20, "ORD-P0-1 in backoff")
    assert events.stats()["processed"] == 0, "records behind the held one must wait (ordering)"
    b = processors.new(short, events=events, store=store, injector=injector, policy=policy, consumer_id="B").start()
    wait_until(lambda: any(e.consumer == "B" and e.partitions for e in events.of("PartitionsAssigned")), 30,
               "B assigned")
    wait_until(settled(events, ids), 30, "every order of partition 0 settled")
    owner = {e.consumer for e in events.of("Processed") if e.key == "ORD-P0-8"}
    a.stop()
    b.stop()
    assert events.stats()["duplicates"] == 0
    assert_ledger(short, events, ids, store)
    assert owner, "ORD-P0-8 was never processed"


def test_resumed_partitions_never_stall_with_small_polls(short, events, processors):
    """Regression: with max_poll_records=1, kafka-python 3.0.12 parks fetched records of a paused
    partition and may never fetch it again after resume (see ``labkit.engine.retry_topic.resume``)."""
    store = OrderStore()
    injector = FailureInjector(fail_first=2)
    p = processors.new(short, events=events, store=store, injector=injector, policy=quick_policy(0.05, 5),
                       max_poll_records=1).start()
    ids = produce_orders(short, sample_orders(20), events)
    wait_until(settled(events, ids), 30, "every held partition resumed and drained")
    p.stop()
    assert events.stats()["retries_per_attempt"] == {1: 20, 2: 20}
    assert_ledger(short, events, ids, store)


@pytest.mark.parametrize("mode", ["pause", "topic"])
def test_a_mixed_batch_keeps_each_records_story_in_order(short, events, processors, mode):
    """Records processed at their first attempt are recorded a batch at a time (the hot path);
    a record that fails in the middle goes on from its first failure, its handler not called
    again for it. Every record's events still tell its story in order, and the log is in the
    order things happened (first receipts by offset)."""
    store = OrderStore()
    injector = FailureInjector(fail_first=1, targets={"ORD-D"})
    orders = [Order("ORD-A", 10), Order("ORD-B", -5), Order("ORD-C", 30), Order("ORD-D", 40),
              Order("ORD-E", 50), Order("ORD-A", 10)]
    ids = produce(short, [(o.order_id, o.to_json()) for o in orders], events, partition=0)
    p = processors.new(short, events=events, store=store, injector=injector, mode=mode,
                       policy=quick_policy(0.05, 3)).start()
    wait_until(settled(events, ids), 30, "the batch settled")
    p.stop()

    def story(key):
        return [e.kind for e in events.events if getattr(e, "key", None) == key and e.kind != "Produced"]

    assert story("ORD-A") == ["Received", "Processed", "Received", "Processed"]
    assert story("ORD-B") == ["Received", "SentToDLT"]
    assert story("ORD-C") == ["Received", "Processed"]
    retried = (["SentToRetryTopic", "Received", "Retried", "Processed"] if mode == "topic"
               else ["Received", "Retried", "Processed"])
    assert story("ORD-D") == ["Received", "RetryScheduled", *retried]
    assert story("ORD-E") == ["Received", "Processed"]
    assert injector.attempts("ORD-D") == 2 and events.stats()["retries_per_attempt"] == {1: 1}
    firsts = [e for e in events.of("Received") if e.topic == short.orders_topic]
    assert [e.offset for e in firsts] == sorted(e.offset for e in firsts)
    assert [e.ts for e in events.events] == sorted(e.ts for e in events.events)
    assert [e.duplicate for e in events.of("Processed") if e.key == "ORD-A"] == [False, True]
    assert_ledger(short, events, ids, store)


def test_an_unacknowledged_dlt_write_stops_the_loop_and_nothing_past_it_is_committed(short, events, processors):
    """The DLT writes of a poll are awaited together before the commit: one that is never
    acknowledged raises from the loop, and the commit stops before its record (redelivered later)."""
    from kafka.errors import KafkaTimeoutError

    from labkit.dlt import DltPublishError
    from labkit.kafka import clients

    class NeverAcked:
        is_done = False

        def get(self, timeout=None):
            raise KafkaTimeoutError(f"no ack in {timeout} s")

    class DltUnreachable:  # a real producer, except that the DLT never acknowledges
        def __init__(self, producer):
            self.producer = producer

        def send(self, topic, **kwargs):
            return NeverAcked() if topic == short.dlt_topic else self.producer.send(topic, **kwargs)

        def __getattr__(self, name):  # flush, close...
            return getattr(self.producer, name)

    produce(short, [("ORD-1", Order("ORD-1", 10).to_json()), ("POISON", b"not json"),
                    ("ORD-2", Order("ORD-2", 20).to_json())], events, partition=0)  # offsets 0, 1, 2
    real = clients.producer(short)
    p = processors.new(short, events=events, mode="pause", producer=DltUnreachable(real))
    try:
        with pytest.raises(DltPublishError, match="could not write to DLT"):
            p.run(timeout_s=30)
    finally:
        real.close(timeout=5)
    assert events.of("SentToDLT") == []
    assert committed_offsets(short).get((short.orders_topic, 0), 0) <= 1  # never past the poison record
