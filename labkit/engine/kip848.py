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
(``parse_fields``, :class:`~labkit.engine.injection.FailureInjector`, :class:`~labkit.engine.store.OrderStore`).
Retries and the DLT are not what this consumer shows, but it loses nothing: a failed record is logged
(one warning line, counted in ``failures``), its partition is put back to it (a seek) and tried again
after :data:`RETRY_PAUSE_S`; only handled records have their offsets stored, and those are committed
synchronously after every batch, so before any rebalance callback (they run inside the next poll) every
record handled so far is committed and nothing after a failure is. A record that always fails blocks
its partition (logged at each try): the order consumer of Labs 2 and 3 dead-letters it instead.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from labkit.engine.injection import FailureInjector
from labkit.engine.store import OrderStore
from labkit.errors import describe, error_label
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
    partition_tuples,
)
from labkit.kafka.records import as_text
from labkit.kafka.share_groups import confluent_config
from labkit.orders import parse_fields
from labkit.settings import Settings

__all__ = ["Kip848Worker", "kip848_consumer", "RETRY_PAUSE_S"]

log = logging.getLogger("labkit.kip848")

RETRY_PAUSE_S = 1.0  # before a failed record is tried again: a failing service is not hammered


def kip848_consumer(settings: Settings, group_id: str, name: str, **extra: Any) -> Any:
    """A ``confluent_kafka.Consumer`` of ``group_id`` on the KIP-848 protocol, manual commits, from the
    earliest offset when the group has none (as the course's kafka-python consumer). Not subscribed."""
    from confluent_kafka import Consumer

    return Consumer(confluent_config(settings, name, **{
        "group.id": group_id, "group.protocol": "consumer", "enable.auto.commit": False,
        # an offset is stored only for a record handled (store_offsets): a commit never passes a failure
        "enable.auto.offset.store": False, "auto.offset.reset": "earliest"} | extra))


def _partitions(tps: list[Any]) -> tuple[tuple[str, int], ...]:
    return partition_tuples((tp.topic, tp.partition) for tp in tps)


class Kip848Worker:
    """One KIP-848 consumer of ``group_id`` on its own thread (``start`` / ``stop``), emitting events
    into ``events``. ``before_commit()`` runs before each commit (a worker process flushes the events it
    ships there: a committed record is never delivered again, so its ``Processed`` must be safe first)."""

    def __init__(self, settings: Settings, name: str, group_id: str, *,
                 injector: FailureInjector | None = None, events: EventLog | None = None,
                 store: OrderStore | None = None, before_commit: Callable[[], Any] | None = None,
                 poll_timeout_s: float = 0.5, batch: int = 100) -> None:
        self.settings, self.name, self.group_id = settings, name, group_id
        self.injector = injector if injector is not None else FailureInjector()
        self.events = events if events is not None else EventLog()
        self.store = store if store is not None else OrderStore()
        self.before_commit = before_commit
        self.poll_timeout_s, self.batch = poll_timeout_s, batch
        self.processed = self.failures = 0
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # --- the rebalance callbacks (run inside poll / close, on this worker's thread) -------------------
    # With KIP-848 each call carries only the change: the partitions added, or the ones taken away.
    # That is what the events say, as for kafka-python's cooperative-sticky, and what the Timeline reads.

    def _on_assign(self, consumer: Any, tps: list[Any]) -> None:
        if tps:
            self.events.append(PartitionsAssigned(consumer=self.name, partitions=_partitions(tps)))

    def _on_revoke(self, consumer: Any, tps: list[Any]) -> None:
        if tps:
            self.events.append(PartitionsRevoked(consumer=self.name, partitions=_partitions(tps)))

    def _on_lost(self, consumer: Any, tps: list[Any]) -> None:
        if tps:
            self.events.append(PartitionsLost(consumer=self.name, partitions=_partitions(tps)))

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
        except Exception as exc:  # noqa: BLE001 - every failure is logged, none stops the consumer
            return order_id, False, exc

    def handle(self, message: Any) -> bool:
        coordinates = {"consumer": self.name, "topic": message.topic(), "partition": message.partition(),
                       "offset": message.offset(), "key": as_text(message.key())}
        self.events.append(Received(**coordinates))
        order_id, duplicate, error = self.decide(message.value())
        coordinates["order_id"] = order_id or coordinates["key"]
        if error is not None:
            self.failures += 1
            log.warning("%s: %s-%d@%d (%s) failed, tried again in %g s: %s %s", self.name, message.topic(),
                        message.partition(), message.offset(), coordinates["order_id"], RETRY_PAUSE_S,
                        error_label(error), describe(error))
            return False
        self.events.append(Processed(**coordinates, duplicate=duplicate))
        self.processed += 1
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
                                               topics=(self.settings.orders_topic,), mode="kip848"))
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
                        continue  # behind a failure of its partition: it comes again after the seek
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
            self.events.append(ConsumerStopped(consumer=self.name, reason=reason))

    def start(self) -> Kip848Worker:
        self._thread = threading.Thread(target=self.run, name=f"labkit-kip848-{self.name}", daemon=True)
        self._thread.start()
        return self

    def request_stop(self) -> None:
        """Ask the loop to end after its current poll, without waiting (a group stops its members at once)."""
        self._stop.set()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop after the current poll: the batch is committed, the consumer revokes and leaves."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()
