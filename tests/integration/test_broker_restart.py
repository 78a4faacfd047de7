"""A broker restart in the middle of a run.

* ``kafka`` engine (data on disk): stop the broker (``broker.down``), start it again on the same port
  and state dir (``broker.up``): the same data dir is reused, the producer and the processor recover
  by themselves, and no order is lost (runs with ``LABKIT_TEST_ENGINE=kafka``).
* ``embedded`` engine (memory only): the restarted broker is empty. The processor stops with
  :class:`~labkit.broker.BrokerDataLost` saying so, ``broker.status`` notes it, and
  ``broker.ensure()`` says it and puts the course topics back (runs with the default engine).

Each test starts its own broker on a free port (never the session's), stopped by PID at the end.
The :class:`~labkit.broker.watch.BrokerWatch` logic itself is also tested without a broker.
"""

from __future__ import annotations

import psutil
import pytest

from labkit import broker
from labkit.broker import jvm, state
from labkit.broker.watch import BrokerDataLost, BrokerIdentity, BrokerWatch
from labkit.engine.injection import FailureInjector
from labkit.engine.processor import OrderProcessor
from labkit.events import EventLog
from labkit.kafka import clients, topics
from labkit.kafka.offsets import committed_offsets, log_end_offsets
from labkit.kafka.probe import probe
from labkit.orders import Order
from tests.integration.conftest import ENGINE, quick_policy, wait_assigned, wait_until
from tests.integration.order_feed import OrderFeed

needs_kafka = pytest.mark.skipif(
    ENGINE != "kafka", reason="needs the kafka engine (Apache Kafka keeps its data on disk across a restart): "
                              "run with LABKIT_TEST_ENGINE=kafka")
needs_embedded = pytest.mark.skipif(
    ENGINE != "embedded", reason="tests the embedded broker's memory-only restart (LABKIT_TEST_ENGINE=embedded)")


def _all_committed(settings) -> bool:
    ends = log_end_offsets(settings, settings.orders_topic)
    committed = committed_offsets(settings, topics=settings.orders_topic)
    return all((committed.get(tp) or 0) >= end for tp, end in ends.items())


@needs_kafka
@pytest.mark.broker
def test_kafka_broker_restart_mid_run_loses_nothing(own_broker):
    st = own_broker.settings
    own_broker.start()
    topics.create(st)
    events = EventLog()
    processor = OrderProcessor(st, events=events, mode="pause", policy=quick_policy(0.05, max_attempts=5),
                               injector=FailureInjector(transient=True, rate=0.1, seed=3))
    producer = OrderFeed(st, events, prefix="ORD-R", interval_s=0.02)
    try:
        processor.start()
        wait_assigned(events, 60)
        producer.start()
        wait_until(lambda: len(producer.ids) >= 40 and events.stats()["processed"] >= 20, 60, "orders flowing")

        own_broker.stop()
        assert probe(*st.host_port).state == "closed"
        acked_before = len(producer.ids)
        wait_until(lambda: producer.failures >= 1, 30, "the producer noticing the broker is gone")

        info = own_broker.start()  # same port, same state dir: the same data dir is reused
        assert (jvm.home(st.host_port[1]) / "data" / "meta.properties").exists()
        assert topics.partition_counts(st) == st.topics  # not re-created: the same topics
        assert sum(log_end_offsets(st, st.orders_topic).values()) >= acked_before  # records kept
        wait_until(lambda: len(producer.ids) >= acked_before + 40, 90, "orders acknowledged after the restart")
        producer.stop_event.set()
        producer.join(30)
        assert producer.error is None, producer.error

        ids = producer.ids
        ledger = wait_until(lambda: (lambda led: led if led["settled"] else None)(events.ledger(ids)), 120,
                            "every order processed or in the DLT after the restart")
        assert ledger["lost"] == [] and ledger["produced"] == ledger["processed"] + ledger["dlt"], ledger
        assert processor.error is None and processor.running, processor.error
        wait_until(lambda: _all_committed(st), 30, "every offset committed")
        dlt = {e.record_id for e in events.of("SentToDLT")}
        assert dlt == {i for i in ids if int(i.removeprefix("ORD-R")) % 10 == 0}, dlt
        assert events.stats()["retries"] > 0  # transient failures were retried across the restart
        assert info.pid != own_broker.started[0][0]
    finally:
        producer.stop_event.set()
        processor.stop(timeout_s=30)


