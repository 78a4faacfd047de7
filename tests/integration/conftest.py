"""Shared helpers for the engine's integration tests: produce, wait on conditions, run processors,
and the ledger check every test ends with (produced = processed + DLT, checked on the events *and*
on the broker: committed offsets and the DLT's real content)."""

from __future__ import annotations

import time
from types import SimpleNamespace

import psutil
import pytest

from labkit import broker
from labkit.broker import jvm, quick_session, state
from labkit.dlt import read_dlt
from labkit.engine.injection import FailureInjector
from labkit.engine.processor import OrderProcessor
from labkit.engine.store import OrderStore
from labkit.events import EventLog
from labkit.kafka import clients, producer
from labkit.policy.retry import RetryPolicy
from labkit.policy.wait import Fixed
from labkit.settings import load
from tests.conftest import ENGINE, free_port


def wait_until(condition, timeout_s: float = 20.0, what: str = "condition", interval_s: float = 0.05):
    """Poll ``condition()`` until it is truthy or the deadline passes (then fail with ``what``)."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_s}s waiting for {what}")
        time.sleep(interval_s)


def produce(settings, records, events: EventLog | None = None, topic: str | None = None,
            partition: int | None = None):
    """Send ``(key, value_bytes)`` pairs, each acknowledged (labkit's one producer helper); returns the keys."""
    return [sent.key for sent in producer.produce(settings, records, topic=topic, partition=partition, events=events,
                                              source="test-producer")]


def produce_orders(settings, orders, events=None):
    return [sent.key for sent in producer.produce(settings, orders, events=events, source="test-producer")]


def committed_offsets(settings, group_id: str | None = None) -> dict[tuple[str, int], int]:
    admin = clients.admin(settings)
    try:
        group = group_id or settings.group_id
        offsets = admin.list_group_offsets(group).get(group, {})
    finally:
        admin.close()
    return {(tp.topic, tp.partition): om.offset for tp, om in offsets.items() if om.offset >= 0}


def topic_counts(settings, topic: str) -> int:
    """Records in ``topic`` (sum of high watermarks, read from Fetch responses)."""
    from kafka import TopicPartition

    consumer = clients.reader(settings)
    try:
        parts = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in parts]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        deadline = time.monotonic() + 10
        while any(consumer.highwater(tp) is None for tp in tps):
            consumer.poll(timeout_ms=100)
            if time.monotonic() > deadline:
                raise TimeoutError("no high watermark")
        return sum(consumer.highwater(tp) for tp in tps)
    finally:
        consumer.close(autocommit=False)


def assert_ledger(settings, events: EventLog, produced_ids, store: OrderStore | None = None,
                  group_id: str | None = None, check_commits: bool = True):
    """produced = processed + DLT (nothing in flight, nothing lost), on events, store and broker."""
    ledger = events.ledger(produced_ids)
    assert ledger["lost"] == [], ledger
    assert ledger["in_flight"] == 0, ledger
    assert ledger["produced"] == ledger["processed"] + ledger["dlt"], ledger
    dlt_entries = read_dlt(settings)
    dlt_keys = {e.key_text for e in dlt_entries}
    if store is not None:
        processed_ids = set(store.ids())
        assert set(produced_ids) <= processed_ids | dlt_keys, "an order is neither processed nor in the DLT"
        assert len(set(produced_ids)) == len(processed_ids & set(produced_ids)) + len(dlt_keys - processed_ids)
    if check_commits:
        committed = committed_offsets(settings, group_id)
        on_orders = sum(v for (t, _), v in committed.items() if t == settings.orders_topic)
        assert on_orders == topic_counts(settings, settings.orders_topic), committed
    return ledger


def quick_policy(delay_s: float = 0.05, max_attempts: int = 3) -> RetryPolicy:
    return RetryPolicy(wait=Fixed(delay_s), max_attempts=max_attempts)


# The embedded broker holds every rebalance for ~session/2, so it gets a 2 s session; Apache Kafka
# refuses sessions below group.min.session.timeout.ms (6000 by default) and gets the course's.
SESSION_MS, HEARTBEAT_MS = quick_session(ENGINE)
MAX_POLL_MS = max(3000, SESSION_MS)


@pytest.fixture
def short(settings):
    """Short sessions: rebalances in ~1-2 s on the embedded broker (6 s sessions on Kafka)."""
    return settings.replace(session_timeout_ms=SESSION_MS, heartbeat_interval_ms=HEARTBEAT_MS,
                            max_poll_interval_ms=max(10_000, SESSION_MS))


@pytest.fixture
def max_poll_settings(settings):
    """A small max_poll_interval_ms (3 s embedded, 6 s Kafka) that a long backoff will exceed."""
    return settings.replace(session_timeout_ms=SESSION_MS, heartbeat_interval_ms=HEARTBEAT_MS,
                            max_poll_interval_ms=MAX_POLL_MS)


@pytest.fixture
def events():
    return EventLog()


@pytest.fixture
def processors():
    """Build processors with ``processors.new(...)``; all are stopped at teardown."""

    class Registry(list):
        def new(self, settings, **kwargs) -> OrderProcessor:
            kwargs.setdefault("injector", FailureInjector())
            p = OrderProcessor(settings, **kwargs)
            self.append(p)
            return p

    registry = Registry()
    yield registry
    for p in registry:
        try:
            p.stop(timeout_s=20)
        except Exception:
            pass


def wait_assigned(events: EventLog, timeout_s: float = 20.0, consumer: str | None = None):
    return wait_until(
        lambda: [e for e in events.of("PartitionsAssigned")
                 if e.partitions and (consumer is None or e.consumer == consumer)],
        timeout_s, "partitions assigned",
    )


def settled(events: EventLog, produced_ids):
    def check():
        ledger = events.ledger(produced_ids)
        return ledger["settled"]

    return check


@pytest.fixture
def own_broker(state_dir):
    """A broker of the test engine on its own free port; ``start()`` / ``stop()`` it at will. The
    finalizer stops it, and SIGKILLs any process it started that is still alive (by PID)."""
    settings = load(bootstrap_servers=f"127.0.0.1:{free_port()}", session_timeout_ms=SESSION_MS,
                    heartbeat_interval_ms=HEARTBEAT_MS, max_poll_interval_ms=max(10_000, SESSION_MS)).with_prefix("r-")
    started: list[tuple[int, float]] = []

    def start():
        info = broker.up(ENGINE, settings=settings)
        assert info.started and info.pid, info
        started.append((info.pid, psutil.Process(info.pid).create_time()))
        return info

    def stop():
        return broker.down(settings=settings)

    yield SimpleNamespace(settings=settings, start=start, stop=stop, started=started)
    try:
        if state.load(settings.host_port[1]) is not None:
            broker.down(settings=settings)
    finally:
        for pid, created in started:
            try:
                proc = psutil.Process(pid)
                if abs(proc.create_time() - created) < 1.0:
                    proc.kill()
                    proc.wait(10)
            except psutil.Error:
                pass
        state.forget(settings.host_port[1])
        jvm.reset(settings.host_port[1])
