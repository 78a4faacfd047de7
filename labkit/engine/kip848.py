"""One consumer of the KIP-848 consumer group protocol (``group.protocol=consumer``, GA since Kafka 4.0),
with confluent-kafka: kafka-python 3.0.12 does not speak it.

What changes for the course: the **broker** computes the assignment (no leader consumer, no
``partition.assignment.strategy``) and hands it out member by member on their heartbeats. A rebalance is
incremental: a member gives up only the partitions that move (``on_revoke`` lists those), keeps polling
the others, and a newcomer gets each moved partition once its previous owner has released it
(``on_assign`` lists only the added ones). No stop-the-world, no JoinGroup barrier.

The session and heartbeat are the group's (the broker's ``group.consumer.session.timeout.ms`` /
``heartbeat.interval.ms``, in ``labkit/broker/server.properties``): this consumer sets none of
``session.timeout.ms``, ``heartbeat.interval.ms`` or ``partition.assignment.strategy`` - librdkafka
refuses them with ``group.protocol=consumer``.

Each record gets the same checks and switchable order service as the other consumers of the course
(``parse_fields``, :class:`~labkit.engine.injection.FailureInjector`, :class:`~labkit.engine.store.OrderStore`),
and a failure ends as in the order consumer of Labs 2 and 3 (:mod:`labkit.engine.processor`), with the same
events:

* a **permanent** failure (:func:`~labkit.errors.classify`: an invalid order, a malformed payload) goes to
  the DLT at once, ``retryCount`` 0;
* a **transient** one (the order service down) is tried again: its partition is put back to it (a seek)
  and the record comes again after :data:`RETRY_PAUSE_S` (``RetryScheduled``, then ``Retried``), the rest
  of that partition waiting behind it, until the retry policy stops: the module's ``RetryConfig``
  (:func:`~labkit.policy.retry.retry_config`, the ``OrderProcessor``'s default: 5 retries, so 6 calls). Of
  that policy only the bound is used here: the wait between tries stays :data:`RETRY_PAUSE_S`, because
  this consumer's loop waits for it. Then it goes to the DLT as ``MaxRetriesExceededException``,
  ``retryCount`` = the retries made.

The DLT record is the processor's (:func:`~labkit.dlt.publish.publish_to_dlt`: the same envelope and
Spring-compatible headers, a value too large for the DLT truncated), and the write is awaited: a record
counts as done (``SentToDLT``, its offset stored) only once the DLT acknowledged it. A DLT write that
fails leaves the record where it is: logged, tried again after the pause. Only done records have their
offsets stored, and those are committed synchronously after every batch, so before any rebalance
callback (they run inside the next poll) every record done so far is committed and nothing after a
record still failing is. Attempt counts are kept per (topic, partition, offset) and forgotten when the
partition is revoked or lost: its next owner starts from the committed offset, at retry 0.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from labkit.dlt.envelope import SourceCoords
from labkit.dlt.publish import DltPublishError, publish_to_dlt
from labkit.engine.background import BackgroundWorker
from labkit.engine.injection import FailureInjector
from labkit.engine.modes import RetryState
from labkit.engine.store import OrderStore
from labkit.errors import MaxRetriesExceeded, classify, describe, error_label
from labkit.events import EventLog
from labkit.events.kinds import (
    CommitFailed,
    Committed,
    ConsumerStarted,
    ConsumerStopped,
    PartitionsAssigned,
    PartitionsLost,
    PartitionsRevoked,
    Processed,
    Received,
    Retried,
    RetryScheduled,
    SentToDLT,
    partition_tuples,
)
from labkit.kafka import clients
from labkit.kafka.records import as_text
from labkit.kafka.share_groups import confluent_config
from labkit.orders import parse_fields
from labkit.policy.retry import RetryPolicy, retry_config
from labkit.settings import Settings

__all__ = ["Kip848Worker", "kip848_consumer", "source_coords", "RETRY_PAUSE_S", "MODE"]

log = logging.getLogger("labkit.kip848")

RETRY_PAUSE_S = 1.0  # before a failed record is tried again: a failing service is not hammered
MODE = "kip848"  # the ``mode`` of this consumer's ConsumerStarted and RetryScheduled events

Coordinates = tuple[str, int, int]  # (topic, partition, offset): what an attempt count belongs to


def kip848_consumer(settings: Settings, group_id: str, name: str, **extra: Any) -> Any:
    """A ``confluent_kafka.Consumer`` of ``group_id`` on the KIP-848 protocol, manual commits, from the
    earliest offset when the group has none (as the course's kafka-python consumer). Not subscribed."""
    from confluent_kafka import Consumer

    return Consumer(confluent_config(settings, name, **{
        "group.id": group_id, "group.protocol": "consumer", "enable.auto.commit": False,
        # an offset is stored only for a record done (store_offsets): a commit never passes a failure
        "enable.auto.offset.store": False, "auto.offset.reset": "earliest"} | extra))


def source_coords(message: Any) -> SourceCoords:
    """A confluent-kafka ``Message`` as the source of its DLT record: what
    :meth:`SourceCoords.of <labkit.dlt.envelope.SourceCoords.of>` reads off a kafka-python record. Its
    timestamp type is confluent's (0 none, 1 create, 2 log append); the DLT header wants kafka-python's
    (0 CreateTime, 1 LogAppendTime)."""
    from confluent_kafka import TIMESTAMP_LOG_APPEND_TIME, TIMESTAMP_NOT_AVAILABLE

    kind, ts = message.timestamp()
    return SourceCoords(topic=message.topic(), partition=int(message.partition()), offset=int(message.offset()),
                        key=message.key(), value=message.value(),
                        timestamp_ms=-1 if kind == TIMESTAMP_NOT_AVAILABLE else int(ts),
                        timestamp_type=1 if kind == TIMESTAMP_LOG_APPEND_TIME else 0)


def _partitions(tps: list[Any]) -> tuple[tuple[str, int], ...]:
    return partition_tuples((tp.topic, tp.partition) for tp in tps)


class Kip848Worker(BackgroundWorker):
    """One KIP-848 consumer of ``group_id`` on its own thread (``start`` / ``stop``,
    :class:`~labkit.engine.background.BackgroundWorker`: ``stop`` commits the batch, then the consumer
    revokes and leaves), emitting events into ``events``. ``before_commit()`` runs before each commit (a
    worker process flushes the events it ships there: a committed record is never delivered again, so
    its ``Processed`` or ``SentToDLT`` must be safe first). ``policy``: when a transient failure stops
    being retried (default: the module's ``RetryConfig``, as the ``OrderProcessor``; only its bound is
    used). ``producer``: the kafka-python producer of the DLT writes (default: one of its own, made at the
    first DLT write, closed at the end)."""

    THREAD_PREFIX = "labkit-kip848"

    def __init__(self, settings: Settings, name: str, group_id: str, *,
                 injector: FailureInjector | None = None, events: EventLog | None = None,
                 store: OrderStore | None = None, before_commit: Callable[[], Any] | None = None,
                 poll_timeout_s: float = 0.5, batch: int = 100, policy: RetryPolicy | None = None,
                 producer: Any = None, ack_timeout_s: float = 10.0) -> None:
        super().__init__()
        self.settings, self.name, self.group_id = settings, name, group_id
        self.injector = injector if injector is not None else FailureInjector()
        self.events = events if events is not None else EventLog()
        self.store = store if store is not None else OrderStore()
        self.before_commit = before_commit
        self.poll_timeout_s, self.batch = poll_timeout_s, batch
        self.policy = policy if policy is not None else retry_config()
        self.ack_timeout_s = ack_timeout_s
        self._producer = clients.ProducerSlot(settings, producer)  # the DLT writes
        self.processed = self.failures = self.dead_lettered = 0
        self.error: BaseException | None = None
        # the records being retried, by coordinates (only this worker's thread touches it: the
        # rebalance callbacks run inside its poll)
        self.retrying: dict[Coordinates, RetryState] = {}

    @property
    def producer(self) -> Any:
        return self._producer.get()

    # --- the rebalance callbacks (run inside poll / close, on this worker's thread) -------------------
    # With KIP-848 each call carries only the change: the partitions added, or the ones taken away.
    # That is what the events say, as for kafka-python's cooperative-sticky, and what the Timeline reads.

    def _on_assign(self, consumer: Any, tps: list[Any]) -> None:
        if tps:
            self.events.append(PartitionsAssigned(consumer=self.name, partitions=_partitions(tps)))

    def _on_revoke(self, consumer: Any, tps: list[Any]) -> None:
        self.forget(tps)
        if tps:
            self.events.append(PartitionsRevoked(consumer=self.name, partitions=_partitions(tps)))

    def _on_lost(self, consumer: Any, tps: list[Any]) -> None:
        self.forget(tps)
        if tps:
            self.events.append(PartitionsLost(consumer=self.name, partitions=_partitions(tps)))

    def forget(self, tps: list[Any]) -> None:
        """Drop the attempt counts of partitions given up: their records come back to their next owner
        (maybe this worker again) from the committed offset, at retry 0, as in the order consumer."""
        gone = {(tp.topic, tp.partition) for tp in tps}
        for at in [at for at in self.retrying if at[:2] in gone]:
            del self.retrying[at]

    # --- one record ----------------------------------------------------------------------------------

    def decide(self, value: bytes | None) -> tuple[str | None, bool, BaseException | None]:
        """``(order id, duplicate, error)`` for a record's value: the processor's checks, then the service."""
        order_id = None
        try:
            order_id, amount, status = parse_fields(value)
            if order_id in self.store:
                return order_id, True, None  # delivered again (a crash, a move): counted, not applied again
            self.injector.call(order_id)
            self.store.add_fields(order_id, amount, status)
            return order_id, False, None
        except Exception as exc:  # noqa: BLE001 - every failure is classified, none stops the consumer
            return order_id, False, exc

    def handle(self, message: Any) -> bool:
        """True once the record is done: processed, or its DLT copy acknowledged (its offset may be
        stored). False: it is to be tried again (the caller seeks its partition back to it)."""
        at = (message.topic(), message.partition(), message.offset())
        state = self.retrying.get(at)
        attempt = 0 if state is None else state.attempts
        coordinates = {"consumer": self.name, "topic": at[0], "partition": at[1], "offset": at[2],
                       "key": as_text(message.key())}
        self.events.append(Received(**coordinates, attempt=attempt))
        if state is not None:
            self.events.append(Retried(**coordinates, attempt=attempt, planned_delay_s=state.planned_s,
                                       actual_delay_s=time.monotonic() - state.failed_at))
        order_id, duplicate, error = self.decide(message.value())
        coordinates["order_id"] = order_id or coordinates["key"]
        if error is None:
            self.retrying.pop(at, None)
            self.events.append(Processed(**coordinates, attempt=attempt, duplicate=duplicate))
            self.processed += 1
            return True
        self.failures += 1
        now = time.time()
        first_failure = now if state is None else state.first_failure_wall
        if self.policy.should_retry(error, attempt + 1, now - first_failure):
            self.retrying[at] = RetryState(attempts=attempt + 1, first_failure_wall=first_failure,
                                           failed_at=time.monotonic(), planned_s=RETRY_PAUSE_S,
                                           previous_s=RETRY_PAUSE_S, error=describe(error))
            self.events.append(RetryScheduled(**coordinates, attempt=attempt + 1, max_attempts=self.policy.max_attempts,
                                              planned_delay_s=RETRY_PAUSE_S, mode=MODE, error=describe(error)))
            log.warning("%s: %s-%d@%d (%s) failed, retry %d/%s in %g s: %s", self.name, *at,
                        coordinates["order_id"], attempt + 1, self.policy.max_attempts, RETRY_PAUSE_S, describe(error))
            return False
        # the processor's rule: a transient error the policy gave up on is reported as MaxRetriesExceeded
        # (its cause kept), any other error as itself
        gave_up = classify(error) == "transient" and isinstance(error, self.policy.retry_on)
        return self._dead_letter(message, MaxRetriesExceeded(attempt, error) if gave_up else error, attempt,
                                 coordinates)

    def _dead_letter(self, message: Any, error: BaseException, retry_count: int, coordinates: dict[str, Any]) -> bool:
        """Write the record's DLT copy and wait for the ack: True once acknowledged (``SentToDLT``)."""
        at = (message.topic(), message.partition(), message.offset())
        source, dlt_topic = source_coords(message), self.settings.dlt_topic
        written = {"group_id": self.group_id, "retry_count": retry_count, "timeout_s": self.ack_timeout_s,
                   "now": time.time()}
        try:
            # a value too large for the DLT is written truncated: failing would stop its partition for good
            dlt, md = publish_to_dlt(self.producer, dlt_topic, source, error, **written)
        except DltPublishError as exc:
            state = self.retrying.get(at)
            if state is not None:
                state.failed_at = time.monotonic()
            log.error("%s: %s-%d@%d (%s) not acknowledged by the DLT, not committed, tried again in %g s: %s",
                      self.name, *at, coordinates["order_id"], RETRY_PAUSE_S, exc)
            return False
        self.retrying.pop(at, None)
        self.dead_lettered += 1
        self.events.append(SentToDLT(**coordinates, reason=error_label(error), error_message=dlt.envelope.error_message,
                                     retry_count=retry_count, dlt_topic=md.topic, dlt_partition=md.partition,
                                     dlt_offset=md.offset))
        log.warning("%s: %s-%d@%d (%s) sent to DLT %s-%d@%d after %d retries: %s", self.name, *at,
                    coordinates["order_id"], md.topic, md.partition, md.offset, retry_count, dlt.envelope.error_message)
        return True

    def _commit(self, consumer: Any) -> None:
        from confluent_kafka import KafkaError, KafkaException

        if self.before_commit is not None:
            self.before_commit()
        try:
            done = consumer.commit(asynchronous=False) or []
            self.events.append(Committed(consumer=self.name, offsets=tuple(
                (tp.topic, tp.partition, tp.offset) for tp in done if tp.offset >= 0)))
        except KafkaException as exc:
            if exc.args[0].code() == KafkaError._NO_OFFSET:
                return  # every record of the batch failed before a position moved: nothing to commit
            # a commit racing a rebalance (stale member epoch, partitions just revoked): the records
            # come back to their next owner from the last committed offset - at least once
            self.events.append(CommitFailed(consumer=self.name, error=exc.args[0].str()))
            log.warning("%s: commit failed: %s", self.name, exc.args[0].str())

    # --- the loop ------------------------------------------------------------------------------------

    def run(self) -> None:
        from confluent_kafka import KafkaException, TopicPartition

        reason = "stopped"
        consumer = None
        try:
            consumer = kip848_consumer(self.settings, self.group_id, self.name)
            self.events.append(ConsumerStarted(consumer=self.name, group_id=self.group_id,
                                               topics=(self.settings.orders_topic,), mode=MODE))
            consumer.subscribe([self.settings.orders_topic], on_assign=self._on_assign,
                               on_revoke=self._on_revoke, on_lost=self._on_lost)
            while not self._stop.is_set():
                handled, failed = 0, set()
                for message in consumer.consume(self.batch, self.poll_timeout_s):
                    if message.error():
                        log.warning("%s: %s", self.name, message.error())
                        continue
                    at = (message.topic(), message.partition())
                    if at in failed:
                        continue  # behind a record to try again: it comes again after the seek
                    if self.handle(message):
                        consumer.store_offsets(message=message)
                        handled += 1
                    else:
                        failed.add(at)
                        try:
                            consumer.seek(TopicPartition(message.topic(), message.partition(), message.offset()))
                        except KafkaException as exc:  # revoked meanwhile: its next owner starts at the commit
                            log.warning("%s: could not seek back to %s-%d@%d: %s", self.name, *at,
                                        message.offset(), exc)
                if handled:
                    self._commit(consumer)
                if failed:
                    self._stop.wait(RETRY_PAUSE_S)
        except Exception as exc:  # noqa: BLE001 - reported on the events and on .error
            self.error, reason = exc, f"crashed: {exc!r}"
            log.exception("%s stopped", self.name)
        finally:
            if consumer is not None:
                try:
                    consumer.close()  # revokes what it owns (on_revoke), then leaves the group
                except Exception:  # noqa: BLE001 - closing a consumer whose broker is gone
                    log.exception("%s: close failed", self.name)
            self.retrying.clear()
            try:
                self._producer.close()
            except Exception:  # noqa: BLE001 - every DLT write it made was acknowledged already
                log.exception("%s: closing the DLT producer failed", self.name)
            self.events.append(ConsumerStopped(consumer=self.name, reason=reason))