@needs_embedded
@pytest.mark.broker
def test_embedded_broker_restart_is_reported_clearly(own_broker):
    st = own_broker.settings
    first = broker.ensure(st, engine="embedded")
    assert first.started and not first.restarted
    own_broker.started.append((first.pid, psutil.Process(first.pid).create_time()))
    events = EventLog()
    processor = OrderProcessor(st, events=events, policy=quick_policy())
    try:
        processor.start()
        wait_assigned(events, 30)
        ids = [o.order_id for o in [Order(f"ORD-E{i}", i) for i in range(1, 11)]]
        producer = clients.producer(st)
        for oid in ids:
            producer.send(st.orders_topic, key=oid.encode(), value=Order(oid, 5).to_json()).get(10)
        producer.close(timeout=5)
        wait_until(lambda: events.stats()["processed"] == 10, 30, "10 orders processed")

        own_broker.stop()
        own_broker.start()  # a new, empty process on the same port
        wait_until(lambda: processor.error is not None, 20, "the processor noticing the restart")
        message = str(processor.error)
        assert isinstance(processor.error, BrokerDataLost), repr(processor.error)
        for words in ("embedded broker", "restarted", "lost its data", "in memory", "broker.ensure()",
                      "labkit topics create"):
            assert words in message, message
        wait_until(lambda: not processor.running, 20, "the processor to stop")
        stopped = events.of("ConsumerStopped")[-1]
        assert "BrokerDataLost" in stopped.reason and "restarted" in stopped.reason, stopped

        status = broker.status(st)
        assert "in memory" in status["data"] and "restarted" in status["note"], status
        again = broker.ensure(st)  # replaces anything a client re-created with 4 partitions
        assert again.restarted and "lost its data" in again.note and "created the course topics again" in again.note
        assert topics.partition_counts(st) == st.topics
        assert not broker.ensure(st).restarted  # said once

        # and after ensure() a fresh processor works again on the new broker
        events2 = EventLog()
        fresh = OrderProcessor(st, events=events2, policy=quick_policy())
        fresh.start()
        try:
            producer = clients.producer(st)
            producer.send(st.orders_topic, key=b"ORD-AFTER", value=Order("ORD-AFTER", 1).to_json()).get(10)
            producer.close(timeout=5)
            wait_until(lambda: events2.stats()["processed"] == 1, 30, "an order processed after ensure()")
        finally:
            fresh.stop(timeout_s=20)
    finally:
        if processor.running:
            processor.stop(timeout_s=20)


# --- the watch itself, no broker ----------------------------------------------------------------


class FakeCluster:
    def __init__(self, parts):
        self.parts = parts

    def partitions_for_topic(self, topic):
        return self.parts.get(topic)


class Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        self.t += 1.0  # every check is due
        return self.t


def test_watch_reports_a_topic_that_changed_its_partition_count(tmp_path, monkeypatch):
    monkeypatch.setenv("LABKIT_STATE_DIR", str(tmp_path))
    cluster = FakeCluster({"orders": {0, 1, 2, 3, 4, 5}})
    watch = BrokerWatch(("127.0.0.1", 1), ["orders"], clock=Clock()).start()
    watch.check(cluster)
    watch.check(cluster)
    cluster.parts["orders"] = {0, 1, 2, 3}
    with pytest.raises(BrokerDataLost, match=r"'orders' now has 4 partitions instead of 6.*broker.ensure\(\)"):
        watch.check(cluster)


def test_watch_accepts_a_topic_re_created_with_the_course_s_count(tmp_path, monkeypatch):
    """``labkit topics create --recreate`` puts 6 partitions back: the repair, not a lost broker."""
    monkeypatch.setenv("LABKIT_STATE_DIR", str(tmp_path))
    cluster = FakeCluster({"orders": {0, 1, 2, 3}})
    watch = BrokerWatch(("127.0.0.1", 1), ["orders"], clock=Clock(), expected={"orders": 6}).start()
    watch.check(cluster)
    cluster.parts["orders"] = {0, 1, 2, 3, 4, 5}
    watch.check(cluster)
    assert watch.shape["orders"] == 6
    cluster.parts["orders"] = {0, 1, 2, 3}  # and a loss after it is still reported
    with pytest.raises(BrokerDataLost, match="now has 4 partitions instead of 6"):
        watch.check(cluster)


def test_watch_reports_a_vanished_topic_only_when_it_stays_gone(tmp_path, monkeypatch):
    monkeypatch.setenv("LABKIT_STATE_DIR", str(tmp_path))
    cluster = FakeCluster({"orders": {0, 1}})
    watch = BrokerWatch(("127.0.0.1", 1), ["orders"], clock=Clock(), vanish_checks=3).start()
    watch.check(cluster)
    del cluster.parts["orders"]
    watch.check(cluster)
    cluster.parts["orders"] = {0, 1}  # a metadata hiccup: back again, no alarm
    watch.check(cluster)
    del cluster.parts["orders"]
    watch.check(cluster)
    watch.check(cluster)
    with pytest.raises(BrokerDataLost, match="'orders' vanished.*lost its data"):
        watch.check(cluster)


def test_watch_tells_an_embedded_restart_from_a_kafka_restart(tmp_path, monkeypatch):
    monkeypatch.setenv("LABKIT_STATE_DIR", str(tmp_path))

    def record(engine, pid, started):
        state.save(state.BrokerRecord(engine, "127.0.0.1", 5, pid, started, "log"))

    record("kafka", 100, 1000.0)
    watch = BrokerWatch(("127.0.0.1", 5), [], clock=Clock()).start()
    assert watch.identity == BrokerIdentity("kafka", 100, 1000.0)
    state.forget(5)
    watch.check()  # stopped: nothing to compare, no alarm
    record("kafka", 200, 2000.0)
    watch.check()  # Kafka keeps its data on disk: carry on
    assert watch.identity.pid == 200

    record("embedded", 300, 3000.0)
    watch = BrokerWatch(("127.0.0.1", 5), [], clock=Clock()).start()
    watch.check()
    record("embedded", 301, 3005.0)
    with pytest.raises(BrokerDataLost, match=r"embedded broker at 127.0.0.1:5 restarted \(pid 300 -> 301\)"):
        watch.check()
