"""The order consumer as a member of a share group (KIP-932): the broker hands out records one by one,
counts their deliveries, and dead-letters them itself (KIP-1191).

For each record the worker runs the same checks and the same switchable "order service" as the
consumer-group processor, and answers the broker with one acknowledgement:

* **ACCEPT**: processed (the order is stored, once: a redelivered order is a duplicate);
* **RELEASE**: a transient failure - give the record back; the broker redelivers it *at once*, to
  this consumer or another, with its delivery count + 1, until ``share.delivery.count.limit``, then
  writes it to the group's DLQ topic;
* **REJECT**: a permanent failure (invalid amount, malformed JSON) - never deliver it again; the
  broker writes it to the DLQ topic at once.

No offsets to commit, no partitions to own, no backoff: that is what share groups give up (per-key
order and delays between tries) for more consumers than partitions and retries counted by the broker.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from labkit.engine.background import BackgroundWorker
from labkit.engine.injection import FailureInjector
from labkit.engine.store import OrderStore
from labkit.errors import classify, describe, error_label
from labkit.events import EventLog
from labkit.events.kinds import Acknowledged, ConsumerStarted, ConsumerStopped, Processed, Received
from labkit.kafka.records import as_text
from labkit.kafka.share_groups import ShareGroupConfig, share_consumer
from labkit.orders import parse_fields
from labkit.settings import Settings

__all__ = ["ShareWorker", "ACCEPT", "RELEASE", "REJECT"]

log = logging.getLogger("labkit.share")

ACCEPT, RELEASE, REJECT = "ACCEPT", "RELEASE", "REJECT"


class ShareWorker(BackgroundWorker):
    """One share consumer on its own thread (``start`` / ``stop``, :class:`~labkit.engine.background.BackgroundWorker`:
    ``stop`` commits the acknowledgements, then the consumer leaves), emitting events into ``events``.

    ``before_commit()`` is called before each acknowledgement commit (a worker process flushes the
    events it ships there: once acknowledged, a record is never delivered again, so its events must
    already be safe)."""

    THREAD_PREFIX = "labkit-share"

    def __init__(self, settings: Settings, name: str, config: ShareGroupConfig | None = None, *,
                 injector: FailureInjector | None = None, events: EventLog | None = None,
                 store: OrderStore | None = None, before_commit: Callable[[], Any] | None = None,
                 poll_timeout_s: float = 0.5) -> None:
        super().__init__()
        self.settings, self.name = settings, name
        self.config = config or ShareGroupConfig()
        self.injector = injector if injector is not None else FailureInjector()
        self.events = events if events is not None else EventLog()
        self.store = store if store is not None else OrderStore()
        self.before_commit = before_commit
        self.poll_timeout_s = poll_timeout_s
        self.counts = {ACCEPT: 0, RELEASE: 0, REJECT: 0}
        self.error: BaseException | None = None

    # --- one record -------------------------------------------------------------------------------

    def decide(self, value: bytes | None) -> tuple[str, str, BaseException | None]:
        """``(acknowledgement, order id, error)`` for a record's value: the processor's checks, then the service."""
        order_id = None
        try:
            order_id, amount, status = parse_fields(value)
            if order_id in self.store:
                return ACCEPT, order_id, None  # delivered again after a crash: counted, not applied again
            self.injector.call(order_id)
            self.store.add_fields(order_id, amount, status)
            return ACCEPT, order_id, None
        except Exception as exc:  # noqa: BLE001 - every failure is classified, none stops the consumer
            return (RELEASE if classify(exc) == "transient" else REJECT), order_id, exc

    def handle(self, consumer: Any, message: Any) -> str:
        from confluent_kafka import AcknowledgeType

        coordinates = {"consumer": self.name, "topic": message.topic(), "partition": message.partition(),
                       "offset": message.offset(), "key": as_text(message.key())}
        delivery = message.delivery_count()
        self.events.append(Received(**coordinates, attempt=delivery))
        ack, order_id, error = self.decide(message.value())
        coordinates["order_id"] = order_id or coordinates["key"]
        if ack == ACCEPT:
            self.events.append(Processed(**coordinates, attempt=delivery))
        self.events.append(Acknowledged(**coordinates, ack=ack, delivery_count=delivery,
                                 delivery_limit=self.config.delivery_limit,
                                 reason=error_label(error) if error else "",
                                 error_message=describe(error) if error else ""))
        consumer.acknowledge(message, getattr(AcknowledgeType, ack))
        self.counts[ack] += 1
        return ack

    # --- the loop ---------------------------------------------------------------------------------

    def run(self) -> None:
        consumer = share_consumer(self.settings, self.config.group_id, self.name)
        self.events.append(ConsumerStarted(consumer=self.name, group_id=self.config.group_id,
                                    topics=(self.settings.orders_topic,), mode="share"))
        reason = "stopped"
        try:
            while not self._stop.is_set():
                messages = consumer.poll(self.poll_timeout_s)
                handled = 0
                for message in messages:
                    if message.error():
                        log.warning("%s: %s", self.name, message.error())
                        continue
                    self.handle(consumer, message)
                    handled += 1
                if handled:
                    if self.before_commit is not None:
                        self.before_commit()
                    consumer.commit_sync()
        except Exception as exc:  # noqa: BLE001 - reported on the events and on .error
            self.error, reason = exc, f"crashed: {exc!r}"
            log.exception("%s stopped", self.name)
        finally:
            consumer.close()
            self.events.append(ConsumerStopped(consumer=self.name, reason=reason))
