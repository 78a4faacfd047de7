"""What the KIP-848 worker does with one record, without a broker: a fake confluent-kafka message and a
fake producer stand for the client. Permanent -> DLT at once; transient -> tried again up to the module's
bound, then DLT; the DLT's ack before anything counts as done; attempt counts forgotten on revoke."""

from __future__ import annotations

from collections import namedtuple

import pytest
from confluent_kafka import TIMESTAMP_CREATE_TIME, TIMESTAMP_LOG_APPEND_TIME, TIMESTAMP_NOT_AVAILABLE, TopicPartition
from kafka.errors import KafkaTimeoutError

from labkit.dlt.envelope import DltEnvelope, decode_dlt_headers
from labkit.engine.injection import FailureInjector
from labkit.engine.kip848 import Kip848Worker, source_coords
from labkit.orders import Order
from labkit.policy.retry import retry_config
from labkit.settings import Settings

Metadata = namedtuple("Metadata", "topic partition offset")


class Message:
    """The parts of a ``confluent_kafka.Message`` the worker reads."""

    def __init__(self, order: Order, offset: int = 7, partition: int = 2, topic: str = "orders",
                 timestamp: tuple[int, int] = (TIMESTAMP_CREATE_TIME, 1_700_000_000_000)) -> None:
        self._order, self._offset, self._partition, self._topic, self._ts = order, offset, partition, topic, timestamp

    def topic(self):
        return self._topic

    def partition(self):
        return self._partition

    def offset(self):
        return self._offset

    def key(self):
        return self._order.key

    def value(self):
        return self._order.to_json()

    def timestamp(self):
        return self._ts

    def error(self):
        return None


class Future:
    def __init__(self, md, error=None):
        self.md, self.error = md, error

    def get(self, timeout=None):
        if self.error is not None:
            raise self.error
        return self.md


class Producer:
    """Records what is sent; ``down`` makes every ack fail as a broker that does not answer."""

    def __init__(self):
        self.sent, self.down = [], False

    def send(self, topic, value=None, key=None, headers=None, partition=None):
        self.sent.append((topic, key, value, headers))
        md = Metadata(topic, 0, len(self.sent) - 1)
        return Future(md, KafkaTimeoutError("no ack") if self.down else None)


@pytest.fixture
def worker():
    return Kip848Worker(Settings(), "kip848-1", "g", injector=FailureInjector(), producer=Producer())


def _kinds(worker):
    return [e.kind for e in worker.events.events]


def test_a_permanent_failure_is_dead_lettered_at_once(worker):
    assert worker.handle(Message(Order("ORD-INVALID", -50))) is True
    assert _kinds(worker) == ["Received", "SentToDLT"]
    [dead] = worker.events.of("SentToDLT")
    assert (dead.reason, dead.retry_count, dead.order_id, dead.error_message, dead.dlt_topic) == \
        ("ValidationException", 0, "ORD-INVALID", "ValidationException: Invalid amount -50", "orders.DLT")
    [(topic, key, value, headers)] = worker.producer.sent
    envelope = DltEnvelope.from_json(value)
    assert (topic, key, envelope.original_offset, envelope.retry_count, envelope.consumer_group) == \
        ("orders.DLT", b"ORD-INVALID", 7, 0, "g")
    decoded = decode_dlt_headers(headers)
    assert (decoded["kafka_dlt-original-partition"], decoded["kafka_dlt-original-timestamp"]) == (2, 1_700_000_000_000)


def test_a_transient_failure_is_tried_again_up_to_the_bound_then_dead_lettered(worker):
    worker.injector.set(transient=True, rate=1.0)
    bound = retry_config().max_attempts
    message = Message(Order("ORD-DOWN", 10))
    assert [worker.handle(message) for _ in range(bound)] == [False] * bound
    assert not worker.producer.sent
    assert [e.attempt for e in worker.events.of("RetryScheduled")] == list(range(1, bound + 1))
    assert all(e.max_attempts == bound and e.mode == "kip848" for e in worker.events.of("RetryScheduled"))
    assert worker.handle(message) is True
    [dead] = worker.events.of("SentToDLT")
    assert (dead.reason, dead.retry_count) == ("MaxRetriesExceededException", bound)
    assert [e.attempt for e in worker.events.of("Received")] == list(range(bound + 1))
    assert [e.attempt for e in worker.events.of("Retried")] == list(range(1, bound + 1))
    assert worker.injector.attempts("ORD-DOWN") == bound + 1 and worker.retrying == {}
    assert DltEnvelope.from_json(worker.producer.sent[0][2]).retry_count == bound


def test_a_hiccup_is_processed_at_its_retry(worker):
    worker.injector.set(fail_first=2)
    message = Message(Order("ORD-HICCUP", 10))
    assert [worker.handle(message) for _ in range(3)] == [False, False, True]
    [done] = worker.events.of("Processed")
    assert done.attempt == 2 and not worker.events.of("SentToDLT") and worker.retrying == {}


def test_a_dlt_write_not_acknowledged_leaves_the_record_to_be_tried_again(worker):
    worker.producer.down = True
    message = Message(Order("ORD-INVALID", -50))
    assert worker.handle(message) is False  # nothing done: its offset must not be stored
    assert not worker.events.of("SentToDLT") and worker.dead_lettered == 0
    worker.producer.down = False
    assert worker.handle(message) is True
    assert len(worker.events.of("SentToDLT")) == 1


def test_attempt_counts_are_per_record_and_forgotten_on_revoke(worker):
    worker.injector.set(transient=True, rate=1.0)
    first, other = Message(Order("ORD-A", 10), partition=1), Message(Order("ORD-B", 10), partition=3)
    worker.handle(first), worker.handle(first), worker.handle(other)
    assert {at: s.attempts for at, s in worker.retrying.items()} == {("orders", 1, 7): 2, ("orders", 3, 7): 1}
    worker._on_revoke(None, [TopicPartition("orders", 1)])
    assert list(worker.retrying) == [("orders", 3, 7)]
    worker.handle(first)
    assert worker.events.of("Received")[-1].attempt == 0  # from retry 0 again, as in the order consumer
    worker._on_lost(None, [TopicPartition("orders", 3), TopicPartition("orders", 1)])
    assert worker.retrying == {}


@pytest.mark.parametrize(("kind", "ts", "expected"), [
    (TIMESTAMP_CREATE_TIME, 5, (5, 0)), (TIMESTAMP_LOG_APPEND_TIME, 6, (6, 1)), (TIMESTAMP_NOT_AVAILABLE, 0, (-1, 0))])
def test_the_dlt_source_keeps_the_timestamp_and_its_type_as_kafka_python_says_them(kind, ts, expected):
    source = source_coords(Message(Order("ORD-1", 10), timestamp=(kind, ts)))
    assert (source.timestamp_ms, source.timestamp_type) == expected
    assert (source.topic, source.partition, source.offset, source.key) == ("orders", 2, 7, b"ORD-1")
