"""``topic`` mode: the retry topic carries the retry state; a record is never processed before its
due time; exhaustion goes to the DLT with the original coordinates and retryCount."""

from __future__ import annotations

import pytest
from conftest import assert_ledger, produce_orders, settled, wait_until

from labkit.dlt import read_dlt
from labkit.engine.injection import FailureInjector
from labkit.engine.retry_topic import RetryHeaders
from labkit.engine.store import OrderStore
from labkit.orders import Order, sample_orders
from labkit.policy.retry import RetryPolicy
from labkit.policy.wait import Exponential

pytestmark = pytest.mark.broker


def test_topic_mode_delays_are_honoured_and_exhaustion_goes_to_dlt(short, events, processors):
    store = OrderStore()
    # ORD-1..3 fail twice then succeed; ORD-DEAD always fails
    injector = FailureInjector(fail_first=2, targets={"ORD-1", "ORD-2", "ORD-3"})
    policy = RetryPolicy(wait=Exponential(0.2, 2.0, 1.0), max_attempts=3)
    p = processors.new(short, events=events, store=store, injector=injector, policy=policy, mode="topic").start()
    ids = produce_orders(short, sample_orders(3), events)
    dead = FailureInjector(transient=True)
    real_call = injector.call

    def call(order):
        if order.order_id == "ORD-DEAD":
            dead.call(order)
        real_call(order)

    injector.call = call
    ids += produce_orders(short, [Order("ORD-DEAD", 10)], events)
    wait_until(settled(events, ids), 40, "orders settled")
    p.stop()

    retried = events.of("Retried")
    assert len(retried) == 3 * 2 + 3
    for r in retried:
        assert r.topic == short.retry_topic
        assert r.actual_delay_s >= r.planned_delay_s, r
    sent = events.of("SentToRetryTopic")
    assert len(sent) == 3 * 2 + 3
    # the source offsets were committed right after the retry-topic ack (non-blocking)
    entries = read_dlt(short)
    assert [e.key_text for e in entries] == ["ORD-DEAD"]
    env = entries[0].envelope
    assert env.retry_count == 3 and env.original_topic == short.orders_topic
    first = next(e for e in events.of("Received") if e.key == "ORD-DEAD" and e.topic == short.orders_topic)
    assert (env.original_partition, env.original_offset) == (first.partition, first.offset)
    assert sorted(store.ids()) == ["ORD-1", "ORD-2", "ORD-3"]
    assert_ledger(short, events, ids, store)


def test_retry_headers_round_trip():
    h = RetryHeaders(attempt=2, due_ms=2_000, scheduled_ms=1_000, first_failure_ms=500, error="E: x",
                     error_fqcn="a.B", original_topic="orders", original_partition=4, original_offset=77,
                     original_timestamp_ms=123)
    assert RetryHeaders.decode(h.encode()) == h
    assert h.planned_delay_ms == 1000
    raw = dict(h.encode())
    assert raw["labkit-retry-attempt"] == b"\x00\x00\x00\x02"
    assert raw["retry_topic-attempts"] == b"\x00\x00\x00\x03"
    assert raw["labkit-retry-due-ms"] == (2000).to_bytes(8, "big")


def test_a_record_too_large_for_the_retry_topic_is_retried_in_place(short, events, processors):
    """An order that just fits a 1 MiB request fails transiently; its retry copy (same value plus
    the retry headers) does not fit. Crashing would stop the partition for good (every restart
    fails on it again): the processor retries it in place, as the pause mode does, and says so."""
    import json

    from conftest import produce

    store = OrderStore()
    injector = FailureInjector(fail_first=1, targets={"ORD-HUGE"})
    policy = RetryPolicy(wait=Exponential(0.2, 2.0, 1.0), max_attempts=3)
    p = processors.new(short, events=events, store=store, injector=injector, policy=policy, mode="topic").start()
    # both consumers (orders and its retry topic's) in the group first: a rebalance while ORD-HUGE waits
    # would deliver it again from retry 0, which is right, but not the in-place retry this test is about
    wait_until(lambda: p.assignment and p.retry_reader is not None and p.retry_reader.assignment, 30, "both assigned")
    head = json.dumps({"orderId": "ORD-HUGE", "amount": 5, "pad": ""}).encode()
    value = head[:-2] + b"x" * (1_048_576 - 400 - len(head)) + head[-2:]  # fits alone, not with retry headers
    ids = produce(short, [("ORD-HUGE", value)], events)
    ids += produce_orders(short, sample_orders(2), events)
    wait_until(settled(events, ids), 40, "orders settled")
    p.stop()
    assert p.error is None
    assert events.stats()["sent_to_retry_topic"] == 0 and events.stats()["retries"] == 1
    assert [e.topic for e in events.of("Retried")] == [short.orders_topic]  # retried in place
    assert "ORD-HUGE" in store
    assert_ledger(short, events, ids, store)


def test_a_hand_over_is_recorded_before_its_retry_even_when_the_main_consumer_is_slow(short, events, processors):
    """The retry topic's consumer can receive a hand-over before the main consumer, still busy
    with the rest of its batch, awaited that write's ack: it settles the hand-over first, so
    SentToRetryTopic always comes before the retry's Received."""
    import time

    from conftest import produce

    injector = FailureInjector(fail_first=1, targets={"ORD-D"})
    real_call = injector.call

    def call(order):
        if order.order_id == "ORD-SLOW":
            time.sleep(1.5)  # the main consumer's batch goes on long after ORD-D's retry is due
        real_call(order)

    injector.call = call
    policy = RetryPolicy(wait=Exponential(0.05, 2.0, 1.0), max_attempts=3)
    orders = [Order("ORD-D", 40), Order("ORD-SLOW", 10)]
    ids = produce(short, [(o.order_id, o.to_json()) for o in orders], events, partition=0)
    p = processors.new(short, events=events, injector=injector, policy=policy, mode="topic").start()
    wait_until(settled(events, ids), 30, "both orders settled")
    p.stop()

    story = [e.kind for e in events.events if getattr(e, "key", None) == "ORD-D" and e.kind != "Produced"]
    assert story == ["Received", "RetryScheduled", "SentToRetryTopic", "Received", "Retried", "Processed"]
    retry = next(e for e in events.of("Received") if e.topic == short.retry_topic)
    slow_done = next(e for e in events.of("Processed") if e.key == "ORD-SLOW")
    assert retry.ts < slow_done.ts  # the retry did not wait for the main consumer's batch
    sent = next(e for e in events.of("SentToRetryTopic") if e.key == "ORD-D")
    assert sent.ts <= retry.ts
